"""The prediction log: JSON lines of inputs and predictions, per worker, sampled, bounded, rotated.

Through the real server: one line per successful request with the request id, model
version, inputs and predictions of its response; --log-sample-rate 0 writes nothing; a
log location that cannot be used at all is a configuration error at startup (exit 2);
write errors while serving drop records (counted), never requests. And PredictionLog
itself: rotation, sampling, a full queue and write errors.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import REGISTRY

from mlops_helpers.serving.predlog import PredictionLog
from serving_support import (
    serve_expecting_refusal,
    Artefact,
    Server,
    classification,  # noqa: F401  (session fixture)
    metric,
    running_server,
    wait_for,
    worker_pids,
)

LOG_FILE = re.compile(r"predictions\.(\d+)\.jsonl")


def log_lines(folder: Path) -> dict[int, list[dict]]:
    """pid -> the JSON lines of predictions.<pid>.jsonl, for every per-worker file in `folder`."""
    files = {}
    for path in sorted(folder.iterdir()):
        match = LOG_FILE.fullmatch(path.name)
        assert match, f"unexpected file in the log folder: {path.name}"
        text = path.read_text()
        assert text == "" or text.endswith("\n"), f"{path.name}: partial last line"
        files[int(match[1])] = [json.loads(line) for line in text.splitlines()]
    return files


def predict_ok(server: Server, payload: dict, request_id: str | None = None) -> dict:
    response = server.predict(payload, headers={"x-request-id": request_id} if request_id else None)
    assert response.status == 200, response
    return response.json()


# --- through the server -----------------------------------------------------------------


def test_log_has_one_line_per_request_matching_the_response(tmp_path: Path, classification: Artefact) -> None:
    folder = tmp_path / "logs" / "new"  # created by the server
    started = time.time()
    with running_server("--artefact", str(classification.dir), "--prediction-log", str(folder / "predictions.jsonl"),
                        cwd=tmp_path, workers=2) as server:
        def call(index: int) -> tuple[dict, dict]:
            start, size = (index * 7) % 100, 1 + index % 4
            payload = ({"records": classification.records(start, start + size)} if index % 2 else
                       {"columns": classification.columns(start, start + size)})
            body = predict_ok(server, payload, request_id=f"req-{index:03d}" if index % 5 else None)
            assert body["predictions"] == classification.expected[start:start + size]
            inputs = classification.columns(start, start + size)
            return body, inputs

        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(call, range(40)))
        # Requests that fail are not logged.
        for body in ('{"records": []}', "{", json.dumps({"records": [{"x": 1}]})):
            assert server.request("POST", "/predict", body, {"content-type": "application/json",
                                                            "x-request-id": "bad-request"}).status in (400, 422)
        # The writer flushes whenever its queue is empty: the lines appear while serving.
        assert wait_for(lambda: sum(map(len, log_lines(folder).values())) >= len(answers), timeout=10), log_lines(folder)
        pids = set(worker_pids(server))
        assert len(pids) == 2
        finished = time.time()
    files = log_lines(folder)  # after a graceful shutdown: the same, nothing lost or repeated
    assert 1 <= len(files) <= 2 and set(files) <= pids, (files.keys(), pids)
    lines = [line for worker_lines in files.values() for line in worker_lines]
    assert len(lines) == len(answers)
    by_id = {line["request_id"]: line for line in lines}
    assert len(by_id) == len(lines) and "bad-request" not in by_id
    for body, inputs in answers:
        line = by_id[body["request_id"]]
        assert set(line) == {"time", "request_id", "model_version", "inputs", "predictions"}
        assert line["model_version"] == body["model_version"] == "dev"
        assert line["predictions"] == body["predictions"]
        assert line["inputs"] == inputs  # feature -> values, exactly the floats that were sent
        assert started <= line["time"] <= finished
    for worker_lines in files.values():  # each worker appends in time order
        times = [line["time"] for line in worker_lines]
        assert times == sorted(times)


def test_sample_rate_zero_writes_nothing(tmp_path: Path, classification: Artefact) -> None:
    folder = tmp_path / "logs"
    with running_server("--artefact", str(classification.dir), "--prediction-log", str(folder / "predictions.jsonl"),
                        "--log-sample-rate", "0", cwd=tmp_path, workers=2) as server:
        for index in range(20):
            assert predict_ok(server, {"records": classification.records(index, index + 2)})["predictions"] == \
                classification.expected[index:index + 2]
    assert folder.is_dir()
    assert sum(len(lines) for lines in log_lines(folder).values()) == 0
    assert sum(path.stat().st_size for path in folder.iterdir()) == 0


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("where, message", [
    ("file/predictions.jsonl", "{parent} is a file, not a folder"),
    ("file/sub/predictions.jsonl", "cannot create folder {parent}: [Errno 20] Not a directory"),
])
def test_unusable_log_location_is_a_startup_error(tmp_path: Path, classification: Artefact, workers: int,
                                                  where: str, message: str) -> None:
    """A log that can never be written is a configuration error: `mlops serve` says so and exits 2
    (rather than serving with every record silently dropped), and never serves."""
    (tmp_path / "file").write_text("a regular file, not a folder\n")
    log = tmp_path / where
    returncode, stderr = serve_expecting_refusal(
        ["--artefact", str(classification.dir), "--prediction-log", str(log), "--workers", str(workers)],
        "a server with an unusable prediction log")
    assert returncode == 2, stderr
    assert f"error: --prediction-log {log}: " + message.format(parent=log.parent) in stderr
    assert "Traceback" not in stderr


def test_log_write_errors_while_serving_never_fail_a_request(tmp_path: Path, classification: Artefact) -> None:
    """The log folder turns into a file after startup: records are dropped and counted, every
    request still gets its predictions, and logging resumes once the folder is back."""
    folder = tmp_path / "logs"
    with running_server("--artefact", str(classification.dir), "--prediction-log", str(folder / "predictions.jsonl"),
                        cwd=tmp_path, workers=1) as server:
        shutil.rmtree(folder)
        folder.write_text("not a folder any more\n")
        dropped = lambda: metric(server.metrics(), "mlops_prediction_log_dropped_total")  # noqa: E731
        assert dropped() == 0
        for index in range(10):
            assert predict_ok(server, {"records": classification.records(index, index + 1)})["predictions"] == \
                [classification.expected[index]]
        assert wait_for(lambda: dropped() == 10, timeout=10), dropped()
        folder.unlink()
        folder.mkdir()
        body = predict_ok(server, {"records": classification.records(0, 3)}, request_id="after-repair")
        assert wait_for(lambda: sum(map(len, log_lines(folder).values())) == 1, timeout=10)
        assert dropped() == 10
    [lines] = log_lines(folder).values()
    assert lines[0]["request_id"] == "after-repair" and lines[0]["predictions"] == body["predictions"]


# --- PredictionLog itself ---------------------------------------------------------------


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
