"""The choices in the mlops.yaml that `mlops init` writes, each with the reason it was made.

The reasons become the file's comments, so a data scientist reads why the target, the task, the
estimator, the positive class and each gate are what they are. Gates on a user's own data are the
least a model must do: beat answering a constant, which the data itself tells (the share of its
most common class, a chance level, the mean). The bundled data sets keep their fixed starting bars.
"""

from __future__ import annotations

import math
import textwrap
from typing import Any

import pandas as pd

from mlops_helpers.data.target import TargetSummary

COMMENT_WIDTH = 96
LISTED_COLUMNS = 8  # column names a comment lists before "and N more"

_ESTIMATORS = {
    "classification": (
        "RandomForestClassifier",
        {"n_estimators": 200, "max_depth": 8},
        "A random forest: it does well on numeric and one-hot columns without tuning, max_depth 8 keeps "
        "each tree from memorising the rows, and it gives class probabilities (roc_auc, log_loss).",
    ),
    "regression": (
        "GradientBoostingRegressor",
        {"n_estimators": 150, "max_depth": 2, "learning_rate": 0.05},
        "Gradient boosting of shallow trees (max_depth 2): strong on tables without tuning; the small "
        "learning_rate keeps it from over-fitting a small table.",
    ),
}
# Fixed starting bars for scikit-learn's bundled data sets (the guides show them pass and fail).
_BUNDLED_GATES = {
    "classification": ("accuracy", [("accuracy", 0.85), ("f1", 0.8)]),
    "regression": ("r2", [("r2", 0.3)]),
}


def config_context(frame: pd.DataFrame, target: TargetSummary, source: str, bundled: bool) -> dict[str, Any]:
    """The template context of project/mlops.yaml.j2 (besides project, paths and remote): values and notes."""
    estimator, params, why_estimator = _ESTIMATORS[target.task]
    features = frame.drop(columns=[target.name])
    primary, primary_note, gates = _bundled_gates(target.task) if bundled else _baseline_gates(target)
    positive, positive_note = _positive_label(target)
    return {
        "target": target.name,
        "task": target.task,
        "estimator": estimator,
        "params": params,
        "positive_label": positive,
        "average": "macro" if len(target.classes) > 2 else None,
        "primary_metric": primary,
        "gates": gates,
        "notes": {
            "source": _wrap(f"Written by `mlops init` from {source} ({len(frame)} rows, {len(frame.columns)} columns). "
                            "The comments say why each value was chosen; `mlops config check` checks your changes."),
            "target": _wrap(f"The column to predict: {_describe_target(target)}."),
            "task": _wrap(f"{target.task}: {target.reason}."),
            "estimator": _wrap(why_estimator),
            "positive_label": _wrap(positive_note),
            "average": _wrap(f"f1, precision, recall and roc_auc of the {len(target.classes)} classes: macro is their "
                             "plain mean, so a rare class counts as much as a common one (macro | weighted | micro)."),
            **_column_notes(features),
            "impute": _wrap(_impute_note(features)),
            "primary_metric": _wrap(primary_note),
            "gates": _wrap("Starting bars for this bundled data set; raise them as your model improves." if bundled else
                           "The least a model must do: the next hundredth above what a constant answer scores. "
                           "Raise them as your model improves."),
        },
    }


def _describe_target(target: TargetSummary) -> str:
    if target.task == "regression":
        return f"a number, in {target.rows} rows"
    return f"{len(target.counts)} classes, {_listed([f'{_text(label)} ({n} rows)' for label, n in target.counts.items()])}"


def _positive_label(target: TargetSummary) -> tuple[Any, str]:
    if target.positive is None:
        return None, ""
    if set(target.classes) == {0, 1}:  # also 0.0/1.0 and False/True
        why = f"{_text(target.positive)}, as scikit-learn scores 0/1 and true/false labels"
    elif len(set(target.counts.values())) == 1:
        why = f"{_text(target.positive)}: the two classes are equally common, so the last in order"
    else:
        why = (f"{_text(target.positive)}, the rarer class ({target.counts[target.positive]} of {target.rows} rows), "
               "usually the one to detect")
    return target.positive, (f"Binary f1, precision, recall and roc_auc score one class: {why}. "
                             "Name the other class here to score it instead.")


def _bundled_gates(task: str) -> tuple[str, str, list[dict[str, Any]]]:
    primary, gates = _BUNDLED_GATES[task]
    return primary, "Compared with the model in production by the non-regression gate below.", [
        {"metric": metric, "bound": "min", "value": value, "note": ""} for metric, value in gates]


def _baseline_gates(target: TargetSummary) -> tuple[str, str, list[dict[str, Any]]]:
    if target.task == "regression":
        return "r2", ("r2 is free of the target's unit, so the non-regression tolerance below reads the same "
                      "for any target."), [_gate("r2", 0.0, "always predicting the mean scores r2 0")]
    label, share = target.majority()
    chance = 1 / len(target.classes)
    gates = [
        _gate("accuracy", share, f"always answering {_text(label)}, the commonest class, scores {share:.3f}"),
        _gate("balanced_accuracy", chance, f"any constant answer scores {chance:.3f}"),
    ]
    if target.positive is not None:
        rate = target.counts[target.positive] / target.rows
        f1 = 2 * rate / (1 + rate)  # always answering the positive class: precision = its rate, recall = 1
        gates.append(_gate("f1", f1, f"always answering {_text(target.positive)} scores f1 {f1:.3f}"))
    return "balanced_accuracy", ("balanced_accuracy is the mean recall of the classes: a model that ignores a rare "
                                 "class scores low. The non-regression gate below compares it with production."), gates


def _gate(metric: str, baseline: float, note: str) -> dict[str, Any]:
    """A `min` gate at the next hundredth above what a constant answer scores (at most 1)."""
    value = min(1.0, round(math.floor(baseline * 100 + 1e-9) / 100 + 0.01, 2))
    return {"metric": metric, "bound": "min", "value": value, "note": note}


def _column_notes(features: pd.DataFrame) -> dict[str, list[str]]:
    """What training does with each kind of column (data/columns.py decides the kinds, as the schema records them)."""
    from mlops_helpers.data.columns import BOOLEAN, CATEGORICAL, DATETIME, IDENTIFIER, NUMERIC, detect

    kinds: dict[str, list[str]] = {}
    for name in features.columns:
        kinds.setdefault(detect(str(name), features[name]).kind, []).append(str(name))
    numeric, dates, ids = kinds.get(NUMERIC, []), kinds.get(DATETIME, []), kinds.get(IDENTIFIER, [])
    text, booleans = kinds.get(CATEGORICAL, []), kinds.get(BOOLEAN, [])
    encoded = (f"{_count(text, 'text column')}, one 0/1 column per value (onehot | ordinal | none): "
               f"{_listed([f'{c} ({features[c].nunique()} values)' for c in text])}." if text else
               "No text columns (onehot | ordinal | none).")
    if booleans:
        encoded += f" {_listed(booleans)}: true/false, read as 1/0."
    return {
        "numeric": _wrap(f"{_count(numeric, 'numeric column')}: scaled to mean 0 and variance 1 "
                         "(standard | minmax | robust | none)." if numeric else
                         "No numeric columns (standard | minmax | robust | none)."),
        "categorical": _wrap(encoded),
        "dates": _wrap(f"{_listed(dates)}: dates; the model sees each as numbers: its year, month, day, day of "
                       "the week (and hour), and the timestamp." if dates else ""),
        "drop": _wrap("Columns that are not features: IDs, free text, anything not known when a prediction is asked."
                      + (f" {_listed(ids)} look{'s' if len(ids) == 1 else ''} like an ID or free text (a different value "
                         "in almost every row): `mlops run` refuses it as a feature until it is listed here." if ids else "")),
    }


def _impute_note(features: pd.DataFrame) -> str:
    shares = features.isna().mean()
    gaps = [str(c) for c in features.columns if shares[c] > 0]
    if not gaps:
        return ("No missing values today; gaps in later data get the column's training median "
                "(median | mean | most_frequent | none; text columns: their most frequent value).")
    return (f"{_count(gaps, 'column')} with missing values (up to {shares.max():.1%} of rows): {_listed(gaps, 4)}. "
            "Gaps get the column's training median (median | mean | most_frequent | none; text columns: their "
            "most frequent value).")


def _listed(items: list[str], limit: int = LISTED_COLUMNS) -> str:
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _count(items: list[str], noun: str) -> str:
    return f"{len(items)} {noun}" + ("" if len(items) == 1 else "s")


def _text(label: Any) -> str:
    return repr(label) if isinstance(label, str) else str(label)


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(text, COMMENT_WIDTH) if text else []
