"""Adaptive micro-batching: concurrent requests share one `predict` call.

scikit-learn's per-call overhead dominates small requests (predicting 1 row costs about
as much as 100), so rows from requests that arrive together are predicted together. The
model runs in one worker thread; while it works, the event loop keeps accepting and parsing
requests, which queue up for the next call. An idle server never waits: a lone request is
predicted at once. Only under load (the previous call served several requests) does the
batcher wait up to `max_wait_ms` for more rows, up to `max_batch_rows`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlops_helpers.serving.inputs import Columns

_POLL_SECONDS = 0.0002


@dataclass
class _Pending:
    columns: Columns
    rows: int
    future: asyncio.Future


class MicroBatcher:
    def __init__(
        self,
        predict: Callable[[pd.DataFrame], np.ndarray],
        feature_names: list[str],
        max_batch_rows: int = 256,
        max_wait_ms: float = 2.0,
        on_batch: Callable[[int, np.ndarray], None] | None = None,
    ) -> None:
        self._predict = predict
        self._names = feature_names
        self._max_rows = max_batch_rows
        self._max_wait = max_wait_ms / 1000
        self._on_batch = on_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="predict")
        self._task: asyncio.Task | None = None
        self._under_load = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def predict(self, columns: Columns, rows: int) -> np.ndarray:
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(columns, rows, future))
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            rows = batch[0].rows
            deadline = time.monotonic() + self._max_wait
            while rows < self._max_rows:
                if not self._queue.empty():
                    item = self._queue.get_nowait()
                elif self._under_load and time.monotonic() < deadline:
                    # Short sleeps rather than wait_for(queue.get()): a timed-out get can drop an item.
                    await asyncio.sleep(_POLL_SECONDS)
                    continue
                else:
                    break
                batch.append(item)
                rows += item.rows
            self._under_load = len(batch) > 1
            try:
                await self._serve(loop, batch, rows)
            except Exception as exc:  # the batcher must outlive any one batch, or requests hang
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)

    async def _serve(self, loop: asyncio.AbstractEventLoop, batch: list[_Pending], rows: int) -> None:
        try:
            frame = _frame(self._names, [item.columns for item in batch])
            predictions = await loop.run_in_executor(self._executor, self._predict, frame)
        except Exception as exc:  # a model error fails these requests, never the batcher
            if len(batch) > 1:
                # One request's values must not fail the requests it happened to share a call
                # with: predict each alone, so the error reaches only the request that caused it.
                for item in batch:
                    await self._serve(loop, [item], item.rows)
                return
            if not batch[0].future.done():
                batch[0].future.set_exception(exc)
            return
        if self._on_batch:
            self._on_batch(rows, predictions)
        start = 0
        for item in batch:
            if not item.future.done():  # the client may have gone away
                item.future.set_result(predictions[start : start + item.rows])
            start += item.rows


def _frame(names: list[str], parts: list[Columns]) -> pd.DataFrame:
    if len(parts) == 1:
        return pd.DataFrame(parts[0], columns=names)
    return pd.DataFrame({name: np.concatenate([part[name] for part in parts]) for name in names}, columns=names)
