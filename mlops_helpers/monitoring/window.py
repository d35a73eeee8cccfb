"""A window of the prediction log: the live inputs and predictions, and the ground truth fed back.

The model server writes one JSON line per request (`inputs` as columns, `predictions`) and one per
`POST /feedback` (`type: feedback`, the `labels` and the `correct` count or `abs_error_sum`), to
`predictions.<pid>.jsonl` files rotated to `.1`, `.2`, ... (serving/predlog.py). The local rollout
backend keeps them under `.mlops/deploy/<env>/predictions/v<version>/`.

The rows are handed out as DataFrame chunks, so a large window never sits in memory at once (the
drift detector accumulates counts chunk by chunk). Files are read newest first and reading stops
at `max_rows`, which bounds the work of one check.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_helpers.errors import MlopsError

PREDICTION_COLUMN = "__prediction__"
CHUNK_ROWS = 50_000


@dataclass
class Feedback:
    """Ground truth joined to predictions by request id, in time buckets for the report."""

    rows: int = 0
    correct: int = 0
    abs_error_sum: float = 0.0
    labels: dict[str, int] = field(default_factory=dict)  # label -> count: the live label distribution
    buckets: dict[int, list[float]] = field(default_factory=dict)  # bucket start -> [rows, correct]

    def add(self, record: dict[str, Any], bucket_seconds: float) -> None:
        labels = record.get("labels") or []
        rows = len(labels)
        self.rows += rows
        self.correct += int(record.get("correct") or 0)
        self.abs_error_sum += float(record.get("abs_error_sum") or 0.0)
        for label in labels:
            key = str(label)
            self.labels[key] = self.labels.get(key, 0) + 1
        start = int(float(record.get("time", 0.0)) // bucket_seconds * bucket_seconds)
        bucket = self.buckets.setdefault(start, [0.0, 0.0])
        bucket[0] += rows
        bucket[1] += int(record.get("correct") or 0)

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.rows if self.rows else None

    def history(self) -> list[dict[str, float]]:
        return [{"time": float(start), "rows": rows, "accuracy": correct / rows}
                for start, (rows, correct) in sorted(self.buckets.items()) if rows]


@dataclass
class LogWindow:
    """What a pass over the log found; `chunks()` may be consumed once."""

    folder: Path
    since: float
    until: float
    features: list[str]
    max_rows: int
    rows: int = 0
    requests: int = 0
    skipped: int = 0  # lines that were not valid JSON records (a torn last line, a foreign file)
    first: float | None = None
    last: float | None = None
    feedback: Feedback = field(default_factory=Feedback)

    def chunks(self, bucket_seconds: float = 300.0) -> Iterator[Any]:
        """DataFrames of at most CHUNK_ROWS rows: the feature columns and PREDICTION_COLUMN."""
        import orjson
        import pandas as pd

        columns: dict[str, list[Any]] = {name: [] for name in [*self.features, PREDICTION_COLUMN]}
        buffered = 0
        for path in log_files(self.folder):
            if self.rows >= self.max_rows:
                break
            with open(path, "rb") as handle:
                for line in handle:
                    try:
                        record = orjson.loads(line)
                    except orjson.JSONDecodeError:
                        self.skipped += 1
                        continue
                    if not isinstance(record, dict):
                        self.skipped += 1
                        continue
                    moment = record.get("time")
                    if not isinstance(moment, (int, float)) or not self.since <= moment <= self.until:
                        continue
                    if record.get("type") == "feedback":
                        self.feedback.add(record, bucket_seconds)
                        continue
                    added = self._add_request(record, columns)
                    if not added:
                        continue
                    self.first = moment if self.first is None else min(self.first, moment)
                    self.last = moment if self.last is None else max(self.last, moment)
                    buffered += added
                    if buffered >= CHUNK_ROWS:
                        yield pd.DataFrame(columns)
                        columns = {name: [] for name in columns}
                        buffered = 0
                    if self.rows >= self.max_rows:
                        break
        if buffered:
            yield pd.DataFrame(columns)

    def _add_request(self, record: dict[str, Any], columns: dict[str, list[Any]]) -> int:
        inputs, predictions = record.get("inputs"), record.get("predictions")
        if not isinstance(inputs, dict) or not isinstance(predictions, list):
            self.skipped += 1
            return 0
        missing = [name for name in self.features if name not in inputs]
        if missing:
            raise MlopsError(f"{self.folder}: a logged request (id {record.get('request_id')}) has no "
                             f"column {missing[0]!r}; the model being checked expects "
                             f"{', '.join(self.features)}. Is this the log of another model version?")
        rows = len(predictions)
        if any(len(inputs[name]) != rows for name in self.features):
            self.skipped += 1
            return 0
        for name in self.features:
            columns[name].extend(inputs[name])
        columns[PREDICTION_COLUMN].extend(predictions)
        self.rows += rows
        self.requests += 1
        return rows


def open_window(folder: Path, features: list[str], window_seconds: float, max_rows: int,
                now: float | None = None) -> LogWindow:
    """The last `window_seconds` of the log in `folder` (which must exist)."""
    if not folder.is_dir():
        raise MlopsError(f"no prediction log at {folder}: serve the model with --prediction-log "
                         "(the rollout backend does) or pass --log to the folder that holds it")
    until = time.time() if now is None else now
    return LogWindow(folder, until - window_seconds, until, list(features), max_rows)


def log_files(folder: Path) -> list[Path]:
    """predictions.<pid>.jsonl and their rotations, newest first."""
    files = [path for path in folder.glob("*.jsonl*") if path.is_file()]
    return sorted(files, key=lambda path: path.stat().st_mtime, reverse=True)
