"""scikit-learn transformers for the column kinds that are neither numbers nor categories.

They sit inside the model's Pipeline (training.build_pipeline), so the saved model takes the
columns as the data holds them and /predict accepts the same raw values: "2024-03-01T14:30:00Z",
"yes". Models pickle these classes by their import path, `mlops_helpers.data.encoders`: keep it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from mlops_helpers.data.columns import BOOLEAN, DATETIME, EXPECTED, parse_booleans, parse_datetimes

DATE_PARTS = ("year", "month", "day", "day_of_week")
_EPOCH = pd.Timestamp(0, tz="UTC")


class DatetimeFeatures(TransformerMixin, BaseEstimator):
    """Each date/time column becomes numbers: `<col>_year`, `_month`, `_day`, `_day_of_week` (Monday 0),
    `_hour` when the training values have a time of day, and `_timestamp` (seconds since
    1970-01-01 UTC). Times with an offset are converted to UTC; a null gives NaN in each (the
    imputer after this step fills them); a value that is not a date is a ValueError naming it."""

    def fit(self, X: Any, y: Any = None) -> DatetimeFeatures:
        frame = _as_frame(X, getattr(X, "columns", None))
        self.feature_names_in_ = np.asarray([str(name) for name in frame.columns], dtype=object)
        self.n_features_in_ = frame.shape[1]
        self.parts_: dict[str, list[str]] = {}
        for name in self.feature_names_in_:
            parsed = _parse(frame[name], name)
            has_time = bool((parsed.dt.hour.fillna(0) + parsed.dt.minute.fillna(0) + parsed.dt.second.fillna(0)).any())
            self.parts_[name] = [*DATE_PARTS, *(["hour"] if has_time else []), "timestamp"]
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "parts_")
        frame = _as_frame(X, self.feature_names_in_)
        columns = []
        for name, parts in self.parts_.items():
            parsed = _parse(frame[name], name)
            for part in parts:
                values = (parsed - _EPOCH) / pd.Timedelta(seconds=1) if part == "timestamp" else getattr(parsed.dt, part)
                columns.append(pd.Series(values).to_numpy(dtype="float64", na_value=np.nan))
        return np.column_stack(columns) if columns else np.empty((len(frame), 0))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "parts_")
        return np.asarray([f"{name}_{part}" for name, parts in self.parts_.items() for part in parts], dtype=object)


class BooleanEncoder(TransformerMixin, BaseEstimator):
    """Booleans, true/false and yes/no (any case), 1/0 as 1.0 and 0.0; nulls as NaN for the imputer
    after this step; any other value is a ValueError naming it."""

    def fit(self, X: Any, y: Any = None) -> BooleanEncoder:
        frame = _as_frame(X, getattr(X, "columns", None))
        self.feature_names_in_ = np.asarray([str(name) for name in frame.columns], dtype=object)
        self.n_features_in_ = frame.shape[1]
        self.transform(frame)  # refuse what transform would refuse, at training time
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "feature_names_in_")
        frame = _as_frame(X, self.feature_names_in_)
        columns = []
        for name in self.feature_names_in_:
            values, bad = parse_booleans(frame[name])
            _refuse(frame[name], bad, name, BOOLEAN)
            columns.append(values)
        return np.column_stack(columns) if columns else np.empty((len(frame), 0))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "feature_names_in_")
        return self.feature_names_in_.copy()


def _as_frame(X: Any, names: Any) -> pd.DataFrame:
    """ColumnTransformer hands DataFrame slices over; arrays get the names seen at fit."""
    if isinstance(X, pd.DataFrame):
        return X.set_axis([str(name) for name in X.columns], axis=1)
    array = np.asarray(X, dtype=object)
    array = array.reshape(-1, 1) if array.ndim == 1 else array
    columns = list(names) if names is not None and len(names) == array.shape[1] else list(range(array.shape[1]))
    return pd.DataFrame(array, columns=[str(name) for name in columns])


def _parse(series: pd.Series, name: str) -> pd.Series:
    parsed, bad = parse_datetimes(series.reset_index(drop=True))
    _refuse(series, bad, name, DATETIME)
    return parsed


def _refuse(series: pd.Series, bad: np.ndarray, name: str, kind: str) -> None:
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"column {name!r}: row {row}: {series.iloc[row]!r} is not {EXPECTED[kind]}")
