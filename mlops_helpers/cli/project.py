"""`mlops init`, `mlops config check|show` and `mlops versions`: the project itself, not a pipeline stage."""

from __future__ import annotations

from pathlib import Path

import click

from mlops_helpers.cli.options import command_options, overrides_option, project_context
from mlops_helpers.console import Reporter, table


@click.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--dataset", default="breast_cancer", show_default=True,
              help="Bundled scikit-learn data set: breast_cancer, wine, iris, digits (classification) or diabetes (regression).")
@click.option("--name", default=None, help="Project name (default: the folder's name).")
@click.option("--dvc-remote", default=None, metavar="PATH|URL",
              help="Default DVC remote (default: ~/.cache/mlops/dvc-storage/<project>).")
@command_options
def init(directory: str, dataset: str, name: str | None, dvc_remote: str | None, config_path: str, reporter: Reporter) -> None:
    """Scaffold a working project (data, mlops.yaml, git + DVC, Jenkinsfile) in an empty folder."""
    from mlops_helpers.scaffold import init_project

    with reporter.stage(f"Creating project from scikit-learn's {dataset} data set"):
        result = init_project(Path(directory), dataset, name, dvc_remote)
    reporter.result(
        {"ok": True, **result.to_dict()},
        f"Created {result.root}\n  data version {result.data_md5[:8]} pushed to {result.dvc_remote}\n"
        f"  commit {result.commit[:8]}\nNext: cd {directory} && mlops run",
    )


@click.group("config")
def config_group() -> None:
    """Check or show mlops.yaml."""


@config_group.command("check")
@overrides_option
@command_options
def config_check(overrides: tuple[str, ...], config_path: str, reporter: Reporter) -> None:
    """Validate mlops.yaml fully (schema, estimator, params, metrics); exit 2 with field-named errors."""
    from mlops_helpers.pipeline import stage_check_config

    ctx = project_context(config_path, reporter, overrides)
    task = stage_check_config(ctx)
    reporter.result({"ok": True, "task": task}, f"{config_path}: valid ({task})")


@config_group.command("show")
@overrides_option
@command_options
def config_show(overrides: tuple[str, ...], config_path: str, reporter: Reporter) -> None:
    """Print the effective config with every default filled in."""
    import yaml

    ctx = project_context(config_path, reporter, overrides)
    effective = ctx.config.model_dump(by_alias=True)
    reporter.result(effective, yaml.safe_dump(effective, sort_keys=False))


@click.command()
@command_options
def versions(config_path: str, reporter: Reporter) -> None:
    """Versions of mlops, Python, the ML libraries and the tools a run uses."""
    from mlops_helpers.toolversions import collect_versions

    found = collect_versions()
    reporter.result({"ok": True, **found}, table(["component", "version"], [[k, v] for k, v in found.items()]))
