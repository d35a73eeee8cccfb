"""PredictionLog itself, in-process: one file per process, rotation, sampling (a prediction and
its feedback kept together), a full queue and write errors dropped and counted.
(Through the real server: tests/e2e/serving/test_prediction_log.py.)
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import REGISTRY

from mlops_helpers.serving.predlog import PredictionLog
from serving_support import wait_for


def dropped() -> float:
    return REGISTRY.get_sample_value("mlops_prediction_log_dropped_total") or 0.0


def test_one_file_per_process(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "sub" / "predictions.jsonl")
    assert log.path == tmp_path / "sub" / f"predictions.{os.getpid()}.jsonl"
    log.log({"a": np.arange(3), "b": np.float32(1.5), "c": [1.25, None]})
    log.close()
    assert [json.loads(line) for line in log.path.read_text().splitlines()] == [{"a": [0, 1, 2], "b": 1.5, "c": [1.25, None]}]


def test_rotation_keeps_the_newest_records_in_backups_files(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "p.jsonl", max_bytes=400, backups=2)
    for index in range(60):
        log.log({"i": index, "pad": "x" * 40})
    log.close()
    backups = sorted(p.name for p in tmp_path.iterdir())
    name = log.path.name
    assert set(backups) - {name} == {f"{name}.1", f"{name}.2"}, backups
    ordered = [log.path.with_name(f"{name}.2"), log.path.with_name(f"{name}.1"), log.path]
    numbers = []
    for path in ordered:
        if path.exists():
            if path != log.path:  # a rotated file: rotated as soon as it reached max_bytes
                assert 400 <= path.stat().st_size < 400 + 60
            numbers += [json.loads(line)["i"] for line in path.read_text().splitlines()]
    assert numbers == list(range(60 - len(numbers), 60)) and len(numbers) >= 14  # the newest, in order


@pytest.mark.parametrize("rate, low, high", [(0.0, 0, 0), (0.25, 150, 350), (1.0, 1000, 1000)])
def test_sampling(tmp_path: Path, rate: float, low: int, high: int) -> None:
    random.seed(20240229)
    log = PredictionLog(tmp_path / "p.jsonl", sample_rate=rate)
    for index in range(1000):
        log.log({"i": index})
    log.close()
    written = len(log.path.read_text().splitlines()) if log.path.exists() else 0
    assert low <= written <= high


def test_sampling_keeps_a_prediction_and_its_feedback_together(tmp_path: Path) -> None:
    """Monitoring joins feedback to predictions by request id: both are kept or both dropped."""
    log = PredictionLog(tmp_path / "p.jsonl", sample_rate=0.3)
    for index in range(1000):
        log.log({"request_id": f"req-{index}", "predictions": [0]})
        log.log({"type": "feedback", "request_id": f"req-{index}", "labels": [0]})
    log.close()
    records = [json.loads(line) for line in log.path.read_text().splitlines()]
    predicted = {r["request_id"] for r in records if r.get("type") != "feedback"}
    fed_back = {r["request_id"] for r in records if r.get("type") == "feedback"}
    assert predicted == fed_back and 200 <= len(predicted) <= 400


def test_full_queue_drops_and_counts_without_blocking(tmp_path: Path) -> None:
    """The writer is stuck (opening a FIFO that nobody reads); with max_queue=1 every record
    beyond the one in the writer's hands and the one queued is dropped and counted, and
    log() neither blocks nor raises."""
    fifo = tmp_path / f"p.{os.getpid()}.jsonl"
    os.mkfifo(fifo)
    log = PredictionLog(tmp_path / "p.jsonl", max_queue=1)
    assert log.path == fifo
    before = dropped()
    started = time.perf_counter()
    try:
        for index in range(50):
            log.log({"i": index})
        assert time.perf_counter() - started < 1.0
        # Counted in log() itself. 48 if the writer took record 0 before record 1 came, else 49.
        assert dropped() - before in (48, 49)
        time.sleep(0.2)
        assert dropped() - before in (48, 49)  # nothing else happens while the writer is stuck
    finally:
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # release the writer
        try:
            log.close()
        finally:
            os.close(reader)


def test_write_errors_drop_and_count_then_recover(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "p.jsonl")
    log.path.mkdir()  # a folder where the log file should be: every open fails
    before = dropped()
    for index in range(20):
        log.log({"i": index})
    assert wait_for(lambda: dropped() - before == 20), dropped() - before
    log.log({"unserialisable": object()})  # a record orjson cannot write is dropped too
    assert wait_for(lambda: dropped() - before == 21)
    log.path.rmdir()
    for index in range(20, 25):
        log.log({"i": index})
    log.close()
    assert [json.loads(line)["i"] for line in log.path.read_text().splitlines()] == list(range(20, 25))
    assert dropped() - before == 21
