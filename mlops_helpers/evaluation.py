"""Metrics on the hold-out set and the validation gates that decide if a model may ship.

Two kinds of gate: absolute thresholds (`min`/`max` per metric) and non-regression
against the model in production, scored on the candidate's own hold-out rows.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from mlops_helpers.config import LOWER_IS_BETTER, MlopsConfig
from mlops_helpers.errors import ConfigError
from mlops_helpers.junit import TestCase, write_junit

DEFAULT_PRIMARY_METRIC = {"classification": "accuracy", "regression": "r2"}


@dataclass(frozen=True)
class GateResult:
    name: str
    kind: str  # "threshold" | "non_regression"
    metric: str
    value: float | None
    bound: float | None  # the limit the value was held to
    passed: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compute_metrics(task: str, model: Any, features: pd.DataFrame, target: pd.Series,
                    positive_label: Any = None, average: str = "macro") -> dict[str, float]:
    """Hold-out metrics. Binary f1/precision/recall/roc_auc score `positive_label` (see
    `positive_class`); with more classes they are averaged as `average` says (macro by default)."""
    predictions = model.predict(features)
    if task == "regression":
        return {
            "rmse": _round(math.sqrt(skm.mean_squared_error(target, predictions))),
            "mae": _round(skm.mean_absolute_error(target, predictions)),
            "r2": _round(skm.r2_score(target, predictions)),
            "mape": _round(skm.mean_absolute_percentage_error(target, predictions)),
        }
    classes = list(getattr(model, "classes_", np.unique(target)))
    binary = len(classes) == 2
    if binary:
        positive = classes[class_index(classes, positive_label if positive_label is not None else positive_class(classes, target))]
        per_class: dict[str, Any] = {"average": "binary", "pos_label": positive}
    else:
        per_class = {"average": average}
    result = {
        "accuracy": _round(skm.accuracy_score(target, predictions)),
        "balanced_accuracy": _round(skm.balanced_accuracy_score(target, predictions)),
        "f1": _round(skm.f1_score(target, predictions, zero_division=0, **per_class)),
        "precision": _round(skm.precision_score(target, predictions, zero_division=0, **per_class)),
        "recall": _round(skm.recall_score(target, predictions, zero_division=0, **per_class)),
    }
    if hasattr(model, "predict_proba"):
        probabilities = model.predict_proba(features)
        result["log_loss"] = _round(skm.log_loss(target, probabilities, labels=model.classes_))
        if len(np.unique(target)) > 1:
            if binary:
                index = classes.index(per_class["pos_label"])
                result["roc_auc"] = _round(skm.roc_auc_score(target == per_class["pos_label"], probabilities[:, index]))
            else:
                result["roc_auc"] = _round(skm.roc_auc_score(target, probabilities, multi_class="ovr",
                                                             average=average if average != "micro" else "macro",
                                                             labels=model.classes_))
    return result


def positive_class(classes: list[Any], target: pd.Series) -> Any:
    """The class binary metrics score when `training.positive_label` is not set: 1 (or True) for
    0/1 and boolean labels, as scikit-learn does; otherwise the minority class (the rarer label is
    the one a detector is for: `malignant`, `fraud`, `churned`), ties going to the last in order."""
    if zero_one_labels(classes):
        return classes[[_plain(c) for c in classes].index(1)]
    counts = target.value_counts()
    return min(reversed(classes), key=lambda label: counts.get(label, 0))


def zero_one_labels(classes: list[Any]) -> bool:
    """0/1 or False/True: the labels whose positive class scikit-learn already knows."""
    return {_plain(c) for c in classes} == {0, 1}  # True == 1, so booleans are included


def label_matches(label: Any, configured: Any) -> bool:
    """Is `label` (a class of the model) the label written in mlops.yaml? YAML reads `yes` as a
    string, `1` as an integer, `true` as a boolean; classes compare by their text."""
    return str(_plain(label)).lower() == str(configured).lower() if isinstance(configured, bool) \
        else str(_plain(label)) == str(configured)


def class_index(classes: list[Any], wanted: Any) -> int:
    for index, label in enumerate(classes):
        if label is wanted or label_matches(label, wanted):
            return index
    shown = ", ".join(str(_plain(c)) for c in classes)
    raise ConfigError(f"mlops.yaml: training.positive_label: {wanted!r} is not a class of the target (classes: {shown})")


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _round(value: float) -> float:
    return round(float(value), 6)


def primary_metric(config: MlopsConfig, task: str) -> str:
    return config.validation.primary_metric or DEFAULT_PRIMARY_METRIC[task]


def evaluate_gates(
    config: MlopsConfig,
    task: str,
    metrics: dict[str, float],
    production_metrics: dict[str, float] | None,
    production_version: int | None = None,
) -> list[GateResult]:
    results = [_threshold_gate(gate.metric, gate.min, gate.max, metrics) for gate in config.validation.gates]
    rule = config.validation.non_regression
    if rule.enabled:
        for metric in rule.metrics or [primary_metric(config, task)]:
            results.append(_non_regression_gate(metric, rule.tolerance, metrics, production_metrics, production_version))
    return results


def _threshold_gate(metric: str, low: float | None, high: float | None, metrics: dict[str, float]) -> GateResult:
    name = f"{metric} threshold"
    value = metrics.get(metric)
    if value is None:
        return GateResult(name, "threshold", metric, None, low if low is not None else high, False,
                          f"{metric} could not be computed for this model")
    if low is not None and value < low:
        return GateResult(name, "threshold", metric, value, low, False,
                          f"{metric} {value:.4f} is below the minimum {low} (short by {low - value:.4f})")
    if high is not None and value > high:
        return GateResult(name, "threshold", metric, value, high, False,
                          f"{metric} {value:.4f} is above the maximum {high} (over by {value - high:.4f})")
    limits = " and ".join(part for part in (low is not None and f">= {low}", high is not None and f"<= {high}") if part)
    return GateResult(name, "threshold", metric, value, low if low is not None else high, True, f"{metric} {value:.4f} {limits}")


def _non_regression_gate(
    metric: str,
    tolerance: float,
    metrics: dict[str, float],
    production_metrics: dict[str, float] | None,
    production_version: int | None,
) -> GateResult:
    name = f"{metric} non-regression"
    value = metrics.get(metric)
    if production_metrics is None:
        return GateResult(name, "non_regression", metric, value, None, True, "no model in production yet: nothing to compare with")
    reference = production_metrics.get(metric)
    if value is None or reference is None:
        return GateResult(name, "non_regression", metric, value, reference, False, f"{metric} missing for the candidate or production model")
    against = f"production v{production_version}" if production_version else "production"
    lower_is_better = metric in LOWER_IS_BETTER
    bound = reference + tolerance if lower_is_better else reference - tolerance
    passed = value <= bound if lower_is_better else value >= bound
    worse = f"{metric} {value:.4f} is worse than {against} ({reference:.4f}) by {abs(value - reference):.4f}, tolerance {tolerance}"
    message = worse if not passed else f"{metric} {value:.4f} vs {against} {reference:.4f} (tolerance {tolerance})"
    return GateResult(name, "non_regression", metric, value, _round(bound), passed, message)


def gates_to_junit(results: list[GateResult], path: Path) -> Path:
    cases = [
        TestCase(name=r.name, classname=f"gates.{r.kind}", failure=None if r.passed else r.message, details=r.message)
        for r in results
    ]
    return write_junit(path, "model-validation", cases)
