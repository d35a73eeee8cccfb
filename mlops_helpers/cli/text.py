"""The human view of results (`--output text`): tables and lines that read well in a Jenkins log too.

Kept apart from the commands so that several commands (and the error handler) print a result alike.
"""

from __future__ import annotations

import time
from typing import Any

from mlops_helpers.console import table


def check_report(result: dict[str, Any]) -> str:
    """A failed check: the gate table, or one line per data violation (each names its column)."""
    if "gates" in result:
        return gates_table(result["gates"])
    return "\n".join(f"- {v['message']}" for v in result.get("violations", []))


def failure_line(message: str, result: dict[str, Any]) -> str:
    """What follows `FAILED:` under a check report: the headline only, the report has the details."""
    if "gates" in result:
        failed = [g["name"] for g in result["gates"] if not g["passed"]]
        return f"{len(failed)} of {len(result['gates'])} gates failed: {', '.join(failed)}"
    if result.get("violations"):
        return message.splitlines()[0]
    return message


def gates_table(gates: list[dict[str, Any]]) -> str:
    rows = [[g["name"], "pass" if g["passed"] else "FAIL", g["message"]] for g in gates]
    return table(["gate", "result", "detail"], rows)


def metrics_table(metrics: dict[str, float]) -> str:
    return table(["metric", "value"], [[name, f"{value:.4f}"] for name, value in metrics.items()])


def versions_table(versions: list[dict[str, Any]], primary: str | None) -> str:
    """Registered versions told apart: the primary metric, and the parameters (with the estimator)
    whose values differ between the versions listed; those all share are left out."""
    settings = [{"estimator": (v["metadata"] or {}).get("estimator"), **((v["metadata"] or {}).get("params") or {})}
                for v in versions]
    keys = list(dict.fromkeys(key for one in settings for key in one))
    differ = [key for key in keys if len({repr(one.get(key)) for one in settings}) > 1]
    rows = []
    for version, values in zip(versions, settings, strict=True):
        metrics = (version["lineage"] or {}).get("metrics") or {}
        metric = primary or _first_metric(version)
        value = metrics.get(metric) if metric else None
        rows.append([version["version"], ",".join(version["stages"]), version["created_at"],
                     "" if value is None else f"{metric}={value:.4f}",
                     " ".join(f"{key}={values.get(key)}" for key in differ),
                     (((version["lineage"] or {}).get("data") or {}).get("md5") or "")[:8]])
    return table(["version", "stages", "created", "metric", "parameters that differ", "data"], rows)


def _first_metric(version: dict[str, Any]) -> str | None:
    metrics = (version["lineage"] or {}).get("metrics") or {}
    return next(iter(metrics), None)


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


def status_text(summary: dict[str, Any], measurements: bool = True) -> str:
    """Where a rollout stands: versions, weights, step, and (unless they were just printed as they
    came, as a driven rollout does) its last measurements."""
    if summary["status"] == "undeployed":
        return "\n".join([f"environment  {summary['env']}  ({summary['url']}): not deployed",
                          f"reason       {summary['reason']}",
                          f"last         rollout #{summary['revision']} {summary['strategy']} of {_v(summary['version'])}",
                          "start again  mlops deploy"])
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
    for measurement in summary["analysis"][-5:] if measurements else []:
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
    lines.append(drift_table(drift))
    if "trigger" in data:
        lines.append(f"trigger: {'fired' if data['trigger']['fired'] else 'not fired'} — {data['trigger']['reason']}")
    return "\n".join(lines)


def drift_table(drift: dict[str, Any]) -> str:
    """A row per feature: the statistic beside its own threshold (distances), the p-value beside the
    significance level it was compared with. A test's (ks, chi2) threshold in the drift report is
    that significance level, so it goes in the p-value's column pair, never next to the statistic."""
    features = list(drift["features"]) + ([{**drift["prediction"], "feature": "(prediction)"}]
                                          if drift.get("prediction") else [])
    rows = []
    for f in features:
        test = f["method"] in DRIFT_TESTS
        rows.append([f["feature"], f["verdict"], f["method"], _number(f.get("statistic")),
                     "" if test else _number(f.get("threshold")), _number(f.get("p_value")),
                     _number(_p_cutoff(f, drift, len(features))), f["samples"]])
    legend = ("threshold: the limit of the statistic (psi, wasserstein, jensenshannon); "
              "p < p cut-off: the test's significance level (alpha / columns checked)")
    return table(["feature", "verdict", "method", "statistic", "threshold", "p-value", "p cut-off", "rows"], rows) \
        + "\n" + legend


DRIFT_TESTS = ("ks", "chi2")  # their threshold is a significance level (monitoring/drift.py TESTS)


def _p_cutoff(feature: dict[str, Any], drift: dict[str, Any], checked: int) -> float | None:
    """The significance level the p-value was compared with: a test's threshold; for a distance
    chosen by method auto, the test that must confirm it (as monitoring/drift.py judges); none
    for a distance named explicitly, which decides alone, or a feature not judged."""
    if feature.get("statistic") is None:
        return None
    if feature["method"] in DRIFT_TESTS:
        return feature.get("threshold")
    settings = drift.get("settings") or {}
    categorical = feature.get("kind") == "categorical"
    if settings.get("categorical_method" if categorical else "numeric_method") != "auto":
        return None
    alpha = (settings.get("thresholds") or {}).get("chi2" if categorical else "ks")
    return None if alpha is None else alpha / (checked if settings.get("bonferroni", True) else 1)


def _number(value: Any) -> str:
    return "" if value is None else f"{value:.4g}"
