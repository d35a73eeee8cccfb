"""Column kinds: what each column of a table is, decided once from the data and kept in the schema.

`mlops data infer-schema` records each column's kind in data/schema.json, and training takes the
kinds from there, so a later file with one bad value cannot turn a number column into text:

- numeric: numbers (a text column whose values are at least 90 % numbers is numeric, and its
  other values are errors, never categories);
- boolean: booleans, or text holding only true/false or only yes/no (any case);
- categorical: any other text with few enough distinct values, or a pandas category;
- datetime: ISO 8601 dates and timestamps (2024-03-01, 2024-03-01 14:30, 2024-03-01T14:30:00Z,
  with an offset), at least 90 % of the values; a model sees them through encoders.py's
  DatetimeFeatures;
- identifier: text with more than 50 distinct values that are more than half of the rows (IDs,
  free text), or a column named like an ID (`id`, `customer_id`, `CustomerID`, pandas' `Unnamed: 0`)
  whose values are all different. Never a feature: training refuses it and names
  `training.preprocessing.drop`.

Training also checks the target (a single class, a class with one row) and warns about columns that
hold one value only (kept as features: they cost nothing and the API keeps its inputs).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from mlops_helpers.errors import MlopsError

NUMERIC, BOOLEAN, CATEGORICAL, DATETIME, IDENTIFIER = "numeric", "boolean", "categorical", "datetime", "identifier"
KINDS = (NUMERIC, BOOLEAN, CATEGORICAL, DATETIME, IDENTIFIER)
# What a schema dtype alone says about the kind (category and string columns may also be identifiers).
KIND_OF_DTYPE = {"int": NUMERIC, "float": NUMERIC, "bool": BOOLEAN, "datetime": DATETIME}

TRUE_TEXT = frozenset({"true", "yes", "1", "1.0"})
FALSE_TEXT = frozenset({"false", "no", "0", "0.0"})
# A text column is boolean only when all its values belong to one of these pairs: "y"/"n" or "1"/"0"
# alone are too often codes of something else.
BOOL_PAIRS = (frozenset({"true", "false"}), frozenset({"yes", "no"}))
# A text column with at least this share of numbers (or dates) is numeric (or datetime): the rest
# are typos to report, not a reason to make the column text.
TYPED_SHARE = 0.9
ID_MIN_DISTINCT = 50
ID_UNIQUE_SHARE = 0.5
# id, customer_id, "order id", id_card, uuid, pandas' written-out index "Unnamed: 0"; not paid or grid.
_ID_NAME = re.compile(r"(^|[_\s.-])(uu|gu)?id$|^id[_\s.-]|^Unnamed: \d+$", re.IGNORECASE)
_CAMEL_ID = re.compile(r"[a-z]I[dD]$")  # CustomerID, customerId; not Valid
_DATE = re.compile(
    r"^\s*\d{4}[-/]\d{1,2}[-/]\d{1,2}"  # 2024-03-01 or 2024/03/01: year first, never ambiguous
    r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?"  # T14:30, 14:30:05.123
    r"\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?\s*$"  # Z, +02:00, -0500
)
EXPECTED = {NUMERIC: "a number", BOOLEAN: "true/false or yes/no",
            DATETIME: "a date or time such as 2024-03-01 or 2024-03-01T14:30:00Z"}
MAX_SHOWN = 5


@dataclass(frozen=True)
class ColumnKind:
    kind: str
    dtype: str  # the schema's dtype: int, float, bool, category, string, datetime
    categories: list[str] | None = None


# --------------------------------------------------------------------------- detection


def detect(name: str, series: pd.Series, max_categories: int = 20) -> ColumnKind:
    """The kind and schema dtype of one column, from its values (and, for IDs, its name)."""
    dtype = series.dtype
    values = series.dropna()
    if ptypes.is_bool_dtype(dtype):
        return ColumnKind(BOOLEAN, "bool")
    if ptypes.is_datetime64_any_dtype(dtype):
        return ColumnKind(DATETIME, "datetime")
    if isinstance(dtype, pd.CategoricalDtype):
        return ColumnKind(CATEGORICAL, "category", sorted(str(value) for value in dtype.categories))
    if ptypes.is_numeric_dtype(dtype):
        number = "int" if ptypes.is_integer_dtype(dtype) else "float"
        return ColumnKind(IDENTIFIER if _named_like_an_id(name, values) else NUMERIC, number)
    if not (ptypes.is_object_dtype(dtype) or ptypes.is_string_dtype(dtype)):
        return ColumnKind(CATEGORICAL, "string")  # periods, intervals...: presence and nulls only
    return _detect_text(name, values, max_categories)


def _detect_text(name: str, values: pd.Series, max_categories: int) -> ColumnKind:
    """Object and string columns: Python values (booleans with gaps) or text from a CSV."""
    if values.empty:
        return ColumnKind(CATEGORICAL, "string")
    python_kind = ptypes.infer_dtype(values, skipna=True)
    spellings = _text_set(values)
    if python_kind == "boolean" or (spellings and any(spellings <= pair for pair in BOOL_PAIRS)):
        return ColumnKind(BOOLEAN, "bool")
    numbers, bad = parse_numbers(values)
    if 1 - bad.mean() >= TYPED_SHARE:
        present = numbers[~bad]
        integral = bool(np.all(present == np.floor(present)))
        number = "int" if integral else "float"
        return ColumnKind(IDENTIFIER if _named_like_an_id(name, values) else NUMERIC, number)
    if 1 - parse_datetimes(values)[1].mean() >= TYPED_SHARE:
        return ColumnKind(DATETIME, "datetime")
    distinct = values.astype(str).unique()
    if _named_like_an_id(name, values) or _many_distinct(len(distinct), len(values)):
        return ColumnKind(IDENTIFIER, "string")
    if len(distinct) <= max_categories:
        return ColumnKind(CATEGORICAL, "category", sorted(distinct.tolist()))
    return ColumnKind(CATEGORICAL, "string")


def _text_set(values: pd.Series) -> frozenset[str]:
    distinct = values.astype(str).str.strip().str.lower().unique()
    return frozenset(distinct) if len(distinct) <= 2 else frozenset()


def _named_like_an_id(name: str, values: pd.Series) -> bool:
    named = bool(_ID_NAME.search(name) or _CAMEL_ID.search(name))
    return named and len(values) >= 2 and values.nunique() == len(values)


def _many_distinct(distinct: int, rows: int) -> bool:
    return distinct > ID_MIN_DISTINCT and distinct > ID_UNIQUE_SHARE * rows


# --------------------------------------------------------------------------- parsing


def parse_numbers(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(float values with NaN for nulls, mask of the non-null values that are not numbers)."""
    nulls = series.isna().to_numpy()
    values = pd.to_numeric(series, errors="coerce").astype("float64").to_numpy()
    return values, ~nulls & np.isnan(values)


def parse_booleans(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(1.0 / 0.0 with NaN for nulls, mask of the non-null values that are not booleans)."""
    nulls = series.isna().to_numpy()
    if ptypes.is_bool_dtype(series.dtype):
        return series.to_numpy(dtype="float64"), np.zeros(len(series), dtype=bool)
    text = series.astype(str).str.strip().str.lower()
    values = np.where(text.isin(TRUE_TEXT), 1.0, np.where(text.isin(FALSE_TEXT), 0.0, np.nan))
    values[nulls] = np.nan
    return values, ~nulls & np.isnan(values)


def parse_datetimes(series: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """(UTC timestamps with NaT for nulls, mask of the non-null values that are not dates).

    Times without an offset are taken as UTC, times with one are converted to UTC, so one column
    never mixes clocks."""
    nulls = series.isna().to_numpy()
    if ptypes.is_datetime64_any_dtype(series.dtype):
        return pd.to_datetime(series, utc=True), np.zeros(len(series), dtype=bool)
    text = series.astype(str).where(~nulls)
    looks = text.str.match(_DATE).fillna(False).to_numpy(dtype=bool)
    parsed = pd.to_datetime(text.where(looks), format="ISO8601", utc=True, errors="coerce")
    return parsed, ~nulls & parsed.isna().to_numpy()


# --------------------------------------------------------------------------- training's checks


def column_kinds(frame: pd.DataFrame, schema: dict[str, Any] | None) -> tuple[dict[str, str], set[str]]:
    """Each column's kind: from the schema when it says (the second value: those columns), else from
    the data. A schema from before kinds gives them through its dtypes."""
    specs = (schema or {}).get("columns", {})
    kinds: dict[str, str] = {}
    declared: set[str] = set()
    for name in frame.columns:
        spec = specs.get(name) or {}
        kind = spec.get("kind") or KIND_OF_DTYPE.get(spec.get("dtype", ""))
        if kind:
            declared.add(name)
        kinds[name] = kind or detect(name, frame[name]).kind
    return kinds, declared


def refuse_identifiers(frame: pd.DataFrame, kinds: dict[str, str], drop: Iterable[str], schema_label: str) -> None:
    """One line naming every ID-like or free-text feature and the drop list that removes them."""
    refused = [name for name, kind in kinds.items() if kind == IDENTIFIER]
    if not refused:
        return
    counts = ", ".join(f"{name!r} ({_distinct(frame[name])})" for name in refused)
    what = f"column {counts} looks like an ID or free text, not a feature" if len(refused) == 1 else \
        f"columns {counts} look like IDs or free text, not features"
    raise MlopsError(f"{what}: set training.preprocessing.drop: [{', '.join([*drop, *refused])}] (or, to keep "
                     f"{'it' if len(refused) == 1 else 'one'} as a category, set its kind to {CATEGORICAL} in {schema_label})")


def _distinct(series: pd.Series) -> str:
    return f"{series.nunique()} distinct values in {series.notna().sum()} rows"


def enforce_kinds(frame: pd.DataFrame, kinds: dict[str, str], declared: set[str], schema_label: str) -> pd.DataFrame:
    """The frame with each column's values held to its kind: numbers as numbers, dates and booleans
    checked (the Pipeline reads them); the first value that breaks a kind is an error naming the
    column, the data row (from 1, after the header) and the value."""
    columns = {}
    for name, kind in kinds.items():
        series = frame[name]
        if kind == NUMERIC and not (ptypes.is_numeric_dtype(series.dtype) and not ptypes.is_bool_dtype(series.dtype)):
            values, bad = parse_numbers(series)
            _refuse_values(name, kind, series, bad, name in declared, schema_label)
            columns[name] = pd.Series(values, index=series.index, name=name)
        elif kind == BOOLEAN:
            values, bad = parse_booleans(series)
            _refuse_values(name, kind, series, bad, name in declared, schema_label)
            if ptypes.infer_dtype(series, skipna=True) == "boolean" and series.isna().any():
                # Python booleans with gaps: a CSV gives them back as booleans, which /predict would
                # refuse for an object column; 1.0 / 0.0 / null survive the round trip as numbers.
                columns[name] = pd.Series(values, index=series.index, name=name)
        elif kind == DATETIME:
            parsed, bad = parse_datetimes(series)
            _refuse_values(name, kind, series, bad, name in declared, schema_label)
            if ptypes.is_datetime64_any_dtype(series.dtype):  # as /predict receives them: ISO text
                text = parsed.dt.strftime("%Y-%m-%dT%H:%M:%S%z").astype(object)
                columns[name] = text.where(series.notna().to_numpy(), None)
    return frame.assign(**columns) if columns else frame


def _refuse_values(name: str, kind: str, series: pd.Series, bad: np.ndarray, declared: bool, schema_label: str) -> None:
    rows = np.flatnonzero(bad)
    if len(rows) == 0:
        return
    value = series.iloc[rows[0]]
    shown = ", ".join(str(row + 1) for row in rows[:MAX_SHOWN]) + (", …" if len(rows) > MAX_SHOWN else "")
    more = f" ({len(rows)} such rows: {shown})" if len(rows) > 1 else ""
    if declared:
        why = f"though {schema_label} makes the column {kind}: fix the value, or the column's kind in the schema"
    else:
        why = (f"though the column's other values make it {kind}: fix the value, or set the column's kind "
               f"to {CATEGORICAL} in {schema_label} (mlops data infer-schema writes it)")
    raise MlopsError(f"column {name!r}: data row {rows[0] + 1} holds {_show(value)}, which is not "
                     f"{EXPECTED[kind]}{more}, {why}")


def constant_features(frame: pd.DataFrame, target: str, drop: Iterable[str]) -> list[str]:
    """constant_columns of the columns training uses as features."""
    return constant_columns(frame.drop(columns=[target, *drop], errors="ignore"))


def constant_columns(frame: pd.DataFrame) -> list[str]:
    """One warning per column with a single value (or none) in every row."""
    warnings = []
    for name in frame.columns:
        distinct = frame[name].dropna().unique()
        if len(distinct) > 1:
            continue
        holds = f"the same value ({_show(distinct[0])}) in every row" if len(distinct) else "no value in any row"
        if len(distinct) and frame[name].isna().any():
            holds = f"one value ({_show(distinct[0])}) or nothing in every row"
        warnings.append(f"column {name!r} holds {holds}: it cannot help the model; kept as a feature "
                        f"(training.preprocessing.drop removes it)")
    return warnings


def schema_notes(schema: dict[str, Any], frame: pd.DataFrame, drop: Iterable[str]) -> tuple[list[str], list[str]]:
    """What `mlops data infer-schema` says about the kinds it found: (notes, warnings)."""
    specs: dict[str, dict[str, Any]] = schema["columns"]
    features = [name for name in specs if name != schema.get("target") and name not in set(drop)]
    counts: dict[str, int] = {}
    for name in features:
        counts[specs[name]["kind"]] = counts.get(specs[name]["kind"], 0) + 1
    notes = [f"feature kinds: {', '.join(f'{count} {kind}' for kind, count in counts.items())}"]
    notes += [f"column {name!r}: dates and times, expanded into year, month, day, day of week, hour (when the "
              f"values have a time) and timestamp features" for name in features if specs[name]["kind"] == DATETIME]
    warnings = [f"column {name!r} looks like an ID or free text ({_distinct(frame[name])}): training refuses it "
                f"as a feature; add it to training.preprocessing.drop" for name in features if specs[name]["kind"] == IDENTIFIER]
    warnings += constant_columns(frame[[name for name in features if specs[name]["kind"] != IDENTIFIER]])
    return notes, warnings


def check_target(target: pd.Series, name: str, task: str) -> None:
    """A target that training cannot learn from is an error naming the column (and the classes)."""
    missing = np.flatnonzero(target.isna().to_numpy())
    if len(missing):
        rows = ", ".join(str(row + 1) for row in missing[:MAX_SHOWN]) + (", …" if len(missing) > MAX_SHOWN else "")
        raise MlopsError(f"data.target: column {name!r} is empty in {len(missing)} "
                         f"row{'s' if len(missing) > 1 else ''} (data rows {rows}); fill them or remove those rows")
    if task != "classification":
        return
    counts = target.value_counts()
    if len(counts) == 1:
        raise MlopsError(f"data.target: column {name!r} has a single class ({_show(counts.index[0])}, all "
                         f"{len(target)} rows); a classifier needs at least two")
    single = [label for label, count in counts.items() if count == 1]
    if single:
        shown = ", ".join(_show(label) for label in single[:MAX_SHOWN]) + (", …" if len(single) > MAX_SHOWN else "")
        classes = f"class {shown} has" if len(single) == 1 else f"{len(single)} classes ({shown}) have"
        hint = " (a regression target? use a regressor)" if len(single) > len(target) / 2 else ""
        raise MlopsError(f"data.target: {classes} one row only in column {name!r}; each class needs at least 2 "
                         f"(one to train on, one to evaluate): add rows or remove the class{hint}")


def _show(value: Any) -> str:
    value = value.item() if isinstance(value, np.generic) else value
    return repr(value) if isinstance(value, str) else str(value)
