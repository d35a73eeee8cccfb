"""Options and helpers shared by the command modules.

A leaf: it imports no command module, so each command module imports on its own. What a
command needs beyond click and the console (config, registry, rollout) loads inside the
helpers, so that `mlops --help` stays fast.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from mlops_helpers.cli.text import check_report, failure_line
from mlops_helpers.console import Reporter
from mlops_helpers.errors import CheckFailed, MlopsError

if TYPE_CHECKING:
    from mlops_helpers.pipeline import RunContext
    from mlops_helpers.registry import ModelRegistry

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def command_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--config and --output on every command, and one place that maps errors to exit codes.

    The exit code is the exception's `exit_code` (see exit_codes.py): a subclass may carry its own.
    """

    @click.option(
        "--config", "-c", "config_path", default="mlops.yaml", show_default=True, envvar="MLOPS_CONFIG",
        type=click.Path(dir_okay=False), help="Project config file (env MLOPS_CONFIG).",
    )
    @click.option(
        "--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True,
        envvar="MLOPS_OUTPUT", help="Result format on stdout; progress always goes to stderr.",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, output: str, **kwargs: Any) -> Any:
        reporter = Reporter(output)
        try:
            return func(*args, reporter=reporter, **kwargs)
        except CheckFailed as exc:
            report = check_report(exc.result)
            reporter.result({"ok": False, "error": str(exc), **exc.result}, report)
            # Under a text report only its headline: each violation or gate is printed once.
            click.echo(f"FAILED: {failure_line(str(exc), exc.result) if report and output == 'text' else exc}", err=True)
            sys.exit(exc.exit_code)
        except MlopsError as exc:
            if output == "json":
                reporter.result({"ok": False, "error": str(exc)}, "")
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)

    return wrapper


def overrides_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
        help="Override a config value for this run, e.g. --set training.params.max_depth=5 (repeatable).",
    )(func)


def out_dir_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--out-dir", default=None, metavar="DIR",
        help="Where artefacts and reports go (default: mlops-out/ beside mlops.yaml).",
    )(func)


def env_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--env and --set of the rollout commands: the command gets the opened environment as `env`."""

    @click.option("--env", "environment", default=None, metavar="NAME",
                  help="Environment (default: deploy.environment, usually production).")
    @overrides_option
    @functools.wraps(func)
    def wrapper(*args: Any, environment: str | None, overrides: tuple[str, ...], config_path: str, **kwargs: Any) -> Any:
        from mlops_helpers.config import load_config
        from mlops_helpers.rollout.operations import housekeeping, open_environment

        env = open_environment(load_config(config_path, overrides), environment)
        housekeeping(env)
        return func(*args, env=env, **kwargs)

    return wrapper


def timeout_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
                        help="Stop driving after this long and exit 4; the rollout stays as it is.")(func)


class StrategyChoice(click.Choice[str]):
    """The rollout strategies of rollout/spec.py, read when click first needs them (help, parsing):
    spec imports pydantic, which `import mlops_helpers.cli` must not load."""

    def __init__(self) -> None:
        self.case_sensitive = True  # not Choice.__init__: it would need the choices now

    @functools.cached_property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        from mlops_helpers.rollout.spec import STRATEGIES

        return STRATEGIES


def project_context(config_path: str, reporter: Reporter, overrides: tuple[str, ...] = (),
                    out_dir: str | None = None) -> RunContext:
    """The validated config with its output folders, as every pipeline stage takes it."""
    from mlops_helpers.config import load_config
    from mlops_helpers.pipeline import make_context

    return make_context(load_config(config_path, overrides), reporter, out_dir)


def project_registry(config_path: str, reporter: Reporter) -> tuple[ModelRegistry, str]:
    """The project's model registry and its model's name (the default of a reference)."""
    from mlops_helpers.registry import open_registry

    ctx = project_context(config_path, reporter)
    return open_registry(ctx.config.registry_path()), ctx.config.model_name


def split_ref(reference: str | None, default_model: str) -> tuple[str, str]:
    """`name@ref`, `@ref` or `name`; ref is a version number, 'latest' or a stage."""
    if not reference:
        return default_model, "latest"
    name, _, ref = reference.partition("@")
    return name or default_model, ref or "latest"
