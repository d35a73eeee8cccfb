"""Reference statistics of a model version, computed once at training time.

Drift detection compares a window of live rows with these statistics, so monitoring never
re-reads the training data (which may be large, or gone). Per feature they hold:

- numeric: 20 quantile bins (edges and counts: PSI, Jensen-Shannon and the plots), 1,001
  quantiles (levels 0, 0.001, ..., 1: the reference CDF behind the KS and Wasserstein
  approximations of drift.py), mean, standard deviation;
- categorical: the count of every value, as a string;
- both: how many non-null rows were seen and the null rate.

The model's predictions on the reference rows are summarised the same way (`prediction`),
so a shift of the predicted labels (label shift) is caught like a feature's. The profile is
small (≈ 20 kB a numeric feature) and JSON, stored as reference.json beside the model.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_helpers.atomic_files import write_json_atomic
from mlops_helpers.errors import MlopsError

FORMAT = 1
FILE_NAME = "reference.json"
PREDICTION = "__prediction__"  # the live column holding the model's predictions
NUMERIC = "numeric"
CATEGORICAL = "categorical"
BINS = 20
QUANTILES = 1001  # CDF resolution 0.001: the KS approximation is within 0.002 of the exact statistic


class ReferenceProfileError(MlopsError, ValueError):
    """A reference profile (reference.json) is unreadable or invalid; the message names the field."""


@dataclass
class FeatureReference:
    """One column's reference statistics.

    Numeric bins: `counts[k]` holds the values in (edges[k], edges[k+1]], except that the first
    bin also holds everything at or below edges[1] and the last everything above edges[-2]:
    edges[0] and edges[-1] are the reference minimum and maximum, kept for plotting. Interior
    edges are the unique 5%, 10%, ..., 95% quantiles, so a discrete feature has fewer bins.
    `quantiles[i]` is the i/(len-1) quantile (inverted CDF: the smallest value v with
    F(v) >= i/(len-1)). Non-finite numbers count as nulls.
    """

    name: str
    kind: str  # "numeric" | "categorical"
    count: int  # non-null rows seen
    null_rate: float
    edges: list[float] | None
    counts: list[int] | None
    quantiles: list[float] | None
    mean: float | None
    std: float | None
    categories: dict[str, int] | None  # categorical: str(value) -> count


@dataclass
class ReferenceProfile:
    features: dict[str, FeatureReference]
    prediction: FeatureReference | None  # class labels -> categorical; regression -> numeric
    rows: int
    created_at: float

    @classmethod
    def build(cls, frame: pd.DataFrame, predictions: Any = None,
              categorical: list[str] | None = None) -> ReferenceProfile:
        """Profile every column of `frame` and, if given, the predictions on its rows.

        Columns of object, string, category and bool dtype are categorical, and so are those
        named in `categorical` (e.g. integer codes). Predictions are categorical unless they are
        floats (a regressor's); put PREDICTION in `categorical` to force float labels categorical.
        """
        chosen = set(categorical or [])
        unknown = chosen - set(frame.columns) - {PREDICTION}
        if unknown:
            raise ReferenceProfileError(f"categorical column(s) {sorted(map(str, unknown))} are not in the frame")
        features = {}
        for name in frame.columns:
            series = frame[name]
            if _is_categorical(series.dtype):
                chosen.add(name)
            elif name not in chosen and not pd.api.types.is_numeric_dtype(series.dtype):
                raise ReferenceProfileError(f"column {name!r} has dtype {series.dtype}, neither numeric nor "
                                            "categorical: convert it, drop it, or list it in `categorical`")
            features[str(name)] = profile_column(str(name), series, name in chosen)
        prediction = None
        if predictions is not None:
            series = pd.Series(np.asarray(predictions))
            if len(series) != len(frame):
                raise ReferenceProfileError(f"{len(series)} predictions for {len(frame)} rows")
            as_category = PREDICTION in chosen or series.dtype.kind != "f"
            prediction = profile_column(PREDICTION, series, as_category)
        return cls(features, prediction, len(frame), time.time())

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "rows": self.rows, "created_at": self.created_at,
                "features": [asdict(feature) for feature in self.features.values()],
                "prediction": asdict(self.prediction) if self.prediction else None}

    @classmethod
    def from_dict(cls, data: Any) -> ReferenceProfile:
        """Validate and rebuild; a ReferenceProfileError names the first bad field."""
        _require(isinstance(data, dict), "the profile", "is not a JSON object")
        _require(data.get("format") == FORMAT, "format", f"is {data.get('format')!r}, this version reads {FORMAT}")
        rows = _integer(data, "rows", "rows")
        created_at = _number(data, "created_at", "created_at")
        items = data.get("features")
        _require(isinstance(items, list), "features", "is not a list")
        features: dict[str, FeatureReference] = {}
        for index, item in enumerate(items):
            feature = _feature_from_dict(item, f"features[{index}]", rows)
            _require(feature.name not in features, f"features[{index}].name", f"repeats {feature.name!r}")
            features[feature.name] = feature
        raw_prediction = data.get("prediction")
        prediction = None if raw_prediction is None else _feature_from_dict(raw_prediction, "prediction", rows)
        return cls(features, prediction, rows, created_at)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write JSON atomically to `path`, or to `path`/reference.json if `path` is a directory."""
        target = _file(path)
        write_json_atomic(target, self.to_dict(), allow_nan=False, separators=(",", ":"))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ReferenceProfile:
        """Read `path` (or `path`/reference.json); errors name the file and the bad field."""
        target = _file(path)
        try:
            data = json.loads(target.read_text())
        except OSError as exc:
            raise ReferenceProfileError(f"{target}: cannot read the reference profile ({exc.strerror})") from None
        except ValueError as exc:
            raise ReferenceProfileError(f"{target}: not valid JSON ({exc})") from None
        try:
            return cls.from_dict(data)
        except ReferenceProfileError as exc:
            raise ReferenceProfileError(f"{target}: {exc}") from None


def profile_column(name: str, series: pd.Series, categorical: bool) -> FeatureReference:
    """The reference statistics of one column."""
    rows = len(series)
    if categorical:
        categories, nulls = category_counts(series)
        return FeatureReference(name, CATEGORICAL, rows - nulls, nulls / rows if rows else 0.0,
                                None, None, None, None, None, categories)
    values = numeric_values(series, name)
    values = np.sort(values[np.isfinite(values)])
    count = len(values)
    null_rate = (rows - count) / rows if rows else 0.0
    if not count:
        return FeatureReference(name, NUMERIC, 0, null_rate, None, None, None, None, None, None)
    # Inverted-CDF quantiles by integer arithmetic: rank ceil(i * count / (Q - 1)) - 1, exact.
    levels = np.arange(QUANTILES, dtype=np.int64)
    ranks = np.maximum((levels * count + QUANTILES - 2) // (QUANTILES - 1) - 1, 0)
    quantiles = values[ranks]
    step = (QUANTILES - 1) // BINS
    interior = np.unique(quantiles[step:QUANTILES - 1:step])
    below = np.searchsorted(values, interior, side="right")
    counts = np.diff(np.concatenate(([0], below, [count])))
    edges = np.concatenate(([values[0]], interior, [values[-1]]))
    return FeatureReference(name, NUMERIC, count, null_rate, edges.tolist(), counts.tolist(),
                            quantiles.tolist(), float(values.mean()), float(values.std()), None)


def numeric_values(series: pd.Series, name: str) -> np.ndarray:
    """float64 values with NaN for nulls; a view when the column already is float64."""
    if series.dtype == np.float64:
        return series.to_numpy()
    try:
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ReferenceProfileError(f"column {name!r} is numeric but holds non-numbers ({exc})") from None


def category_counts(series: pd.Series) -> tuple[dict[str, int], int]:
    """(value -> count with values as category_key strings, null count)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy()
        tally = np.bincount(codes[codes >= 0], minlength=len(series.cat.categories))
        pairs = zip(series.cat.categories, tally.tolist())
        nulls = int(np.count_nonzero(codes < 0))
    else:
        counted = series.value_counts(dropna=True, sort=False)
        pairs = zip(counted.index, counted.to_numpy().tolist())
        nulls = len(series) - int(counted.sum())
    counts: dict[str, int] = {}
    for value, count in pairs:
        if count:
            key = category_key(value)
            counts[key] = counts.get(key, 0) + int(count)
    return counts, nulls


def category_key(value: Any) -> str:
    """str(value), but 3.0 -> "3": an integer column with a null becomes float in pandas, and
    its categories must still match the reference's."""
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _is_categorical(dtype: Any) -> bool:
    return (isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype)
            or pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype))


def _file(path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    return target / FILE_NAME if target.is_dir() else target


# --- validation of from_dict -------------------------------------------------------------


def _require(condition: bool, where: str, problem: str) -> None:
    if not condition:
        raise ReferenceProfileError(f"{where} {problem}")


def _integer(data: dict[str, Any], key: str, where: str) -> int:
    value = data.get(key)
    _require(isinstance(value, int) and not isinstance(value, bool) and value >= 0, where,
             f"must be a non-negative integer, not {value!r}")
    return value


def _number(data: dict[str, Any], key: str, where: str) -> float:
    value = data.get(key)
    _require(isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value), where,
             f"must be a finite number, not {value!r}")
    return float(value)


def _sorted_numbers(data: dict[str, Any], key: str, where: str, minimum: int) -> list[float]:
    value = data.get(key)
    _require(isinstance(value, list) and len(value) >= minimum, where, f"must be a list of at least {minimum} numbers")
    _require(all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value), where,
             "must hold finite numbers only")
    _require(all(a <= b for a, b in zip(value, value[1:])), where, "must be in ascending order")
    return [float(v) for v in value]


def _feature_from_dict(data: Any, where: str, rows: int) -> FeatureReference:
    _require(isinstance(data, dict), where, "is not a JSON object")
    name = data.get("name")
    _require(isinstance(name, str), f"{where}.name", f"must be a string, not {name!r}")
    kind = data.get("kind")
    _require(kind in (NUMERIC, CATEGORICAL), f"{where}.kind", f"must be 'numeric' or 'categorical', not {kind!r}")
    count = _integer(data, "count", f"{where}.count")
    _require(count <= rows, f"{where}.count", f"({count}) exceeds the profile's rows ({rows})")
    null_rate = _number(data, "null_rate", f"{where}.null_rate")
    _require(0.0 <= null_rate <= 1.0, f"{where}.null_rate", f"must be within [0, 1], not {null_rate}")
    if kind == CATEGORICAL:
        categories = data.get("categories")
        _require(isinstance(categories, dict), f"{where}.categories", "must be an object of value -> count")
        _require(all(isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in categories.values()),
                 f"{where}.categories", "must hold positive integer counts")
        _require(sum(categories.values()) == count, f"{where}.categories", f"must add up to count ({count})")
        return FeatureReference(name, kind, count, null_rate, None, None, None, None, None, dict(categories))
    if count == 0:
        return FeatureReference(name, kind, 0, null_rate, None, None, None, None, None, None)
    edges = _sorted_numbers(data, "edges", f"{where}.edges", 3)
    counts = data.get("counts")
    _require(isinstance(counts, list) and len(counts) == len(edges) - 1, f"{where}.counts",
             f"must be a list of len(edges) - 1 = {len(edges) - 1} counts")
    _require(all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts), f"{where}.counts",
             "must hold non-negative integers")
    _require(sum(counts) == count, f"{where}.counts", f"must add up to count ({count})")
    quantiles = _sorted_numbers(data, "quantiles", f"{where}.quantiles", 2)
    mean = _number(data, "mean", f"{where}.mean")
    std = _number(data, "std", f"{where}.std")
    _require(std >= 0, f"{where}.std", "must not be negative")
    return FeatureReference(name, kind, count, null_rate, edges, [int(c) for c in counts], quantiles, mean, std, None)
