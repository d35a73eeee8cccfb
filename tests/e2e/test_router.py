"""The rollout router as a real process, over real HTTP: routing, readiness, retries, draining,
mirroring, feedback routing, route-table validation and persistence, shutdown.

Upstreams are real `mlops serve` model servers where predictions matter, and small stub
servers (in a thread of the test process) where a fault or an echo of the upstream's own
port is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadgen import LoadGenerator
from mlops_helpers.ports import free_port
from serving_support import Artefact, Response, http_request, running_server, trained, wait_for

ROUTER_START_TIMEOUT = 20.0


# --- the router process ---------------------------------------------------------------------


@dataclass
class Router:
    port: int
    admin_port: int
    routes_file: Path
    mirror_log: Path
    log_path: Path
    process: subprocess.Popen | None = None
    extra: tuple[str, ...] = ()

    def start(self) -> Router:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mlops_helpers.router", "--host", "127.0.0.1", "--port", str(self.port),
                 "--admin-port", str(self.admin_port), "--routes-file", str(self.routes_file),
                 "--mirror-log", str(self.mirror_log), *self.extra],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + ROUTER_START_TIMEOUT
        while not self._answers():
            assert self.process.poll() is None, f"the router exited {self.process.returncode}:\n{self.log()}"
            assert time.monotonic() < deadline, f"the router did not answer in {ROUTER_START_TIMEOUT} s:\n{self.log()}"
            time.sleep(0.05)
        return self

    def _answers(self) -> bool:
        try:
            return self.admin("GET", "/healthz", timeout=1).status == 200
        except OSError:
            return False

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait; SIGKILL if it hangs (the test then fails on the exit code)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def request(self, method: str, path: str, body: bytes | str | None = None,
                headers: dict[str, str] | None = None, timeout: float = 30.0) -> Response:
        return http_request(self.port, method, path, body, headers, timeout=timeout)

    def post(self, path: str = "/predict", payload: Any = None, headers: dict[str, str] | None = None) -> Response:
        return self.request("POST", path, json.dumps(payload if payload is not None else {}),
                            {"content-type": "application/json", **(headers or {})})

    def admin(self, method: str, path: str, body: Any = None, timeout: float = 10.0) -> Response:
        data = None if body is None else (body if isinstance(body, (bytes, str)) else json.dumps(body))
        return http_request(self.admin_port, method, path, data, {"content-type": "application/json"}, timeout=timeout)

    def put_routes(self, table: dict[str, Any]) -> int:
        response = self.admin("PUT", "/routes", table)
        assert response.status == 200, response
        return response.json()["generation"]

    def routes(self) -> dict[str, Any]:
        response = self.admin("GET", "/routes")
        assert response.status == 200, response
        return response.json()

    def wait_ready(self, *urls: str, timeout: float = 10.0) -> None:
        def ready() -> bool:
            state = self.routes()
            seen = {u["url"]: u["ready"] for v in state["versions"].values() for u in v["upstreams"]}
            return all(seen.get(url) for url in urls)
        assert wait_for(ready, timeout), f"upstreams {urls} not ready: {self.routes()}\n{self.log()}"

    def metrics(self) -> dict[tuple[str, frozenset], float]:
        response = self.admin("GET", "/metrics")
        assert response.status == 200 and response.headers["content-type"].startswith("text/plain"), response
        return {(sample.name, frozenset(sample.labels.items())): sample.value
                for family in text_string_to_metric_families(response.body.decode()) for sample in family.samples}


def metric(samples: dict[tuple[str, frozenset], float], name: str, **labels: str) -> float:
    return sum(value for (sample, sample_labels), value in samples.items()
               if sample == name and set(labels.items()) <= sample_labels)


@contextlib.contextmanager
def router_process(folder: Path, *extra: str) -> Iterator[Router]:
    folder.mkdir(parents=True, exist_ok=True)
    router = Router(free_port(), free_port(), folder / "routes.json", folder / "mirror.jsonl", folder / "router.log",
                    extra=extra)
    router.start()
    try:
        yield router
    finally:
        code = router.stop()
    assert code == 0, f"the router exited {code} on SIGTERM:\n{router.log()}"
    assert "Traceback" not in router.log(), router.log()


@pytest.fixture
def router(tmp_path: Path) -> Iterator[Router]:
    with router_process(tmp_path / "router") as started:
        yield started


# --- stub upstreams ---------------------------------------------------------------------------


@dataclass
class Stub:
    """A tiny keep-alive HTTP upstream in a thread of the test process.

    Every request but /readyz is answered `status` after `delay` seconds with JSON naming this
    stub's port, and the method, path, headers and body it got; `reset` closes the connection
    instead of answering. /readyz says 200 when `ready`, else 503.
    """

    delay: float = 0.0
    status: int = 200
    ready: bool = True
    reset: bool = False
    port: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _server: asyncio.base_events.Server | None = None
    _writers: set = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Stub:
        started = threading.Event()

        async def listen() -> None:
            self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]
            started.set()

        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(listen(), self._loop)
        assert started.wait(5)
        return self

    def stop(self) -> None:
        """Gone at once: the listener and every connection closed (like a killed process)."""
        def close() -> None:
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
        self._loop.call_soon_threadsafe(close)
        time.sleep(0.05)
        self._loop.call_soon_threadsafe(self._loop.stop)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, target, _ = line.decode().split(" ", 2)
                headers = {}
                while (header := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = header.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", 0)))
                if target == "/readyz":
                    await self._answer(writer, 200 if self.ready else 503, {"ready": self.ready})
                    continue
                self.received.append({"method": method, "path": target, "headers": headers, "body": body.decode()})
                if self.reset:
                    writer.transport.abort()
                    return
                await asyncio.sleep(self.delay)
                await self._answer(writer, self.status, {"port": self.port, "method": method, "path": target,
                                                         "headers": headers, "body": body.decode()})
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)

    @staticmethod
    async def _answer(writer: asyncio.StreamWriter, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        writer.write(b"HTTP/1.1 %d X\r\ncontent-type: application/json\r\nx-stub: yes\r\ncontent-length: %d\r\n\r\n%s"
                     % (status, len(body), body))
        await writer.drain()


@pytest.fixture
def stubs() -> Iterator[Callable[..., Stub]]:
    started: list[Stub] = []

    def make(**options: Any) -> Stub:
        stub = Stub(**options).start()
        started.append(stub)
        return stub

    yield make
    for stub in started:
        stub.stop()


def table(versions: dict[str, list[Stub | str]], weights: dict[str, float], **rest: Any) -> dict[str, Any]:
    return {"versions": {v: {"upstreams": [u if isinstance(u, str) else u.url for u in ups]} for v, ups in versions.items()},
            "weights": weights, **rest}


def served(response: Response) -> tuple[str, int | None]:
    """(x-served-by, the stub port that answered) of a 200 response."""
    assert response.status == 200, response
    return response.headers["x-served-by"], response.json().get("port")


# --- real model servers -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def artefact(tmp_path_factory: pytest.TempPathFactory) -> Artefact:
    return trained(tmp_path_factory, "breast_cancer")


@pytest.fixture(scope="module")
def model_servers(artefact: Artefact) -> Iterator[list]:
    with running_server("--artefact", str(artefact.dir), cwd=artefact.project.root) as first, \
            running_server("--artefact", str(artefact.dir), cwd=artefact.project.root) as second:
        yield [first, second]


def bodies(artefact: Artefact, count: int = 50) -> list[bytes]:
    return [json.dumps({"records": artefact.records(i, i + 1)}).encode() for i in range(count)]


def test_predictions_through_the_router_and_weights_split_80_20(router: Router, artefact: Artefact, model_servers) -> None:
    first, second = model_servers
    urls = [f"http://127.0.0.1:{server.port}" for server in model_servers]
    router.put_routes(table({"3": [urls[0]], "4": [urls[1]]}, {"3": 80, "4": 20}))
    router.wait_ready(*urls)

    # The model's own predictions, and the request id the router generated is the one the server used.
    response = router.post(payload={"records": artefact.records(0, 20)})
    assert response.status == 200, response
    assert response.json()["predictions"] == artefact.expected[:20]
    assert response.headers["x-served-by"] in ("3", "4") and response.headers["x-model-version"]
    assert re.fullmatch(r"[0-9a-f]{16}", response.headers["x-request-id"]), response.headers
    assert response.json()["request_id"] == response.headers["x-request-id"]
    mine = router.post(payload={"records": artefact.records(0, 1)}, headers={"x-request-id": "caller-chosen-42"})
    assert mine.json()["request_id"] == mine.headers["x-request-id"] == "caller-chosen-42"

    with LoadGenerator(f"http://127.0.0.1:{router.port}", 800, bodies(artefact), connections=16) as load:
        time.sleep(2.5)
    outcome = load.result
    assert outcome.failed == 0, outcome.errors
    total = outcome.ok
    assert total >= 1500, f"the load generator only got {total} answers ({outcome.rate:.0f}/s)"
    sd = math.sqrt(total * 0.2 * 0.8)
    assert abs(outcome.by_version["4"] - 0.2 * total) < 4.5 * sd, (outcome.by_version, total)
    assert set(outcome.by_version) == {"3", "4"}

    samples = router.metrics()
    assert metric(samples, "mlops_router_requests_total", version="4", code="200") >= outcome.by_version["4"]
    assert metric(samples, "mlops_router_request_duration_seconds_count", version="3") >= outcome.by_version["3"]
    assert metric(samples, "mlops_router_request_duration_seconds_bucket", version="3", le="+Inf") >= outcome.by_version["3"]
    assert metric(samples, "mlops_router_inflight", version="3") == 0
    assert metric(samples, "mlops_router_upstream_errors_total") == 0


def test_killing_an_upstream_under_load_fails_no_request(router: Router, artefact: Artefact, model_servers) -> None:
    survivor = model_servers[0]
    with running_server("--artefact", str(artefact.dir), cwd=artefact.project.root, clean_exit=False) as victim:
        urls = [f"http://127.0.0.1:{victim.port}", f"http://127.0.0.1:{survivor.port}"]
        router.put_routes(table({"3": urls}, {"3": 100}))
        router.wait_ready(*urls)
        with LoadGenerator(f"http://127.0.0.1:{router.port}", 200, bodies(artefact)) as load:
            time.sleep(1.0)
            os.killpg(victim.process.pid, signal.SIGKILL)
            killed = time.monotonic()
            time.sleep(1.5)
    outcome = load.result
    assert outcome.failed == 0, outcome.errors
    assert outcome.ok >= 400, outcome
    assert router.routes()["versions"]["3"]["upstreams"][0]["ready"] is False
    after = [entry for entry in outcome.timeline if entry[0] > killed + 0.1]
    assert after and all(entry[2] == 200 for entry in after)


# --- routing rules (stubs) ---------------------------------------------------------------------


def test_header_cookie_and_sticky_routing(router: Router, stubs) -> None:
    three, four = stubs(), stubs()
    router.put_routes(table({"3": [three], "4": [four]}, {"3": 100, "4": 0}, match=[
        {"header": "x-mlops-variant", "value": "b", "version": "4"},
        {"cookie": "mlops-variant", "value": "b", "version": "4"}]))
    router.wait_ready(three.url, four.url)
    assert served(router.post()) == ("3", three.port)
    assert served(router.post(headers={"X-MLOPS-Variant": "b"})) == ("4", four.port)  # header names ignore case
    assert served(router.post(headers={"x-mlops-variant": "a"})) == ("3", three.port)
    assert served(router.post(headers={"cookie": "theme=dark; mlops-variant=b"})) == ("4", four.port)
    assert served(router.post(headers={"cookie": "mlops-variant=c"})) == ("3", three.port)

    router.put_routes(table({"3": [three], "4": [four]}, {"3": 50, "4": 50}, sticky_cookie="mlops-version"))
    first = router.post()
    version, _ = served(first)
    assert first.headers["set-cookie"] == f"mlops-version={version}; Path=/"
    for _ in range(20):
        again = router.post(headers={"cookie": f"mlops-version={version}"})
        assert served(again)[0] == version and "set-cookie" not in again.headers


def test_forwarding_keeps_method_path_query_body_and_headers(router: Router, stubs) -> None:
    stub = stubs()
    router.put_routes(table({"7": [stub]}, {"7": 1}))
    router.wait_ready(stub.url)
    response = router.request("PUT", "/any/path?x=1&y=two", b'{"a": 1}',
                              {"x-custom": "kept", "connection": "keep-alive, x-hop", "x-hop": "dropped",
                               "content-type": "application/json"})
    assert response.status == 200 and response.headers["x-stub"] == "yes" and response.headers["x-served-by"] == "7"
    got = response.json()
    assert (got["method"], got["path"], got["body"]) == ("PUT", "/any/path?x=1&y=two", '{"a": 1}')
    assert got["headers"]["x-custom"] == "kept" and "x-hop" not in got["headers"] and "connection" not in got["headers"]
    assert re.fullmatch(r"[0-9a-f]{16}", got["headers"]["x-request-id"]), got["headers"]

    stub.status = 500
    failed = router.post()
    assert failed.status == 500 and failed.json()["port"] == stub.port  # an upstream's 5xx is the caller's, not retried
    assert len(stub.received) == 2
    assert metric(router.metrics(), "mlops_router_requests_total", version="7", code="500") == 1


def test_traffic_never_goes_to_a_version_without_a_ready_upstream(router: Router, stubs) -> None:
    three, four = stubs(), stubs(ready=False)
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    router.put_routes(table({"3": [three], "4": [four], "5": [nowhere]}, {"3": 1, "4": 1, "5": 1},
                            match=[{"header": "x-mlops-variant", "value": "b", "version": "4"}]))
    router.wait_ready(three.url)
    for _ in range(30):
        assert served(router.post()) == ("3", three.port)
    assert served(router.post(headers={"x-mlops-variant": "b"})) == ("3", three.port)  # the match falls back
    assert four.received == []
    state = router.routes()["versions"]
    assert (state["4"]["upstreams"][0]["ready"], state["5"]["upstreams"][0]["ready"]) == (False, False)

    four.ready = True
    router.wait_ready(four.url)
    assert served(router.post(headers={"x-mlops-variant": "b"})) == ("4", four.port)

    three.ready = four.ready = False
    assert wait_for(lambda: router.post().status == 503, timeout=5)
    nothing = router.post()
    assert nothing.json()["error"] == "no version is deployed with a ready upstream", nothing
    assert metric(router.metrics(), "mlops_router_requests_total", version="none", code="503") >= 1


def test_an_upstream_that_resets_connections_costs_callers_nothing(router: Router, stubs) -> None:
    broken, good, other = stubs(reset=True), stubs(), stubs()
    router.put_routes(table({"3": [broken, good], "4": [other]}, {"3": 100, "4": 0}))
    router.wait_ready(broken.url, good.url)
    answers = Counter(served(router.post()) for _ in range(40))
    assert set(answers) == {("3", good.port)}, answers
    assert broken.received, "the resetting upstream was never tried"
    assert metric(router.metrics(), "mlops_router_upstream_errors_total", version="3") >= 1

    # A whole version failing: the request goes on to another version by weight.
    router.put_routes(table({"3": [broken], "4": [other]}, {"3": 100, "4": 1}))
    router.wait_ready(broken.url)
    assert served(router.post()) == ("4", other.port)


def test_an_upstream_slower_than_the_timeout_gives_504(tmp_path: Path, stubs) -> None:
    slow = stubs(delay=2.0)
    with router_process(tmp_path / "router", "--upstream-timeout", "0.5") as router:
        router.put_routes(table({"3": [slow]}, {"3": 1}))
        router.wait_ready(slow.url)
        started = time.monotonic()
        response = router.post()
        assert response.status == 504 and "did not answer within 0.5 s" in response.json()["error"], response
        assert time.monotonic() - started < 1.5 and response.headers["x-served-by"] == "3"
        assert len(slow.received) == 1, "a timed-out request must not be retried"
        assert metric(router.metrics(), "mlops_router_requests_total", version="3", code="504") == 1


def test_empty_router_answers_503(router: Router) -> None:
    response = router.post()
    assert response.status == 503 and "no version is deployed" in response.json()["error"], response
    assert router.routes() == {"versions": {}, "weights": {}, "match": [], "sticky_cookie": None, "mirror": None,
                               "draining": [], "generation": 0}


# --- changing the table -------------------------------------------------------------------------


def test_removed_version_finishes_its_requests_and_shows_them_as_draining(router: Router, stubs) -> None:
    slow, fast = stubs(delay=1.5), stubs()
    router.put_routes(table({"3": [fast], "4": [slow]}, {"3": 0, "4": 100}))
    router.wait_ready(fast.url, slow.url)
    with ThreadPoolExecutor(4) as pool:
        pending = [pool.submit(router.post) for _ in range(4)]
        assert wait_for(lambda: router.routes()["versions"]["4"]["upstreams"][0]["inflight"] == 4, timeout=5)
        generation = router.put_routes(table({"3": [fast]}, {"3": 100}))
        state = router.routes()
        assert state["generation"] == generation and list(state["versions"]) == ["3"]
        assert state["draining"] == [{"url": slow.url, "version": "4", "inflight": 4}]
        assert served(router.post()) == ("3", fast.port)  # new requests go to the table in force
        results = [future.result() for future in pending]
    assert [served(result) for result in results] == [("4", slow.port)] * 4
    assert wait_for(lambda: router.routes()["draining"] == [], timeout=2)


@pytest.mark.parametrize(("bad", "message"), [
    ({"versions": {"3": {"upstreams": ["http://127.0.0.1:1"]}}, "weights": {"4": 10}},
     "weights.4: version '4' is not in versions"),
    ({"versions": {"3": {"upstreams": ["http://127.0.0.1:1"]}}, "weights": {"3": -1}}, "weights.3: -1 is negative"),
    ({"versions": {"3": {"upstreams": ["http://127.0.0.1:1"]}}, "match": [{"header": "x-v", "value": "b", "version": "9"}]},
     "match.0.version: version '9' is not in versions"),
    ({"versions": {"3": {"upstreams": ["ftp://127.0.0.1:1"]}}}, "versions.3.upstreams.0: 'ftp://127.0.0.1:1' is not an http://host:port URL"),
    ({"versions": {"3": {"upstreams": ["http://127.0.0.1"]}}}, "versions.3.upstreams.0:"),
    ({"versions": {"3": {"upstreams": ["http://127.0.0.1:1"]}}, "mirror": {"version": "3", "percent": 150}},
     "mirror.percent: 150 is outside 0..100"),
    ({"versions": {}, "wieghts": {}}, "wieghts: unknown key"),
    ({"versions": {"3": {"upstreams": ["http://127.0.0.1:1"], "replicas": 2}}}, "versions.3.replicas: unknown key"),
    ("[1, 2", "not valid JSON"),
])
def test_bad_route_tables_are_refused_naming_the_field(router: Router, bad, message) -> None:
    before = router.routes()
    response = router.admin("PUT", "/routes", bad)
    assert response.status == 400, response
    assert message in response.json()["error"], response.json()
    assert router.routes() == before and not router.routes_file.exists()


def test_restarted_router_restores_its_routes(tmp_path: Path, stubs) -> None:
    stub = stubs()
    routes = table({"3": [stub]}, {"3": 5}, match=[{"cookie": "v", "value": "x", "version": "3"}],
                   sticky_cookie="mlops-version", mirror={"version": "3", "percent": 10})
    with router_process(tmp_path / "router") as first:
        first.put_routes(routes)
        generation = first.put_routes(routes)
        first.wait_ready(stub.url)
        before = first.routes()
    with router_process(tmp_path / "router") as second:
        second.wait_ready(stub.url)
        after = second.routes()
        assert after == before and after["generation"] == generation == 2
        assert served(second.post()) == ("3", stub.port)


# --- mirror, feedback, shutdown ------------------------------------------------------------------


def test_mirror_copies_are_logged_and_never_reach_the_caller(router: Router, stubs) -> None:
    primary, shadow = stubs(), stubs(delay=0.8, status=500)
    router.put_routes(table({"3": [primary], "4": [shadow]}, {"3": 100, "4": 0}, mirror={"version": "4", "percent": 100}))
    router.wait_ready(primary.url, shadow.url)
    started = time.monotonic()
    for index in range(10):
        response = router.post(payload={"n": index})
        assert served(response) == ("3", primary.port)
    assert time.monotonic() - started < 0.8 * 10 / 2, "callers waited for the mirror"

    def lines() -> list[dict]:
        return [json.loads(line) for line in router.mirror_log.read_text().splitlines()] if router.mirror_log.exists() else []
    assert wait_for(lambda: len(lines()) == 10, timeout=10), lines()
    for entry in lines():
        assert set(entry) == {"time", "request_id", "primary_version", "primary_status", "primary_body",
                              "mirror_version", "mirror_status", "mirror_body", "mirror_latency_ms"}
        assert (entry["primary_version"], entry["primary_status"], entry["mirror_version"], entry["mirror_status"]) == \
               ("3", 200, "4", 500)
        assert entry["primary_body"]["port"] == primary.port and entry["mirror_body"]["port"] == shadow.port
        assert entry["mirror_latency_ms"] >= 800
        assert entry["mirror_body"]["headers"]["x-request-id"] == entry["request_id"]
    assert metric(router.metrics(), "mlops_router_mirror_requests_total", version="4", code="500") == 10

    shadow.reset = True  # a mirror that fails outright: callers still fine, the failure logged
    shadow.delay = 0
    for _ in range(5):
        assert served(router.post()) == ("3", primary.port)
    assert wait_for(lambda: len(lines()) == 15, timeout=10)
    assert all(entry["mirror_status"] is None and "error" in entry["mirror_body"] for entry in lines()[10:])


def test_feedback_goes_to_the_upstream_that_served_the_request(router: Router, stubs) -> None:
    first, second = stubs(), stubs()
    router.put_routes(table({"3": [first, second]}, {"3": 1}))
    router.wait_ready(first.url, second.url)
    served_by = {}
    for _ in range(20):
        response = router.post()
        served_by[response.json()["headers"]["x-request-id"]] = response.json()["port"]
    assert set(served_by.values()) == {first.port, second.port}
    for request_id, port in served_by.items():
        feedback = router.post("/feedback", {"request_id": request_id, "label": 1})
        assert served(feedback) == ("3", port)
        assert feedback.json()["path"] == "/feedback" and json.loads(feedback.json()["body"])["request_id"] == request_id

    unknown = router.post("/feedback", {"request_id": "no-such-id", "label": 1})
    assert unknown.status == 404 and "no-such-id" in unknown.json()["error"], unknown
    assert router.post("/feedback", {"label": 1}).status == 400

    # The upstream that served it is gone from the table: another ready one of the same version takes it.
    router.put_routes(table({"3": [second]}, {"3": 1}))
    gone = next(request_id for request_id, port in served_by.items() if port == first.port)
    assert served(router.post("/feedback", {"request_id": gone})) == ("3", second.port)


def test_sigterm_finishes_requests_in_flight_then_exits_0(tmp_path: Path, stubs) -> None:
    slow = stubs(delay=1.0)
    with router_process(tmp_path / "router") as router:
        router.put_routes(table({"3": [slow]}, {"3": 1}))
        router.wait_ready(slow.url)
        with ThreadPoolExecutor(3) as pool:
            pending = [pool.submit(router.post) for _ in range(3)]
            assert wait_for(lambda: router.routes()["versions"]["3"]["upstreams"][0]["inflight"] == 3, timeout=5)
            router.process.send_signal(signal.SIGTERM)
            results = [future.result() for future in pending]
        assert [served(result) for result in results] == [("3", slow.port)] * 3
        assert router.process.wait(10) == 0
        with pytest.raises(OSError):
            router.post()
