"""Prometheus metrics of the model server.

With several worker processes, each one writes its samples to PROMETHEUS_MULTIPROC_DIR
(set by the launcher before prometheus_client is imported) and /metrics sums them.
"""

from __future__ import annotations

import os

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

REQUESTS = Counter("mlops_requests", "HTTP requests by endpoint, status and model version", ["endpoint", "status", "model_version"])
LATENCY = Histogram("mlops_request_duration_seconds", "Request latency", ["endpoint", "model_version"], buckets=LATENCY_BUCKETS)
REQUEST_ROWS = Histogram("mlops_request_rows", "Rows per prediction request", buckets=ROW_BUCKETS)
BATCH_ROWS = Histogram("mlops_batch_rows", "Rows per model call (after micro-batching)", buckets=ROW_BUCKETS)
PREDICTED_CLASSES = Counter("mlops_predictions", "Predictions by predicted class", ["model_version", "prediction"])
PREDICTED_VALUES = Histogram("mlops_prediction_value", "Predicted values (regression)", ["model_version"],
                             buckets=(-100, -10, -1, 0, 1, 10, 100, 1000, 10000))
LOG_DROPPED = Counter("mlops_prediction_log_dropped", "Prediction-log records dropped (queue full or write error)")
# Ground truth from POST /feedback: live accuracy = correct / rows, live MAE = abs_error / rows.
FEEDBACK_ROWS = Counter("mlops_feedback_rows", "Predicted rows scored against ground-truth feedback", ["model_version"])
FEEDBACK_CORRECT = Counter("mlops_feedback_correct", "Feedback rows whose predicted class was right (classification)",
                           ["model_version"])
FEEDBACK_ABS_ERROR = Counter("mlops_feedback_abs_error", "Sum of absolute errors of feedback rows (regression)",
                             ["model_version"])


def record_batch(version: str, classification: bool, rows: int, predictions: np.ndarray) -> None:
    BATCH_ROWS.observe(rows)
    if classification:
        values, counts = np.unique(predictions, return_counts=True)
        for value, count in zip(values.tolist(), counts.tolist()):
            PREDICTED_CLASSES.labels(version, str(value)).inc(count)
    else:
        histogram = PREDICTED_VALUES.labels(version)
        for value in predictions.tolist():
            histogram.observe(value)


def start_feedback(version: str, classification: bool) -> None:
    """Create the version's feedback series at 0, so that rates over time start from a sample."""
    FEEDBACK_ROWS.labels(version)
    (FEEDBACK_CORRECT if classification else FEEDBACK_ABS_ERROR).labels(version)


def record_feedback(version: str, result: dict[str, int | float]) -> None:
    """`result` is what feedback.score returns: rows and either correct or abs_error_sum."""
    FEEDBACK_ROWS.labels(version).inc(result["rows"])
    if "correct" in result:
        FEEDBACK_CORRECT.labels(version).inc(result["correct"])
    else:
        FEEDBACK_ABS_ERROR.labels(version).inc(result["abs_error_sum"])


def exposition() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()
