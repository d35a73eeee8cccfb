"""The prediction log: JSON lines of inputs and predictions, per worker, sampled, bounded, rotated.

Through the real server: one line per successful request with the request id, model
version, inputs and predictions of its response; --log-sample-rate 0 writes nothing; a
log location that cannot be used at all is a configuration error at startup (exit 2);
write errors while serving drop records (counted), never requests. (PredictionLog itself:
tests/unit/serving/test_predlog.py.)
"""

from __future__ import annotations

import json
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from serving_support import Artefact, Server, metric, running_server, serve_expecting_refusal, wait_for, worker_pids

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
