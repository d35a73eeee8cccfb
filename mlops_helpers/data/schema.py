"""Data schema: infer it from a reference table, keep it in git, validate new data against it.

A schema is a plain JSON-serialisable dict so that it diffs well in code review:

    {"version": 1, "target": "label", "row_count": 569, "order": ["a", ...],
     "columns": {"a": {"dtype": "float", "kind": "numeric", "required": true, "nullable": false,
                       "min": 0.1, "max": 9.5}}}

`kind` (data/columns.py) is how training treats the column; `dtype` is what validation checks.
Validation is vectorised (one pass of pandas operations per column and rule) and reports every
violation with a count and a few example rows, so one CI run shows everything that is wrong. The
null-rate and range rules weigh the batch size: a count is flagged only when chance alone would
rarely give it (a one-sided binomial tail below SIGNIFICANCE), so a 10-row batch is not failed for
one null that a 4 % null rate gives a third of the time.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import betabinom, binom

from mlops_helpers.data import columns as kinds_of
from mlops_helpers.errors import MlopsError
from mlops_helpers.junit import TestCase, write_junit

SCHEMA_VERSION = 1
DTYPES = ("int", "float", "bool", "string", "category", "datetime")
NUMERIC_DTYPES = ("int", "float")
MAX_EXAMPLES = 5
# A nullable column may have up to NULL_TOLERANCE times its reference null rate; more nulls are
# flagged only when that rate would give them with a probability below SIGNIFICANCE.
NULL_TOLERANCE = 1.5
SIGNIFICANCE = 0.001
# A float past the reference range by at least this share of the range's width is always flagged;
# closer ones only when more of them are past it than chance gives. Chance needs no assumption on the
# distribution: of N new values from it, the number below the minimum (or above the maximum) of the
# reference's n values follows a beta-binomial(N, 1, n) law (the ranks of N + n exchangeable values).
# Int columns (counts, codes, labels) keep hard bounds.
RANGE_MARGIN = 0.5
SUMMARY_LINES = 10


# --------------------------------------------------------------------------- inference


def infer_schema(df: pd.DataFrame, target: str | None = None, max_categories: int = 20) -> dict[str, Any]:
    """Describe `df`: dtype, nullability and range of each column, in the frame's column order."""
    names = _column_names(df)
    if target is not None and target not in names:
        raise MlopsError(f"target column '{target}' is not in the data (columns: {', '.join(names)})")
    if len(df) == 0:
        raise MlopsError("cannot infer a schema from a table with no rows")
    columns = {name: _infer_column(name, df.iloc[:, i], max_categories) for i, name in enumerate(names)}
    return {"version": SCHEMA_VERSION, "target": target, "row_count": len(df), "order": names, "columns": columns}


def _infer_column(name: str, series: pd.Series, max_categories: int) -> dict[str, Any]:
    detected = kinds_of.detect(name, series, max_categories)
    dtype = detected.dtype
    spec: dict[str, Any] = {"dtype": dtype, "kind": detected.kind, "required": True}
    null_fraction = float(series.isna().mean())
    spec["nullable"] = null_fraction > 0
    if null_fraction > 0:
        spec["max_null_fraction"] = round(null_fraction, 6)  # the reference's null rate
    if detected.categories is not None:
        spec["categories"] = detected.categories
    if dtype in NUMERIC_DTYPES:
        values = pd.Series(kinds_of.parse_numbers(series)[0]).dropna()
        if len(values):  # an all-null column has no range to keep
            cast = int if dtype == "int" else float
            spec["min"], spec["max"] = cast(values.min()), cast(values.max())
    return spec


# --------------------------------------------------------------------------- storage


def save_schema(schema: dict[str, Any], path: Path) -> Path:
    """Write stable, reviewable JSON (sorted keys; column order lives in `order`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def load_schema(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise MlopsError(f"{path}: schema file not found (create it with `mlops data infer-schema`)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MlopsError(f"{path}: schema file is not valid JSON: {exc}") from None
    problem = _schema_problem(raw)
    if problem:
        raise MlopsError(f"{path}: invalid schema: {problem}")
    return raw


def load_schema_if_present(path: Path) -> dict[str, Any] | None:
    """The schema at `path`, or None when there is no file (a broken one is still an error)."""
    return load_schema(path) if Path(path).is_file() else None


def _schema_problem(raw: Any) -> str | None:
    """The first structural problem in a loaded schema, or None."""
    if not isinstance(raw, dict):
        return f"the top level must be an object, got {type(raw).__name__}"
    if raw.get("version") != SCHEMA_VERSION:
        return f"version: {raw.get('version')!r} is not supported (expected {SCHEMA_VERSION})"
    columns = raw.get("columns")
    if not isinstance(columns, dict) or not columns:
        return "columns: must be a non-empty object of column name -> column spec"
    for name, spec in columns.items():
        if not isinstance(spec, dict):
            return f"columns.{name}: must be an object"
        if spec.get("dtype") not in DTYPES:
            return f"columns.{name}.dtype: {spec.get('dtype')!r} is not one of {', '.join(DTYPES)}"
        if "kind" in spec and spec["kind"] not in kinds_of.KINDS:
            return f"columns.{name}.kind: {spec['kind']!r} is not one of {', '.join(kinds_of.KINDS)}"
        if spec["dtype"] == "category" and not isinstance(spec.get("categories"), list):
            return f"columns.{name}.categories: a category column needs a list of categories"
    order = raw.get("order")
    if order is not None and (not isinstance(order, list) or sorted(order) != sorted(columns)):
        return "order: must list exactly the columns"
    target = raw.get("target")
    if target is not None and target not in columns:
        return f"target: {target!r} is not one of the columns"
    return None


# --------------------------------------------------------------------------- validation


@dataclass
class Violation:
    column: str
    rule: str  # missing_column, unexpected_column, dtype, nulls, min, max, category
    count: int  # offending rows, or 1 for a column-level problem
    message: str
    examples: list[dict[str, Any]] = field(default_factory=list)  # {"row": 0-based data row, "value": ...}


@dataclass
class ValidationReport:
    ok: bool
    rows: int
    violations: list[Violation] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # schema columns checked, for per-column reports

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "rows": self.rows, "violations": [asdict(v) for v in self.violations]}

    def summary(self) -> str:
        if self.ok:
            return f"data validation passed: {self.rows} rows, no violations"
        lines = [f"data validation failed: {self.rows} rows, {_plural(len(self.violations), 'violation')}"]
        lines += [f"  - {v.message}" for v in self.violations[:SUMMARY_LINES]]
        if len(self.violations) > SUMMARY_LINES:
            lines.append(f"  ... and {len(self.violations) - SUMMARY_LINES} more (see the JSON report)")
        return "\n".join(lines)


def validate_frame(df: pd.DataFrame, schema: dict[str, Any], allow_missing_target: bool = False) -> ValidationReport:
    """Check `df` against `schema`. A frame without the target column passes when
    `allow_missing_target` is set (prediction-time data has no labels)."""
    names = _column_names(df)
    df = df.set_axis(names, axis=1)
    columns: dict[str, dict[str, Any]] = schema["columns"]
    order: list[str] = schema.get("order") or list(columns)
    reference_rows = schema.get("row_count")
    present = set(names)
    violations: list[Violation] = []
    for name in order:
        spec = columns[name]
        if name in present:
            violations += _check_column(name, df[name], spec, reference_rows)
        elif spec.get("required", True) and not (allow_missing_target and name == schema.get("target")):
            violations.append(Violation(name, "missing_column", 1, f"column '{name}': required column is missing"))
    violations += [
        Violation(name, "unexpected_column", 1, f"column '{name}': not in the schema (unexpected column)")
        for name in names
        if name not in columns
    ]
    return ValidationReport(ok=not violations, rows=len(df), violations=violations, columns=list(order))


def _check_column(name: str, series: pd.Series, spec: dict[str, Any], reference_rows: int | None) -> list[Violation]:
    nulls = series.isna().to_numpy()
    found = [_check_nulls(name, series, nulls, spec)]
    dtype = spec["dtype"]
    if dtype in NUMERIC_DTYPES:
        numeric = kinds_of.parse_numbers(series)[0]
        # 2.5 in an int column is wrong; 2.0 (an int read with gaps) is not
        usable = np.isfinite(numeric) & (numeric == np.floor(numeric)) if dtype == "int" else ~np.isnan(numeric)
        found.append(_violation(name, "dtype", series, ~nulls & ~usable, f"not coercible to {dtype}"))
        found += _check_range(name, numeric, spec, reference_rows)
    elif dtype == "bool":
        found.append(_violation(name, "dtype", series, kinds_of.parse_booleans(series)[1], "not coercible to bool"))
    elif dtype == "datetime":
        found.append(_violation(name, "dtype", series, kinds_of.parse_datetimes(series)[1],
                                "not a date or time (YYYY-MM-DD, optionally with a time and an offset)"))
    elif dtype == "category":
        known = spec["categories"]
        bad = ~nulls & ~series.astype(str).isin(known).to_numpy()
        found.append(_violation(name, "category", series, bad, "not in the schema's categories"))
    return [violation for violation in found if violation is not None]


def _check_nulls(name: str, series: pd.Series, nulls: np.ndarray, spec: dict[str, Any]) -> Violation | None:
    count = int(nulls.sum())
    if count == 0:
        return None
    if not spec.get("nullable", False):
        return _violation(name, "nulls", series, nulls, "but the column is not nullable", noun="null value")
    if "max_null_fraction" not in spec:  # nullable with no reference rate: any number of nulls
        return None
    reference = float(spec["max_null_fraction"])
    allowed = min(1.0, NULL_TOLERANCE * reference)
    chance = float(binom.sf(count - 1, len(series), allowed))
    if chance >= SIGNIFICANCE:
        return None
    detail = (f"({count / len(series):.1%} of {len(series)} rows), above the allowed {allowed:.1%} "
              f"({NULL_TOLERANCE:g} × the reference {reference:.1%}) beyond chance ({_p(chance)})")
    return _violation(name, "nulls", series, nulls, detail, noun="null value")


def _check_range(name: str, numeric: np.ndarray, spec: dict[str, Any], reference_rows: int | None) -> list[Violation | None]:
    """Values below min or above max (NaN compares False: nulls and non-numbers drop out). Hard
    bounds for ints and for a schema without the reference's row count (a hand-written one)."""
    low, high = spec.get("min"), spec.get("max")
    statistical = spec["dtype"] == "float" and bool(reference_rows) and low is not None and high is not None
    margin = RANGE_MARGIN * (high - low) if low is not None and high is not None else 0.0
    seen = max(1, round((reference_rows or 0) * (1 - spec.get("max_null_fraction", 0.0))))  # non-null reference values
    found: list[Violation | None] = []
    for rule, bound, sign in (("min", low, -1), ("max", high, 1)):
        if bound is None:
            continue
        outside = sign * numeric > sign * bound
        count = int(outside.sum())
        if count == 0:
            continue
        detail = f"{'below' if sign < 0 else 'above'} {rule} {bound}"
        if statistical:
            far = sign * numeric >= sign * bound + margin
            chance = float(betabinom.sf(count - 1, len(numeric), 1, seen))
            if chance >= SIGNIFICANCE:
                outside = far  # as many near the bound as chance gives: only the far ones count
            elif far.sum() < count:
                detail += (f", more than chance puts past the range of {seen} reference values "
                           f"({_p(chance)})")
        found.append(_violation(name, rule, numeric, outside, detail))
    return found


def _violation(
    name: str, rule: str, values: Any, bad: np.ndarray, detail: str, noun: str = "value"
) -> Violation | None:
    """A violation for the rows flagged in `bad`, with the first few as examples; None if none are."""
    rows = np.flatnonzero(bad)
    if len(rows) == 0:
        return None
    source = values.iloc if isinstance(values, pd.Series) else values
    examples = [{"row": int(row), "value": _json_safe(source[row])} for row in rows[:MAX_EXAMPLES]]
    first = examples[0]
    shown = f"row {first['row']}" if first["value"] is None else f"row {first['row']}: {_show(first['value'])}"
    message = f"column '{name}': {_plural(len(rows), noun)} {detail} (e.g. {shown})"
    return Violation(name, rule, len(rows), message, examples)


# --------------------------------------------------------------------------- JUnit


def report_to_junit(report: ValidationReport, path: Path, suite_name: str = "data-validation") -> Path:
    """One test case per schema column, plus `table` for columns the schema does not know."""
    by_column: dict[str, list[Violation]] = {}
    for violation in report.violations:
        by_column.setdefault(violation.column, []).append(violation)
    cases = [_junit_case(column, f"data.{column}", by_column.get(column, [])) for column in report.columns]
    unexpected = [v for v in report.violations if v.rule == "unexpected_column"]
    cases.append(_junit_case("table", "data", unexpected))
    return write_junit(Path(path), suite_name, cases)


def _junit_case(name: str, classname: str, violations: list[Violation]) -> TestCase:
    if not violations:
        return TestCase(name=name, classname=classname)
    messages = [v.message for v in violations]
    return TestCase(name=name, classname=classname, failure="; ".join(messages), details="\n".join(messages))


# --------------------------------------------------------------------------- helpers


def _column_names(df: pd.DataFrame) -> list[str]:
    names = [str(name) for name in df.columns]
    duplicated = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicated:
        raise MlopsError(f"duplicate column names: {', '.join(duplicated)}")
    return names


def _json_safe(value: Any) -> Any:
    """A cell value as something json.dumps accepts (strictly: no NaN/inf)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else (None if math.isnan(value) else str(value))
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)


def _p(chance: float) -> str:
    return f"p = {chance:.1g} < {SIGNIFICANCE:g}" if chance >= 1e-12 else "p < 1e-12"


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
