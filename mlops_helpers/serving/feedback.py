"""Ground-truth feedback: the server remembers what it predicted, clients send the true labels.

  POST /feedback {"request_id": "<id of a /predict response>", "labels": [...]}   one label per row
  POST /feedback {"request_id": "...", "label": x}                                 a one-row prediction

The answer, and the Prometheus counters, say how many rows were scored and how many were
correct (classification) or the sum of absolute errors (regression): live accuracy per
model version. The store keeps the predictions of the most recent requests only, bounded
in requests and in rows, and each request can be scored once. It is used from the event
loop only (never from the model thread), so it needs no lock.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from mlops_helpers.serving.inputs import InputError

# Rows remembered per request of the capacity, on average: bounds memory when requests are
# large batches (a full store of 10,000-row requests would otherwise hold 10^9 predictions).
ROWS_PER_REQUEST = 10

_SHAPE = 'body must be an object {"request_id": "...", "labels": [...]} or {"request_id": "...", "label": value}'


@dataclass(frozen=True)
class Feedback:
    request_id: str
    labels: list[Any]


class FeedbackStore:
    """request id -> predictions of the `capacity` most recent /predict requests, oldest evicted.

    At most `capacity` requests and `capacity * ROWS_PER_REQUEST` predicted rows (plus the
    newest request, which is always kept). A scored request keeps only its id, so a second
    feedback for it is refused rather than counted twice.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.max_rows = capacity * ROWS_PER_REQUEST
        self.rows = 0
        self._entries: OrderedDict[str, np.ndarray | None] = OrderedDict()  # None once scored

    def __len__(self) -> int:
        return len(self._entries)

    def remember(self, request_id: str, predictions: np.ndarray) -> None:
        """Keep a copy: the batcher's predictions are a view of the whole batch's array."""
        self._drop(request_id)  # a client may reuse an id: the latest prediction is the one scored
        self._entries[request_id] = np.array(predictions)
        self.rows += len(predictions)
        while len(self._entries) > self.capacity or (self.rows > self.max_rows and len(self._entries) > 1):
            self._drop(next(iter(self._entries)))

    def lookup(self, request_id: str) -> np.ndarray:
        if request_id not in self._entries:
            raise InputError(404, f"no predictions for request id {request_id!r}: unknown, or forgotten (this server "
                                  f"process remembers at most its {self.capacity} most recent requests)")
        predictions = self._entries[request_id]
        if predictions is None:
            raise InputError(409, f"feedback for request id {request_id!r} was already given")
        return predictions

    def mark_scored(self, request_id: str) -> None:
        self.rows -= len(self._entries[request_id])
        self._entries[request_id] = None

    def _drop(self, request_id: str) -> None:
        predictions = self._entries.pop(request_id, None)
        if predictions is not None:
            self.rows -= len(predictions)


def parse_feedback(body: bytes) -> Feedback:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:  # the same answer as /predict gives
        raise InputError(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict) or len(payload) != 2 or "request_id" not in payload:
        raise InputError(422, _SHAPE)
    request_id = payload["request_id"]
    if not isinstance(request_id, str) or not request_id:
        raise InputError(422, '"request_id" must be the request id (a string) of an earlier /predict response')
    if "labels" in payload:
        if not isinstance(payload["labels"], list):
            raise InputError(422, '"labels" must be a list: one true label per predicted row, in order')
        return Feedback(request_id, payload["labels"])
    if "label" in payload:
        return Feedback(request_id, [payload["label"]])
    raise InputError(422, _SHAPE)


def score(predictions: list[Any], labels: list[Any], classification: bool) -> dict[str, int | float]:
    """{"rows", "correct"} for classification, {"rows", "abs_error_sum"} for regression."""
    if len(labels) != len(predictions):
        raise InputError(422, f"{len(labels)} label(s) for {len(predictions)} predicted row(s): "
                              "send one label per predicted row, in order")
    if classification:
        return {"rows": len(labels), "correct": sum(_same_class(label, prediction, row)
                                                    for row, (label, prediction) in enumerate(zip(labels, predictions)))}
    for row, label in enumerate(labels):
        if type(label) not in (int, float):  # bool is an int in Python, but true is not a target value
            raise InputError(422, f"label at row {row}: expected a number, got {_shown(label)}")
    errors = np.abs(np.asarray(labels, dtype=np.float64) - np.asarray(predictions, dtype=np.float64))
    return {"rows": len(labels), "abs_error_sum": float(errors.sum())}


def _same_class(label: Any, prediction: Any, row: int) -> bool:
    """Equal as classes: 1, 1.0 and "1" are the class 1, "1.5" is not; strings compare as strings."""
    if label is None or isinstance(label, (list, dict)):
        raise InputError(422, f"label at row {row}: expected a class (a number, string or boolean), got {_shown(label)}")
    if isinstance(label, bool) or isinstance(prediction, bool):
        return isinstance(label, bool) and isinstance(prediction, bool) and label == prediction
    if isinstance(label, str) and isinstance(prediction, str):
        return label == prediction
    number = _number(label)
    return number is not None and number == _number(prediction)


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)):
        return float(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _shown(value: Any) -> str:
    return orjson.dumps(value).decode()[:60]
