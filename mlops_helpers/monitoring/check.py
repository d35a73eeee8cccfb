"""One monitoring check: the live window of the serving version against its training reference.

It reads the version's reference statistics (reference.json, written at training time), a window
of its prediction log, and the ground truth fed back; it measures drift, live accuracy and
whether the data has a new version; and the policy of `monitoring:` turns the findings into a
verdict: `retrain`, `ok`, or `insufficient_data` (never "ok" for a window too small to tell).
Every check is appended to `<state_dir>/checks.jsonl`, which the report plots over time.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_helpers.config import MlopsConfig
from mlops_helpers.errors import MlopsError
from mlops_helpers.jsonlines import read_json_lines
from mlops_helpers.monitoring.window import LogWindow, open_window

REFERENCE_FILE = "reference.json"  # written beside model.joblib by training.py

CHECKS_FILE = "checks.jsonl"
WINDOW_FINDINGS = ("drift", "accuracy")  # judged on the live window (data_change is not)


@dataclass
class CheckResult:
    model: str
    version: int
    environment: str
    status: str  # retrain | ok | insufficient_data
    reasons: list[str]
    findings: dict[str, str]  # trigger -> fired | clear | insufficient_data | off
    drift: dict[str, Any]
    performance: dict[str, Any]
    data: dict[str, Any]
    window: dict[str, Any]
    time: float = field(default_factory=time.time)

    @property
    def retrain(self) -> bool:
        return self.status == "retrain"

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "version": self.version, "environment": self.environment,
                "status": self.status, "retrain": self.retrain, "reasons": self.reasons, "findings": self.findings,
                "drift": self.drift, "performance": self.performance, "data": self.data, "window": self.window,
                "time": self.time}


def log_folder(config: MlopsConfig, environment: str, version: int) -> Path:
    """Where the local rollout backend's model servers of `version` write their prediction log."""
    return config.resolve(config.deploy.local.state_dir) / environment / "predictions" / f"v{version}"


def serving_version(config: MlopsConfig, environment: str, version: int | None):
    """The registry version to check: the one given, else the one the environment's alias names
    (a rollout moves that alias to whatever serves 100%)."""
    from mlops_helpers.registry import open_registry

    store = open_registry(config.registry_path())
    if version is not None:
        return store.get(config.model_name, version)
    try:
        return store.get(config.model_name, environment)
    except MlopsError as exc:
        raise MlopsError(f"no version of {config.model_name} is in '{environment}' ({exc}); "
                         "deploy one first, or pass --version") from None


def run_check(config: MlopsConfig, environment: str | None = None, version: int | None = None,
              log: Path | None = None, now: float | None = None) -> CheckResult:
    from mlops_helpers.monitoring.drift import DriftSettings, detect_drift
    from mlops_helpers.monitoring.reference import ReferenceProfile
    from mlops_helpers.monitoring.server_stats import serving_metrics

    policy = config.monitoring
    env = environment or policy.environment or config.deploy.environment
    model_version = serving_version(config, env, version)
    reference_path = Path(model_version.path) / REFERENCE_FILE
    if not reference_path.is_file():
        raise MlopsError(f"{config.model_name} v{model_version.version} has no {REFERENCE_FILE}: it was trained "
                         "before monitoring existed; train and register a new version to monitor it")
    reference = ReferenceProfile.load(reference_path)
    window = open_window(log or log_folder(config, env, model_version.version), list(reference.features),
                         policy.window, policy.max_rows, now)
    settings = DriftSettings(min_samples=policy.min_samples, numeric_method=policy.numeric_method,
                             categorical_method=policy.categorical_method, drift_share=policy.drift_share,
                             thresholds=dict(policy.thresholds))
    report = detect_drift(reference, window.chunks(), settings)
    performance = _performance(model_version.metadata, window, policy.accuracy)
    performance.update(serving_metrics(config, env, model_version.version))  # flat, as the report reads it
    data = _data_change(config, model_version.metadata)
    findings, reasons = _findings(report, performance, data, policy.trigger.when)
    status = _status(findings)
    result = CheckResult(config.model_name, model_version.version, env, status, reasons, findings, report.to_dict(),
                         performance, data, _window_summary(window), time.time() if now is None else now)
    record_check(config, result)
    return result


def _status(findings: dict[str, str]) -> str:
    """retrain when a finding fired; insufficient_data when none of the findings about the live
    window (drift, accuracy) could be judged — many services never send feedback, so missing
    feedback alone does not make a clear drift check inconclusive."""
    if "fired" in findings.values():
        return "retrain"
    judged = [findings[name] for name in WINDOW_FINDINGS if findings[name] != "off"]
    if judged and all(state == "insufficient_data" for state in judged):
        return "insufficient_data"
    return "ok"


def _performance(metadata: dict[str, Any], window: LogWindow, accuracy_policy) -> dict[str, Any]:
    feedback, regression = window.feedback, metadata.get("task") == "regression"
    reference_accuracy = (metadata.get("metrics") or {}).get("accuracy")
    floor = accuracy_policy.min
    if floor is None and isinstance(reference_accuracy, (int, float)):
        floor = max(0.0, reference_accuracy - accuracy_policy.max_drop)
    return {"accuracy": None if regression else feedback.accuracy, "feedback_rows": feedback.rows, "reference_accuracy": reference_accuracy,
            "accuracy_floor": floor, "min_feedback": accuracy_policy.min_feedback,
            "mean_abs_error": (feedback.abs_error_sum / feedback.rows
                               if feedback.rows and regression else None),
            "labels": feedback.labels, "history": feedback.history()}


def _data_change(config: MlopsConfig, metadata: dict[str, Any]) -> dict[str, Any]:
    """The data file now vs the data the serving version was trained on (md5, as DVC records it)."""
    from mlops_helpers.data import versioning

    trained = (metadata.get("data") or {}).get("md5")
    path = config.resolve(config.data.path)
    current = versioning.md5_file(path) if path.is_file() else None
    return {"path": config.data.path, "trained_md5": trained, "current_md5": current,
            "changed": bool(trained and current and trained != current)}


def _findings(report, performance: dict[str, Any], data: dict[str, Any],
              enabled: list[str]) -> tuple[dict[str, str], list[str]]:
    """Each trigger's state (fired | clear | insufficient_data | off) and the reasons of those that fired."""
    findings: dict[str, str] = {}
    reasons: dict[str, str] = {}
    drifted = [feature for feature in report.features if feature.verdict == "drift"]
    findings["drift"] = {"drift": "fired", "no_drift": "clear"}.get(report.verdict, "insufficient_data")
    if findings["drift"] == "fired":
        names = ", ".join(feature.feature for feature in drifted[:5]) + (" ..." if len(drifted) > 5 else "")
        reasons["drift"] = (f"data drift: {len(drifted)} of {len(report.features)} features drifted "
                            f"(share {report.drifted_share:.2f} >= {report.drift_share_threshold:.2f}): {names}")
    accuracy, floor = performance["accuracy"], performance["accuracy_floor"]
    if performance["feedback_rows"] < performance["min_feedback"] or accuracy is None or floor is None:
        findings["accuracy"] = "insufficient_data"
    elif accuracy < floor:
        findings["accuracy"] = "fired"
        reasons["accuracy"] = (f"live accuracy {accuracy:.3f} < {floor:.3f} over {performance['feedback_rows']} "
                               f"feedback rows (hold-out accuracy {performance['reference_accuracy']})")
    else:
        findings["accuracy"] = "clear"
    findings["data_change"] = "fired" if data["changed"] else "clear"
    if data["changed"]:
        reasons["data_change"] = (f"new data version: {data['path']} md5 {str(data['current_md5'])[:8]} "
                                  f"(the model was trained on {str(data['trained_md5'])[:8]})")
    for trigger in findings:
        if trigger not in enabled:
            findings[trigger] = "off"
    return findings, [reason for trigger, reason in reasons.items() if trigger in enabled]


def _window_summary(window: LogWindow) -> dict[str, Any]:
    return {"folder": str(window.folder), "start": window.since, "end": window.until, "rows": window.rows,
            "requests": window.requests, "skipped_lines": window.skipped, "first": window.first, "last": window.last}


def record_check(config: MlopsConfig, result: CheckResult) -> None:
    """A compact line per check (verdicts and scores, not the histograms) for the report's history."""
    folder = config.resolve(config.monitoring.state_dir) / result.environment
    folder.mkdir(parents=True, exist_ok=True)
    line = {"time": result.time, "version": result.version, "status": result.status,
            "verdict": result.drift.get("verdict"), "drifted_share": result.drift.get("drifted_share"),
            "scores": {feature["feature"]: feature.get("statistic") for feature in result.drift.get("features", [])},
            "accuracy": result.performance.get("accuracy"), "feedback_rows": result.performance.get("feedback_rows")}
    with open(folder / CHECKS_FILE, "a") as handle:
        handle.write(json.dumps(line) + "\n")


def check_history(config: MlopsConfig, environment: str, limit: int = 500) -> list[dict[str, Any]]:
    return read_json_lines(config.resolve(config.monitoring.state_dir) / environment / CHECKS_FILE)[-limit:]
