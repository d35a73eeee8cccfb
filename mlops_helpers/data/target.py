"""What a table's target column says before any training: the task it asks for and why, and its
classes. `mlops init --data` writes these choices into mlops.yaml, with the reasons as comments."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pandas.api import types as ptypes

from mlops_helpers.errors import MlopsError

TASKS = ("classification", "regression")
# More distinct numbers than this is a quantity to predict, not a set of classes.
MAX_NUMERIC_CLASSES = 20


@dataclass(frozen=True)
class TargetSummary:
    name: str
    task: str
    reason: str  # why this task, e.g. "target 'diagnosis' has 2 text values"
    rows: int  # rows with a value
    counts: dict[Any, int]  # classification: rows per class, classes in sorted order; regression: {}
    positive: Any = None  # binary: the class that f1, precision, recall and roc_auc score

    @property
    def classes(self) -> list[Any]:
        return list(self.counts)

    def majority(self) -> tuple[Any, float]:
        """The most common class and its share of the rows: what always answering it scores."""
        label = max(self.counts, key=lambda c: self.counts[c])
        return label, self.counts[label] / self.rows


def similar_names(name: str, columns: list[str], most: int) -> list[str]:
    """The columns closest to a misspelt `name`, best first; case is ignored, so `Label` finds `label`."""
    by_lower = {column.lower(): column for column in columns}
    return [by_lower[c] for c in difflib.get_close_matches(name.lower(), list(by_lower), n=most, cutoff=0.6)]


def require_column(columns: list[str], name: str, option: str, where: str) -> None:
    """One line naming the missing column, the closest names and every column of the table."""
    if name in columns:
        return
    close = similar_names(name, columns, 3)
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    raise MlopsError(f"{option}: column {name!r} is not in {where}{hint}; its columns: {', '.join(columns)}")


def summarise_target(values: pd.Series, name: str, declared: str | None = None) -> TargetSummary:
    """The task (`declared`, or inferred from the values) and the classes of target column `name`."""
    present = values.dropna()
    if present.empty:
        raise MlopsError(f"--target: column {name!r} has no values")
    distinct = present.unique()
    if len(distinct) == 1:
        raise MlopsError(f"--target: column {name!r} holds one value only ({_show(distinct[0])}): there is nothing to learn")
    numeric = ptypes.is_numeric_dtype(present) and not ptypes.is_bool_dtype(present)
    if declared == "regression" and not numeric:
        examples = ", ".join(_show(v) for v in distinct[:3])
        raise MlopsError(f"--task regression: target column {name!r} is not numeric (values such as {examples}); "
                         "a regression target must be a number (use --task classification)")
    task, reason = (declared, f"set by --task {declared}") if declared else _infer_task(present, name, numeric)
    if task == "regression":
        return TargetSummary(name, task, reason, len(present), {})
    counts = {_plain(k): int(v) for k, v in sorted(present.value_counts().items())}
    return TargetSummary(name, task, reason, len(present), counts, _positive(list(counts), present))


def _positive(classes: list[Any], present: pd.Series) -> Any:
    """The rule training applies when `training.positive_label` is unset; written into mlops.yaml
    so that the scored class stays put when new rows change which class is rarer."""
    from mlops_helpers.evaluation import positive_class

    return _plain(positive_class(classes, present)) if len(classes) == 2 else None


def _infer_task(present: pd.Series, name: str, numeric: bool) -> tuple[str, str]:
    distinct = present.nunique()
    if ptypes.is_bool_dtype(present) or ptypes.infer_dtype(present, skipna=True) == "boolean":
        return "classification", f"target {name!r} is boolean"
    if not numeric:
        return "classification", f"target {name!r} has {distinct} text values"
    if distinct > MAX_NUMERIC_CLASSES:
        return "regression", f"target {name!r} is numeric with {distinct} distinct values"
    return "classification", (f"target {name!r} has {distinct} distinct numbers, few enough to be classes; "
                              "--task regression if it is a quantity")


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value, so labels render in YAML and JSON as written."""
    return value.item() if hasattr(value, "item") else value


def _show(value: Any) -> str:
    value = _plain(value)
    return repr(value) if isinstance(value, str) else str(value)
