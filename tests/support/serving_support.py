"""Support for the model-server tests: trained projects, a real `mlops serve` process, plain HTTP.

A pytest plugin (registered by tests/conftest.py): the session fixtures `classification` and
`regression` are asked for by name; the test modules import the helpers they call. The trained
projects are cached per test process, so `mlops init` + `mlops train` run once per data set
(also for tests/e2e/test_router.py, which calls `trained` itself).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest

from cli_support import MLOPS, Project, make_project

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0  # the server's graceful shutdown allows 10 s
MAX_REQUEST_ROWS = 10_000  # ServerSettings.max_request_rows (not a CLI option)
ENDPOINTS = ("/predict", "/healthz", "/readyz", "/metadata", "/metrics", "/openapi.json", "/docs")


# --- trained projects -------------------------------------------------------------------


@dataclass
class Artefact:
    """A trained project's model artefact and what the model predicts in-process for its hold-out set."""

    project: Project
    dir: Path
    metadata: dict[str, Any]
    features: list[str]
    holdout: pd.DataFrame  # feature columns only, as the trainer wrote them
    expected: list  # joblib.load(model.joblib).predict(holdout), as JSON-able Python values
    model: Any

    @property
    def classification(self) -> bool:
        return self.metadata["task"] == "classification"

    def records(self, start: int = 0, stop: int | None = None) -> list[dict[str, float]]:
        return self.holdout.iloc[start:stop].to_dict(orient="records")

    def columns(self, start: int = 0, stop: int | None = None) -> dict[str, list[float]]:
        return self.holdout.iloc[start:stop].to_dict(orient="list")

    def predict(self, rows: list[dict[str, Any]]) -> list:
        """In-process predictions for rows of JSON numbers (as float64, like the server)."""
        frame = pd.DataFrame({name: np.array([float(row[name]) for row in rows], dtype=np.float64)
                              for name in self.features})
        return self.model.predict(frame).tolist()


_trained: dict[str, Artefact] = {}


def trained(tmp_path_factory: pytest.TempPathFactory, dataset: str) -> Artefact:
    if dataset not in _trained:
        project = make_project(tmp_path_factory.mktemp(f"serving-{dataset}"), dataset)
        project.mlops("train")
        folder = project.root / "mlops-out" / "model"
        metadata = json.loads((folder / "metadata.json").read_text())
        features = [f["name"] for f in metadata["features"]]
        holdout = pd.read_csv(folder / "holdout.csv")[features]
        model = joblib.load(folder / "model.joblib")
        _trained[dataset] = Artefact(project, folder, metadata, features, holdout, model.predict(holdout).tolist(), model)
    return _trained[dataset]


@pytest.fixture(scope="session")
def classification(tmp_path_factory: pytest.TempPathFactory) -> Artefact:
    return trained(tmp_path_factory, "breast_cancer")


@pytest.fixture(scope="session")
def regression(tmp_path_factory: pytest.TempPathFactory) -> Artefact:
    return trained(tmp_path_factory, "diabetes")


# --- HTTP -------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<{self.status} {self.body[:300]!r}>"


def http_request(port: int, method: str, path: str, body: bytes | str | None = None,
                 headers: dict[str, str] | None = None, timeout: float = 30.0, chunked: bool = False) -> Response:
    """One request on a fresh connection (no client-side retries: a server fault must show)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if isinstance(body, str):
            body = body.encode()
        if chunked:
            data = body or b""
            connection.request(method, path, body=iter([data[i:i + 65536] for i in range(0, len(data), 65536)]),
                               headers=headers or {}, encode_chunked=True)
        else:
            connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return Response(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


@dataclass
class Sample:
    name: str
    labels: dict[str, str]
    value: float


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> list[Sample]:
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a Prometheus sample line: {line!r}"
        samples.append(Sample(match[1], dict(_LABEL.findall(match[2] or "")), float(match[3])))
    return samples


@dataclass
class Server:
    port: int
    process: subprocess.Popen
    log_path: Path
    requests_sent: int = 0
    returncode: int | None = field(default=None)

    def request(self, method: str, path: str, body: bytes | str | None = None,
                headers: dict[str, str] | None = None, **kwargs: Any) -> Response:
        self.requests_sent += 1
        return http_request(self.port, method, path, body, headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def predict(self, payload: Any, headers: dict[str, str] | None = None, **kwargs: Any) -> Response:
        return self.request("POST", "/predict", json.dumps(payload),
                            {"content-type": "application/json", **(headers or {})}, **kwargs)

    def metrics(self) -> list[Sample]:
        response = self.get("/metrics")
        assert response.status == 200, response
        assert response.headers["content-type"].startswith("text/plain")
        return parse_metrics(response.body.decode())

    def stderr(self) -> str:
        return self.log_path.read_text(errors="replace")


def metric(samples: list[Sample], name: str, **labels: str) -> float:
    """Sum of the samples called `name` whose labels include `labels` (0 when there are none)."""
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen) -> int:
    """SIGTERM (graceful), then SIGKILL for the whole process group if it does not exit in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return -signal.SIGKILL
    with contextlib.suppress(ProcessLookupError):  # workers left behind by a dead parent
        os.killpg(process.pid, signal.SIGKILL)
    return process.returncode


def _ready(port: int) -> bool:
    try:
        return http_request(port, "GET", "/readyz", timeout=2).status == 200
    except OSError:
        return False


@contextlib.contextmanager
def running_server(*args: str, cwd: Path, workers: int = 1, clean_exit: bool = True) -> Iterator[Server]:
    """`mlops serve ARGS --port P --workers N` until /readyz says 200; SIGTERM at the end.

    Fails the test with the server's output if it exits or is not ready in READY_TIMEOUT,
    and (clean_exit) if it needs a SIGKILL to stop or logged a traceback.
    """
    for attempt in range(3):
        port = free_port()
        log_file = tempfile.NamedTemporaryFile(prefix="mlops-serve-", suffix=".log", delete=False)
        log_path = Path(log_file.name)
        process = subprocess.Popen(
            [MLOPS, "serve", *args, "--port", str(port), "--workers", str(workers)],
            cwd=cwd, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log_file.close()
        deadline = time.monotonic() + READY_TIMEOUT
        while not _ready(port):
            if process.poll() is not None:
                output = log_path.read_text(errors="replace")
                if "address already in use" in output and attempt < 2:  # lost a race for the port
                    log_path.unlink()
                    break
                log_path.unlink()
                pytest.fail(f"mlops serve {' '.join(args)} exited {process.returncode} before it was ready:\n{output}")
            if time.monotonic() > deadline:
                _stop(process)
                output = log_path.read_text(errors="replace")
                log_path.unlink()
                pytest.fail(f"mlops serve {' '.join(args)} not ready after {READY_TIMEOUT:.0f} s:\n{output}")
            time.sleep(0.05)
        else:
            break
    server = Server(port, process, log_path)
    try:
        yield server
    finally:
        server.returncode = _stop(process)
        output = server.stderr()
        log_path.unlink()
    if clean_exit:
        # Graceful either way: the multi-worker supervisor exits 0; a single uvicorn process
        # finishes its shutdown and then re-raises the SIGTERM it caught (Unix convention).
        assert server.returncode in (0, -signal.SIGTERM), f"mlops serve exited {server.returncode} on SIGTERM:\n{output}"
        assert "Traceback" not in output, f"the server logged an exception:\n{output}"


def wait_for(condition, timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def check_error(response: Response, status: int, *fragments: str) -> dict[str, Any]:
    """An error response: the status, a JSON {"error", "request_id"} body naming the problem, the headers."""
    assert response.status == status, f"expected {status}, got {response}"
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "request_id"}, body
    for fragment in fragments:
        assert fragment in body["error"], f"{fragment!r} not in the error message {body['error']!r}"
    assert body["request_id"] == response.headers["x-request-id"]
    return body


# --- the server's processes -------------------------------------------------------------


def worker_pids(server: Server) -> list[int]:
    """The uvicorn worker processes: the spawned children, or the server itself with one worker."""
    pid = server.process.pid
    children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    workers = [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
    return workers or [pid]


def per_worker_metric(server: Server, name: str, **labels: str) -> dict[int, float]:
    """A metric as each worker recorded it, from the files behind the multi-process /metrics."""
    from prometheus_client.multiprocess import MultiProcessCollector

    pids = worker_pids(server)
    environ = dict(item.split(b"=", 1) for item in Path(f"/proc/{pids[0]}/environ").read_bytes().split(b"\0") if b"=" in item)
    folder = Path(environ[b"PROMETHEUS_MULTIPROC_DIR"].decode())
    values = {}
    for pid in pids:
        samples = [Sample(s.name, s.labels, s.value)
                   for family in MultiProcessCollector.merge([str(f) for f in folder.glob(f"*_{pid}.db")])
                   for s in family.samples]
        values[pid] = metric(samples, name, **labels)
    return values


def serve_expecting_refusal(serve_args: list[str], what: str, timeout: float = 60) -> tuple[int, str]:
    """Start `mlops serve` with arguments it must refuse; fail the test if it ever serves.

    Returns the exit code and stderr once the process has stopped by itself.
    """
    port = free_port()
    process = subprocess.Popen([MLOPS, "serve", *serve_args, "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while process.poll() is None and time.monotonic() < deadline:
            try:
                served = http_request(port, "GET", "/readyz", timeout=1)
            except OSError:
                time.sleep(0.05)
                continue
            pytest.fail(f"{what} was served: {served}")
        _, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, stderr
