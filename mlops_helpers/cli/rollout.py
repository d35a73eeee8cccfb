"""`mlops deploy`, `mlops rollout status|promote|abort|resume|undo|history` and `mlops undeploy`.

Exit codes of deploy, promote and resume (Jenkins branches on them):
0 promoted · 1 aborted, rolled back or failed · 2 usage or config error · 3 paused, awaiting
`promote` · 4 the --timeout passed (the rollout is left as it is: resume or abort it).
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from typing import Any

import click

from mlops_helpers.cli import command_options, overrides_option
from mlops_helpers.console import Reporter, table

STRATEGY_NAMES = ("recreate", "ramped", "bluegreen", "canary", "abtest")


def env_options(func: Callable[..., Any]) -> Callable[..., Any]:
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


@click.command("deploy")
@click.option("--version", "version_ref", default=None, metavar="N|ALIAS",
              help="Registered version to roll out: a number or an alias like staging (default: latest).")
@click.option("--strategy", type=click.Choice(STRATEGY_NAMES), default=None,
              help="Rollout strategy (default: deploy.strategy).")
@timeout_option
@command_options
@env_options
def deploy(version_ref: str | None, strategy: str | None, timeout: float | None, env, reporter: Reporter) -> None:
    """Roll a registered model version out to an environment with a strategy, and drive it.

    Progress and every analysis measurement go to stderr. Another shell can watch, promote or
    abort it with `mlops rollout ...` while it runs.
    """
    from mlops_helpers.rollout import operations

    state, outcome = operations.deploy(env, reporter, version_ref, strategy, timeout)
    _finish(reporter, env, state, outcome)


@click.group("rollout", context_settings={"help_option_names": ["-h", "--help"]})
def rollout() -> None:
    """Watch and steer the rollout of an environment (from any shell, any time).

    Exit codes of promote and resume: 0 promoted · 1 aborted/failed · 2 usage · 3 paused · 4 timed out.
    """


@rollout.command("status")
@click.option("--watch", "-w", is_flag=True, help="Print the status every second until the rollout stops progressing.")
@command_options
@env_options
def status(watch: bool, env, reporter: Reporter) -> None:
    """Where the rollout stands: versions, weights, current step, last measurements."""
    state = env.store.load()
    if state is None:
        reporter.result({"env": env.name, "status": "none", "url": env.backend.url},
                        f"environment  {env.name}: nothing deployed yet (`mlops deploy`)")
        return
    while watch and state.status == "progressing":
        click.echo(_status_line(state.summary()), err=True)
        time.sleep(1.0)
        state = env.store.require()
    summary = {**state.summary(), "url": env.backend.url, "engine_running": env.store.engine_running()}
    reporter.result(summary, _status_text(summary))


@rollout.command("promote")
@click.option("--full", is_flag=True, help="Skip the remaining steps and analyses: 100% to the new version now.")
@timeout_option
@command_options
@env_options
def promote(full: bool, timeout: float | None, env, reporter: Reporter) -> None:
    """Continue a paused rollout (or end a timed pause early); runs the rest unless an engine already does."""
    from mlops_helpers.rollout import operations

    state, outcome = operations.promote(env, reporter, full, timeout)
    _finish(reporter, env, state, outcome)


@rollout.command("abort")
@click.option("--reason", default="aborted by hand", show_default=True, help="Recorded in the state and the event log.")
@command_options
@env_options
def abort(reason: str, env, reporter: Reporter) -> None:
    """All traffic back to the stable version at once, then stop the new one. Skips every step."""
    from mlops_helpers.rollout import operations

    state = operations.abort(env, reporter, reason)
    summary = {**state.summary(), "url": env.backend.url}
    reporter.result(summary, _status_text(summary))


@rollout.command("resume")
@timeout_option
@command_options
@env_options
def resume(timeout: float | None, env, reporter: Reporter) -> None:
    """Continue a rollout whose engine process died (killed, machine restarted) from its last step."""
    from mlops_helpers.rollout import operations

    state, outcome = operations.resume(env, reporter, timeout)
    _finish(reporter, env, state, outcome)


@rollout.command("undo")
@command_options
@env_options
def undo(env, reporter: Reporter) -> None:
    """Back to the previous version: instant while it is kept warm (bluegreen scaleDownDelay)."""
    from mlops_helpers.rollout import operations

    state = operations.undo(env, reporter)
    summary = {**state.summary(), "url": env.backend.url}
    reporter.result(summary, _status_text(summary))


@rollout.command("history")
@click.option("--events", is_flag=True, help="Every event of the latest rollout instead of one line per rollout.")
@command_options
@env_options
def history(events: bool, env, reporter: Reporter) -> None:
    """Past rollouts of the environment (or the event log of the latest one)."""
    if events:
        state = env.store.require()
        records = env.store.events(state.revision)
        rows = [[time.strftime("%H:%M:%S", time.localtime(r["time"])), r["event"], r["message"]] for r in records]
        reporter.result({"events": records}, table(["time", "event", "message"], rows))
        return
    records = env.store.history()
    rows = [[r["revision"], r["strategy"], r.get("version") or r.get("candidate") or r.get("stable"), r["status"], r["reason"]] for r in records]
    reporter.result({"rollouts": records}, table(["revision", "strategy", "version", "status", "reason"], rows))


@click.command("undeploy")
@command_options
@env_options
def undeploy(env, reporter: Reporter) -> None:
    """Stop the router and every model server of an environment (local target)."""
    from mlops_helpers.rollout import operations

    operations.undeploy(env)
    reporter.result({"ok": True, "env": env.name}, f"Stopped '{env.name}'")


def _finish(reporter: Reporter, env, state, outcome: str) -> None:
    from mlops_helpers.rollout.engine import EXIT_CODES

    summary = {**state.summary(), "outcome": outcome, "url": env.backend.url}
    reporter.result(summary, _status_text(summary))
    if outcome == "paused":
        click.echo(f"paused: {state.reason}\n  continue: mlops rollout promote --env {env.name}"
                   f"\n  stop:     mlops rollout abort --env {env.name}", err=True)
    elif outcome == "timed_out":
        click.echo(f"timed out; the rollout is left as it is: mlops rollout resume|abort --env {env.name}", err=True)
    sys.exit(EXIT_CODES.get(outcome, 0))


def _status_line(summary: dict[str, Any]) -> str:
    weights = " ".join(f"v{version}={weight}%" for version, weight in summary["weights"].items())
    step = summary["step"]
    return f"{summary['status']}: step {min(step['index'] + 1, step['total'])}/{step['total']} {step['detail']} | {weights}"


def _status_text(summary: dict[str, Any]) -> str:
    lines = [
        f"environment  {summary['env']}  ({summary['url']})",
        f"rollout      #{summary['revision']} {summary['strategy']}: {summary['status']}",
        f"stable       {_v(summary['stable'])}    candidate {_v(summary['candidate'])}",
        f"weights      {' '.join(f'v{v}={w}%' for v, w in summary['weights'].items()) or '(no traffic)'}",
        f"step         {_status_line(summary).split(': ', 1)[1].split(' | ')[0]}",
    ]
    if summary["previous"] and summary["previous_warm_until"]:
        left = summary["previous_warm_until"] - time.time()
        if left > 0:
            lines.append(f"previous     v{summary['previous']} kept warm {left:.0f}s more (`mlops rollout undo` is instant)")
    if summary["reason"]:
        lines.append(f"reason       {summary['reason']}")
    for measurement in summary["analysis"][-5:]:
        lines.append(f"  {measurement.get('outcome', ''):<17} {measurement.get('message', '')}")
    return "\n".join(lines)


def _v(version: str | None) -> str:
    return f"v{version}" if version else "-"
