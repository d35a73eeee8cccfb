"""Request bodies to feature columns, checked against the model's feature schema.

Two shapes are accepted, one row or many:
  {"records": [{"f1": 1.0, "f2": "a"}, ...]}        row-oriented
  {"columns": {"f1": [1.0, ...], "f2": ["a", ...]}}  column-oriented
Every problem is an InputError with an HTTP status and a message that names it, so a bad
request never becomes a 500.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson

from mlops_helpers.serving.model import Feature


class InputError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


Columns = dict[str, np.ndarray]


def parse_body(body: bytes, features: list[Feature], max_rows: int) -> tuple[Columns, int]:
    """Parse and check a request body; returns feature columns and the row count."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InputError(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict) or len(payload) != 1 or not ({"records", "columns"} & payload.keys()):
        raise InputError(422, 'body must be an object with exactly one key: "records" (a list of rows) or "columns"')
    if "records" in payload:
        raw, rows = _from_records(payload["records"], features)
    else:
        raw, rows = _from_columns(payload["columns"], features)
    if rows > max_rows:
        raise InputError(413, f"batch of {rows} rows is over the limit of {max_rows}")
    return {f.name: _typed_column(f, raw[f.name]) for f in features}, rows


def _from_records(records: Any, features: list[Feature]) -> tuple[dict[str, list], int]:
    if not isinstance(records, list):
        raise InputError(422, '"records" must be a list of objects, one per row')
    if not records:
        raise InputError(422, "empty batch: send at least one row")
    names = [f.name for f in features]
    try:
        columns = {name: [record[name] for record in records] for name in names}
    except (KeyError, TypeError):
        _explain_bad_record(records, names)
        raise
    for index, record in enumerate(records):
        if len(record) != len(names):
            extra = sorted(set(record) - set(names))
            raise InputError(422, f"row {index}: unknown feature(s): {', '.join(map(repr, extra))}")
    return columns, len(records)


def _explain_bad_record(records: list, names: list[str]) -> None:
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise InputError(422, f"row {index}: must be an object of feature values, got {type(record).__name__}")
        missing = [name for name in names if name not in record]
        if missing:
            raise InputError(422, f"row {index}: missing feature(s): {', '.join(map(repr, missing))}")


def _from_columns(columns: Any, features: list[Feature]) -> tuple[dict[str, list], int]:
    if not isinstance(columns, dict):
        raise InputError(422, '"columns" must be an object mapping each feature to a list of values')
    names = {f.name for f in features}
    missing = [f.name for f in features if f.name not in columns]
    if missing:
        raise InputError(422, f"missing feature(s): {', '.join(map(repr, missing))}")
    extra = sorted(set(columns) - names)
    if extra:
        raise InputError(422, f"unknown feature(s): {', '.join(map(repr, extra))}")
    lengths = {len(values) if isinstance(values, list) else -1 for values in columns.values()}
    if -1 in lengths:
        bad = next(name for name, values in columns.items() if not isinstance(values, list))
        raise InputError(422, f"feature {bad!r}: must be a list of values")
    if len(lengths) != 1:
        raise InputError(422, "all feature columns must have the same length")
    rows = lengths.pop()
    if rows == 0:
        raise InputError(422, "empty batch: send at least one row")
    return columns, rows


def _typed_column(feature: Feature, values: list) -> np.ndarray:
    if not feature.nullable and None in values:
        raise InputError(422, f"feature {feature.name!r}: null at row {values.index(None)}, and this feature may not be null")
    if feature.boolean:
        if any(type(v) is not bool and v is not None for v in values):
            raise _type_error(feature, values, "true or false", lambda v: type(v) is bool or v is None)
        return np.array(values, dtype=object)
    if not feature.numeric:
        if any(type(v) is not str and v is not None for v in values):
            raise _type_error(feature, values, "a string", lambda v: type(v) is str or v is None)
        return np.array(values, dtype=object)
    # Only JSON numbers: numpy alone would also take "1.5", "nan" or [1] (a 2-D column), and
    # bool is an int in Python; a JSON true sent for a number is a client bug, not a 1.
    if any(type(v) not in (int, float) and v is not None for v in values):
        raise _type_error(feature, values, "a number", lambda v: v is None or type(v) in (int, float))
    try:
        column = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise _type_error(feature, values, "a number", lambda v: v is None or type(v) in (int, float)) from None
    if not np.isfinite(column[~np.isnan(column)] if feature.nullable else column).all():
        bad = next(i for i, v in enumerate(values) if v is not None and not math.isfinite(v))
        raise InputError(422, f"feature {feature.name!r}: row {bad}: {values[bad]!r} is not a finite number")
    return column


def _type_error(feature: Feature, values: list, expected: str, ok) -> InputError:
    index = next(i for i, v in enumerate(values) if not ok(v))
    shown = orjson.dumps(values[index]).decode()[:60]
    return InputError(422, f"feature {feature.name!r}: row {index}: expected {expected}, got {shown}")
