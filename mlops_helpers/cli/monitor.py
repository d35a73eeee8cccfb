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
from typing import Any

import click

from mlops_helpers.cli import command_options, overrides_option
from mlops_helpers.console import Reporter, table

EXIT_CODES = {"ok": 0, "retrain": 1, "insufficient_data": 3}


def check_options(func: Callable[..., Any]) -> Callable[..., Any]:
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
def check(act: bool, environment: str | None, version: int | None, log: Path | None, config, config_path: Path,
          reporter: Reporter) -> None:
    """One check of the serving version's logged predictions against its training reference.

    Exits 0 ok, 1 retrain, 3 insufficient data; the verdict (JSON with --output json) names
    every finding with its value and threshold.
    """
    from mlops_helpers.monitoring.check import run_check

    result = run_check(config, environment, version, log)
    data = result.to_dict()
    if act:
        data["trigger"] = _act(config, result, config_path, reporter)
    reporter.result(data, summary_text(data))
    sys.exit(EXIT_CODES[result.status])


@monitor.command("watch")
@click.option("--interval", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
              help="Time between checks (default: monitoring.interval).")
@click.option("--checks", "max_checks", type=click.IntRange(min=1), default=None, metavar="N",
              help="Stop after N checks (default: run until interrupted).")
@command_options
@check_options
def watch(interval: float | None, max_checks: int | None, environment: str | None, version: int | None,
          log: Path | None, config, config_path: Path, reporter: Reporter) -> None:
    """Check on an interval and run the trigger action when the policy says retrain.

    Each check re-reads the environment's serving version, so after a retrained version is
    rolled out the next check watches it. Errors of one check are reported and the watch goes on.
    """
    from mlops_helpers.config import load_config
    from mlops_helpers.errors import MlopsError
    from mlops_helpers.monitoring.check import run_check

    every = interval or config.monitoring.interval
    done, last = 0, {}
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
def report(out: Path | None, environment: str | None, version: int | None, log: Path | None, config,
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
    reporter.result({**data, "report": str(path)}, f"{summary_text(data)}\nreport: {path}")


def _act(config, result, config_path: Path, reporter: Reporter) -> dict[str, Any]:
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


def summary_text(data: dict[str, Any]) -> str:
    """The terminal summary: the verdict, why, and a row per feature."""
    drift, performance, window = data["drift"], data["performance"], data["window"]
    lines = [f"{data['model']} v{data['version']} in {data['environment']}: {data['status'].upper()}"
             f" ({window['rows']} rows from {window['requests']} requests in the window)"]
    lines += [f"  - {reason}" for reason in data["reasons"]]
    lines.append("findings: " + ", ".join(f"{name} {state}" for name, state in data["findings"].items()))
    accuracy = performance.get("accuracy")
    floor = performance.get("accuracy_floor")
    lines.append(f"live accuracy: {'n/a' if accuracy is None else f'{accuracy:.3f}'} over "
                 f"{performance['feedback_rows']} feedback rows (floor {'n/a' if floor is None else f'{floor:.3f}'})")
    if performance.get("servers"):
        lines.append(f"serving: {performance['servers']} server(s), p50 {_number(performance.get('latency_p50_ms'))} ms, "
                     f"p99 {_number(performance.get('latency_p99_ms'))} ms, error rate {_number(performance.get('error_rate'))}, "
                     f"CPU {_number(performance.get('cpu_percent'))}%, memory {_number(performance.get('memory_mb'))} MB")
    rows = [[f["feature"], f["verdict"], f["method"], _number(f.get("statistic")), _number(f.get("threshold")),
             _number(f.get("p_value")), f["samples"]] for f in drift["features"]]
    if drift.get("prediction"):
        p = drift["prediction"]
        rows.append(["(prediction)", p["verdict"], p["method"], _number(p.get("statistic")),
                     _number(p.get("threshold")), _number(p.get("p_value")), p["samples"]])
    lines.append(table(["feature", "verdict", "method", "statistic", "threshold", "p-value", "rows"], rows))
    if "trigger" in data:
        lines.append(f"trigger: {'fired' if data['trigger']['fired'] else 'not fired'} — {data['trigger']['reason']}")
    return "\n".join(lines)


def _number(value: Any) -> str:
    return "" if value is None else f"{value:.4g}"
