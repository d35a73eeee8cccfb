"""`mlops deploy`, `mlops rollout status|promote|abort|resume|undo|history` and `mlops undeploy`.

Exit codes of deploy, promote and resume (Jenkins branches on them):
0 promoted · 1 aborted, rolled back or failed · 2 usage or config error · 3 paused, awaiting
`promote` · 4 the --timeout passed (the rollout is left as it is: resume or abort it).
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

import click

from mlops_helpers.cli import exit_codes
from mlops_helpers.cli.options import StrategyChoice, command_options, env_options, timeout_option
from mlops_helpers.cli.text import status_line, status_text
from mlops_helpers.console import Reporter, table

if TYPE_CHECKING:
    from mlops_helpers.rollout.operations import Environment
    from mlops_helpers.rollout.state import RolloutState


@click.command("deploy")
@click.option("--version", "version_ref", default=None, metavar="N|ALIAS",
              help="Registered version to roll out: a number or an alias like staging (default: latest).")
@click.option("--strategy", type=StrategyChoice(), default=None,
              help="Rollout strategy (default: deploy.strategy).")
@timeout_option
@command_options
@env_options
def deploy(version_ref: str | None, strategy: str | None, timeout: float | None, env: Environment, reporter: Reporter) -> None:
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
def status(watch: bool, env: Environment, reporter: Reporter) -> None:
    """Where the rollout stands: versions, weights, current step, last measurements."""
    state = env.store.load()
    if state is None:
        reporter.result({"env": env.name, "status": "none", "url": env.backend.url},
                        f"environment  {env.name}: nothing deployed yet (`mlops deploy`)")
        return
    while watch and state.status == "progressing":
        click.echo(status_line(state.summary()), err=True)
        time.sleep(1.0)
        state = env.store.require()
    summary = {**state.summary(), "url": env.backend.url, "engine_running": env.store.engine_running()}
    reporter.result(summary, status_text(summary))


@rollout.command("promote")
@click.option("--full", is_flag=True, help="Skip the remaining steps and analyses: 100% to the new version now.")
@timeout_option
@command_options
@env_options
def promote(full: bool, timeout: float | None, env: Environment, reporter: Reporter) -> None:
    """Continue a paused rollout (or end a timed pause early); runs the rest unless an engine already does."""
    from mlops_helpers.rollout import operations

    state, outcome = operations.promote(env, reporter, full, timeout)
    _finish(reporter, env, state, outcome)


@rollout.command("abort")
@click.option("--reason", default="aborted by hand", show_default=True, help="Recorded in the state and the event log.")
@command_options
@env_options
def abort(reason: str, env: Environment, reporter: Reporter) -> None:
    """All traffic back to the stable version at once, then stop the new one. Skips every step."""
    from mlops_helpers.rollout import operations

    state = operations.abort(env, reporter, reason)
    summary = {**state.summary(), "url": env.backend.url}
    reporter.result(summary, status_text(summary))


@rollout.command("resume")
@timeout_option
@command_options
@env_options
def resume(timeout: float | None, env: Environment, reporter: Reporter) -> None:
    """Continue a rollout whose engine process died (killed, machine restarted) from its last step."""
    from mlops_helpers.rollout import operations

    state, outcome = operations.resume(env, reporter, timeout)
    _finish(reporter, env, state, outcome)


@rollout.command("undo")
@command_options
@env_options
def undo(env: Environment, reporter: Reporter) -> None:
    """Back to the previous version: instant while it is kept warm (bluegreen scaleDownDelay)."""
    from mlops_helpers.rollout import operations

    state = operations.undo(env, reporter)
    summary = {**state.summary(), "url": env.backend.url}
    reporter.result(summary, status_text(summary))


@rollout.command("history")
@click.option("--events", is_flag=True, help="Every event of the latest rollout instead of one line per rollout.")
@command_options
@env_options
def history(events: bool, env: Environment, reporter: Reporter) -> None:
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
def undeploy(env: Environment, reporter: Reporter) -> None:
    """Stop the router and every model server of an environment (local target)."""
    from mlops_helpers.rollout import operations

    operations.undeploy(env)
    reporter.result({"ok": True, "env": env.name}, f"Stopped '{env.name}'")


def _finish(reporter: Reporter, env: Environment, state: RolloutState, outcome: str) -> None:
    """Print where a driven rollout ended and exit with its outcome's code."""
    summary = {**state.summary(), "outcome": outcome, "url": env.backend.url}
    # The measurements went to stderr as they came; the text summary (its reason line) says why once.
    reporter.result(summary, status_text(summary, measurements=False))
    if outcome == "paused":
        why = f"paused: {state.reason}\n" if reporter.output == "json" else ""
        click.echo(f"{why}  continue: mlops rollout promote --env {env.name}"
                   f"\n  stop:     mlops rollout abort --env {env.name}", err=True)
    elif outcome == "timed_out":
        click.echo(f"timed out; the rollout is left as it is: mlops rollout resume|abort --env {env.name}", err=True)
    sys.exit(exit_codes.ROLLOUT.get(outcome, exit_codes.OK))
