"""The human view of results (`--output text`): tables and lines that read well in a Jenkins log too.

Kept apart from the commands so that several commands (and the error handler) print a result alike.
"""

from __future__ import annotations

import time
from typing import Any

from mlops_helpers.console import table


def check_report(result: dict[str, Any]) -> str:
    """A failed check: the gate table, or one line per data violation."""
    if "gates" in result:
        return gates_table(result["gates"])
    return "\n".join(f"{v['column']}: {v['rule']}: {v['message']}" for v in result.get("violations", []))


def gates_table(gates: list[dict[str, Any]]) -> str:
    rows = [[g["name"], "pass" if g["passed"] else "FAIL", g["message"]] for g in gates]
    return table(["gate", "result", "detail"], rows)


def metrics_table(metrics: dict[str, float]) -> str:
    return table(["metric", "value"], [[name, f"{value:.4f}"] for name, value in metrics.items()])


def short_metrics(metrics: dict[str, float]) -> str:
    """The first three metrics on one line, for a table cell."""
    return " ".join(f"{k}={v:.3f}" for k, v in list(metrics.items())[:3])


def delivery_line(delivery: dict[str, Any]) -> str:
    if delivery.get("mode") == "image":
        where = f"pushed as {delivery['image']}@{delivery['digest']}" if delivery.get("pushed") else "not pushed (no registry)"
        return f"Image {delivery['tags'][0]} ({delivery['size_bytes'] / 1e6:.0f} MB), infra validation passed, {where}"
    if delivery.get("mode") == "local":
        return f"Served locally and checked on {delivery['rows']} hold-out rows; serve it with: {delivery['serve']}"
    return "Not delivered (--deliver none)"


def deployment_line(deployment: dict[str, Any] | None) -> str:
    """Where `mlops run` deployed, or how to go on with the rollout it left; empty when it did not deploy."""
    if not deployment:
        return ""
    if deployment["outcome"] == "promoted":
        return f"Deployed v{deployment['stable']} to '{deployment['env']}' at {deployment['url']} (stop: mlops undeploy)\n"
    return (f"Rollout to '{deployment['env']}' {deployment['outcome']}: {deployment['reason']}\n"
            f"  continue: mlops rollout promote · stop: mlops rollout abort\n")


def status_line(summary: dict[str, Any]) -> str:
    """One line of a rollout's progress, as `mlops rollout status --watch` prints it every second."""
    weights = " ".join(f"v{version}={weight}%" for version, weight in summary["weights"].items())
    step = summary["step"]
    return f"{summary['status']}: step {min(step['index'] + 1, step['total'])}/{step['total']} {step['detail']} | {weights}"


def status_text(summary: dict[str, Any]) -> str:
    """Where a rollout stands: versions, weights, step, and its last measurements."""
    lines = [
        f"environment  {summary['env']}  ({summary['url']})",
        f"rollout      #{summary['revision']} {summary['strategy']}: {summary['status']}",
        f"stable       {_v(summary['stable'])}    candidate {_v(summary['candidate'])}",
        f"weights      {' '.join(f'v{v}={w}%' for v, w in summary['weights'].items()) or '(no traffic)'}",
        f"step         {status_line(summary).split(': ', 1)[1].split(' | ')[0]}",
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


def monitor_summary(data: dict[str, Any]) -> str:
    """A monitoring check: the verdict, why, and a row per feature."""
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
