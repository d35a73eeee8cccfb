"""Read a data table (CSV, or Parquet through pyarrow) with user-facing errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlops_helpers.errors import MlopsError

PARQUET_SUFFIXES = (".parquet", ".pq")


def read_table(path: Path) -> pd.DataFrame:
    """Load `path` into a DataFrame; every failure is an MlopsError that names the file."""
    path = Path(path)
    if not path.is_file():
        raise MlopsError(f"{path}: data file not found")
    if path.stat().st_size == 0:
        raise MlopsError(f"{path}: data file is empty")
    frame = _read_parquet(path) if path.suffix.lower() in PARQUET_SUFFIXES else _read_csv(path)
    if frame.columns.empty:
        raise MlopsError(f"{path}: the table has no columns")
    return frame


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        # pandas' wording for a file of blank lines; say what the user sees instead.
        raise MlopsError(f"{path}: the table has no columns (no header row)") from None
    except UnicodeDecodeError as exc:
        raise MlopsError(f"{path}: not a UTF-8 text CSV file ({exc.reason} at byte {exc.start})") from None
    except pd.errors.ParserError as exc:
        raise MlopsError(f"{path}: not a parseable CSV file: {exc}".rstrip()) from None


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path, engine="pyarrow")
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise MlopsError(f"{path}: not a readable Parquet file: {exc}") from None
