"""A sampled, bounded, non-blocking prediction log (JSON lines) for monitoring.

Sampling keeps a request's prediction and its feedback together (decided by the request id).
Requests only enqueue; one writer thread serialises and appends, rotating by size. When
the queue is full or a write fails, the record is dropped and counted: losing the log
never fails or slows a request.
"""

from __future__ import annotations

import os
import queue
import random
import threading
import zlib
from pathlib import Path
from typing import Any

import orjson

from mlops_helpers.serving.metrics import LOG_DROPPED


class PredictionLog:
    def __init__(
        self,
        path: Path,
        sample_rate: float = 1.0,
        max_queue: int = 10_000,
        max_bytes: int = 50 * 1024 * 1024,
        backups: int = 5,
    ) -> None:
        # One file per worker process: rotation by several writers of one file would race.
        self.path = path.with_name(f"{path.stem}.{os.getpid()}{path.suffix}")
        self.sample_rate = sample_rate
        self.max_bytes = max_bytes
        self.backups = backups
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._write_loop, name="prediction-log", daemon=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._thread.start()

    def log(self, record: dict[str, Any]) -> None:
        if self.sample_rate < 1.0 and self._sample_point(record) >= self.sample_rate:
            return
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            LOG_DROPPED.inc()

    @staticmethod
    def _sample_point(record: dict[str, Any]) -> float:
        """In [0, 1): a hash of the request id when there is one, so a prediction and the feedback
        for it are kept or dropped together (monitoring joins them); random otherwise."""
        request_id = record.get("request_id")
        if isinstance(request_id, str):
            return zlib.crc32(request_id.encode()) / 2**32
        return random.random()

    def close(self, timeout: float = 5.0) -> None:
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    def _write_loop(self) -> None:
        # Opened lazily and reopened after a failure: an exception escaping this loop would end
        # the thread, and records would then pile up in the queue, lost and uncounted.
        handle = None
        while (record := self._queue.get()) is not None:
            try:
                if handle is None:
                    handle = open(self.path, "ab")
                handle.write(orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
                if self._queue.empty():
                    handle.flush()
                if handle.tell() >= self.max_bytes:
                    handle.close()
                    handle = None
                    self._rotate()
            except (OSError, TypeError):
                LOG_DROPPED.inc()
        if handle is not None:
            handle.close()

    def _rotate(self) -> None:
        for index in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))
