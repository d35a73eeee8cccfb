"""`mlops monitor check|watch|report`: drift, live accuracy and retraining triggers.

Exit codes of `check` (a cron job or Jenkins branches on them): 0 ok · 1 retrain (the policy
says so; the JSON verdict has the reasons) · 2 usage or config error · 3 insufficient data
(the window is too small to tell; never reported as "ok").
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mlops_helpers.cli import exit_codes
from mlops_helpers.cli.options import command_options, overrides_option
from mlops_helpers.cli.text import monitor_summary
from mlops_helpers.console import Reporter

if TYPE_CHECKING:
    from mlops_helpers.config import MlopsConfig
    from mlops_helpers.monitoring.check import CheckResult


def check_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--env, --version, --log and --set: the command gets the loaded config and its absolute path."""
    @click.option("--env", "environment", default=None, metavar="NAME",
                  help="Environment whose serving version is checked (default: monitoring.environment, "
                       "else deploy.environment).")
    @click.option("--version", "version", type=click.IntRange(min=1), default=None, metavar="N",
                  help="Check this registered version instead of the one serving in the environment.")
    @click.option("--log", "log", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
                  help="Folder of the prediction log (default: the local rollout backend's, "
                       ".mlops/deploy/<env>/predictions/v<N>).")
    @overrides_option
    @functools.wraps(func)
    def wrapper(*args: Any, overrides: tuple[str, ...], config_path: str, **kwargs: Any) -> Any:
        from mlops_helpers.config import load_config

        return func(*args, config=load_config(config_path, overrides), config_path=Path(config_path).resolve(), **kwargs)

    return wrapper


@click.group("monitor")
def monitor() -> None:
    """Watch the live model: data drift, live accuracy, new data; trigger retraining."""


@monitor.command("check")
@click.option("--act", is_flag=True,
              help="When the verdict is retrain, also run monitoring.trigger.action (cool-down and de-duplication apply).")
@command_options
@check_options
def check(act: bool, environment: str | None, version: int | None, log: Path | None, config: MlopsConfig,
          config_path: Path, reporter: Reporter) -> None:
    """One check of the serving version's logged predictions against its training reference.

    Exits 0 ok, 1 retrain, 3 insufficient data; the verdict (JSON with --output json) names
    every finding with its value and threshold.
    """
    from mlops_helpers.monitoring.check import run_check

    result = run_check(config, environment, version, log)
    data = result.to_dict()
    if act:
        data["trigger"] = _act(config, result, config_path, reporter)
    reporter.result(data, monitor_summary(data))
    sys.exit(exit_codes.MONITOR[result.status])


@monitor.command("watch")
@click.option("--interval", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
              help="Time between checks (default: monitoring.interval).")
@click.option("--checks", "max_checks", type=click.IntRange(min=1), default=None, metavar="N",
              help="Stop after N checks (default: run until interrupted).")
@command_options
@check_options
def watch(interval: float | None, max_checks: int | None, environment: str | None, version: int | None,
          log: Path | None, config: MlopsConfig, config_path: Path, reporter: Reporter) -> None:
    """Check on an interval and run the trigger action when the policy says retrain.

    Each check re-reads the environment's serving version, so after a retrained version is
    rolled out the next check watches it. Errors of one check are reported and the watch goes on.
    """
    from mlops_helpers.config import load_config
    from mlops_helpers.errors import MlopsError
    from mlops_helpers.monitoring.check import run_check

    every = interval or config.monitoring.interval
    done = 0
    last: dict[str, Any] = {}
    try:
        while max_checks is None or done < max_checks:
            started = time.monotonic()
            try:
                current = load_config(config_path)  # a retraining run may have changed what serves
                result = run_check(current, environment, version, log)
                last = {**result.to_dict(), "trigger": _act(current, result, config_path, reporter)}
                click.echo(f"{time.strftime('%H:%M:%S')} v{result.version}: {result.status}"
                           + (f" — {'; '.join(result.reasons)}" if result.reasons else "")
                           + f" — trigger: {last['trigger']['reason']}", err=True)
            except MlopsError as exc:
                last = {"status": "error", "error": str(exc)}
                click.echo(f"{time.strftime('%H:%M:%S')} check failed: {exc}", err=True)
            done += 1
            if max_checks is None or done < max_checks:
                time.sleep(max(0.0, every - (time.monotonic() - started)))
    except KeyboardInterrupt:
        click.echo("watch stopped", err=True)
    reporter.result({"checks": done, "last": last}, f"{done} check(s); last: {last.get('status')}")


@monitor.command("report")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="FILE",
              help="HTML file to write (default: mlops-out/reports/monitoring-<env>.html beside mlops.yaml).")
@command_options
@check_options
def report(out: Path | None, environment: str | None, version: int | None, log: Path | None, config: MlopsConfig,
           config_path: Path, reporter: Reporter) -> None:
    """Run a check and write a self-contained HTML report: distributions, drift over time, live accuracy."""
    from mlops_helpers.monitoring.check import check_history, run_check
    from mlops_helpers.monitoring.report_html import write_report

    result = run_check(config, environment, version, log)
    data = result.to_dict()
    path = out or config.resolve("mlops-out") / "reports" / f"monitoring-{result.environment}.html"
    write_report({**data, "generated_at": result.time,
                  "history": [line for line in check_history(config, result.environment)
                              if line.get("version") == result.version],
                  "trigger": {"retrain": result.retrain, "reasons": result.reasons}}, path)
    reporter.result({**data, "report": str(path)}, f"{monitor_summary(data)}\nreport: {path}")


def _act(config: MlopsConfig, result: CheckResult, config_path: Path, reporter: Reporter) -> dict[str, Any]:
    """The trigger decision; an action that fails (Jenkins unreachable) is reported in it, the
    verdict is kept, and nothing is recorded, so the next check tries again."""
    from mlops_helpers.errors import MlopsError
    from mlops_helpers.monitoring.triggers import decide_and_act

    try:
        decision = decide_and_act(config, result, config_path)
    except MlopsError as exc:
        action = config.monitoring.trigger.action
        reporter.warn(f"the {action} action failed: {exc}")
        return {"fired": False, "action": action, "key": None, "reason": f"the {action} action failed: {exc}",
                "error": str(exc), "outcome": {}, "time": time.time()}
    if decision.fired:
        reporter.note(f"retraining triggered ({decision.action}): {decision.reason}")
    return decision.to_dict()
