"""The feedback store and the scoring of labels against predictions, in-process: bounded in
requests and rows, flat in memory, a number matched by value and a string exactly.
(Through the real model server: tests/e2e/serving/test_feedback.py.)
"""

from __future__ import annotations

import os
import tracemalloc

import numpy as np
import pytest

from mlops_helpers.serving.feedback import FeedbackStore, score
from mlops_helpers.serving.inputs import InputError


def test_store_is_bounded_in_requests_and_rows() -> None:
    store = FeedbackStore(capacity=100)
    assert store.max_rows == 1000
    one = np.arange(1)
    for index in range(1000):
        store.remember(f"id-{index}", one)
    assert len(store) == 100 and store.rows == 100
    with pytest.raises(InputError) as error:
        store.lookup("id-899")
    assert error.value.status == 404
    assert store.lookup("id-999").tolist() == [0]
    # Large requests: the row bound forgets requests before the request bound does.
    batch = np.arange(300)
    for index in range(10):
        store.remember(f"big-{index}", batch)
    assert store.rows <= store.max_rows and len(store) == 3
    # The newest request is kept even when it alone is over the row bound.
    store.remember("huge", np.arange(5000))
    assert len(store) == 1 and store.lookup("huge").size == 5000
    store.mark_scored("huge")
    assert store.rows == 0


def test_store_memory_stays_flat() -> None:
    store = FeedbackStore(capacity=2000)
    batch = np.arange(256, dtype=np.int64)  # a batch's predictions: the store must copy its slice

    def fill(start: int, count: int) -> int:
        for index in range(start, start + count):
            store.remember(os.urandom(8).hex(), batch[index % 200:index % 200 + 3])
        return tracemalloc.get_traced_memory()[0]

    tracemalloc.start()
    try:
        full = fill(0, 2000)
        later = fill(2000, 40_000)
    finally:
        tracemalloc.stop()
    assert len(store) == 2000
    assert later < full * 1.2, (full, later)


# --- scoring ----------------------------------------------------------------------------


@pytest.mark.parametrize("predictions, labels, correct", [
    ([1, 0, 1], [1, 0, 0], 2),
    ([1, 1, 1, 1], [1, 1.0, "1", "1.5"], 3),
    ([1.0, 2.0], [1, "2"], 2),
    (["cat", "dog"], ["cat", "Dog"], 1),
    (["1", "01"], [1, "1"], 1),  # string classes: a number matches by value, a string exactly
    ([True, False], [True, 0], 1),  # boolean classes: only booleans match
    ([0, 1], [False, True], 0),
    ([1, 2], ["nan", "inf"], 0),
])
def test_classification_scoring(predictions: list, labels: list, correct: int) -> None:
    assert score(predictions, labels, classification=True) == {"rows": len(labels), "correct": correct}


def test_regression_scoring() -> None:
    assert score([1.5, 10.0, -2.0], [1.0, 12, -2.0], classification=False) == {"rows": 3, "abs_error_sum": 2.5}
    with pytest.raises(InputError, match='label at row 0: expected a number, got "1.5"'):
        score([1.5], ["1.5"], classification=False)
