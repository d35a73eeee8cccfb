"""The local rollout backend's traffic router: a long-running reverse proxy in front of model servers.

  python -m mlops_helpers.router --host 127.0.0.1 --port P --admin-port A \\
      --routes-file FILE [--mirror-log FILE] [--feedback-capacity N] [--upstream-timeout SECONDS]

Public port: every request is routed to a model version (header/cookie matches, then the
sticky cookie, then weighted random choice among versions with a ready upstream) and
forwarded over keep-alive connections; the response comes back unchanged plus
`x-served-by: <version>`. Requests that fail before any response byte are retried on
another upstream, then another version. `POST /feedback {"request_id": ...}` goes to the
upstream that served that request. A `mirror` sends copies of requests to another version
and logs both answers; the caller never sees the copy.

Admin port: `PUT /routes` (validate, persist atomically, apply; answers `{"generation": N}`
once the table is in force), `GET /routes` (table plus readiness, in-flight counts and
draining upstreams), `GET /metrics` (Prometheus), `GET /healthz`.

SIGTERM: stop accepting, finish what is in flight, exit 0. The process does not depend on
the one that started it (the engine launches it in its own session).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import signal
import sys
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import uvloop

from mlops_helpers.router.http import HttpServer, Request, Response, json_response
from mlops_helpers.router.metrics import CONTENT_TYPE, RouterMetrics
from mlops_helpers.router.table import RouteTable, TableError, load_table, parse_table, save_table
from mlops_helpers.router.upstream import (
    ConnectFailed,
    ConnectionPool,
    ResponseBroken,
    UpstreamError,
    UpstreamResponse,
    UpstreamTimeout,
    encode_request,
    split_url,
)

log = logging.getLogger("mlops.router")

PROBE_INTERVAL = 0.25
PROBE_TIMEOUT = 1.0
UPSTREAM_TIMEOUT = 30.0
SHUTDOWN_TIMEOUT = 60.0
MIRROR_CONCURRENCY = 64  # copies in flight at once; beyond that a copy is skipped, never queued
DEFAULT_FEEDBACK_CAPACITY = 200_000

# Hop-by-hop headers (RFC 9110 §7.6.1) and the framing the router sets itself.
_HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"proxy-authenticate",
                         b"proxy-authorization", b"te", b"trailer", b"transfer-encoding", b"upgrade",
                         b"expect", b"content-length"})


class Upstream:
    """One model server: its connection pool, readiness (from the probe) and requests in flight."""

    __slots__ = ("url", "version", "pool", "ready", "inflight", "probe", "host_header")

    def __init__(self, url: str, version: str) -> None:
        self.url = url
        self.version = version
        host, port = split_url(url)
        self.pool = ConnectionPool(host, port)
        self.host_header = url.removeprefix("http://").encode()
        self.ready = False  # until the first probe says so
        self.inflight = 0
        self.probe: asyncio.Task | None = None

    def state(self) -> dict[str, Any]:
        return {"url": self.url, "ready": self.ready, "inflight": self.inflight}


class Router:
    def __init__(self, routes_file: Path, mirror_log: Path | None, feedback_capacity: int = DEFAULT_FEEDBACK_CAPACITY,
                 upstream_timeout: float = UPSTREAM_TIMEOUT) -> None:
        self.routes_file = routes_file
        self.upstream_timeout = upstream_timeout
        self.table = RouteTable()
        self.generation = 0
        self.upstreams: dict[str, Upstream] = {}  # url -> upstream, for every upstream in the table
        self.by_version: dict[str, list[Upstream]] = {}
        self.draining: dict[str, Upstream] = {}  # removed from the table, requests still in flight
        self.metrics = RouterMetrics()
        self.served_by: OrderedDict[str, tuple[str, str]] = OrderedDict()  # request id -> (version, upstream url)
        self.feedback_capacity = feedback_capacity
        self.mirror_fd = os.open(mirror_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if mirror_log else None
        self.mirrors_running = 0
        self.background: set[asyncio.Task] = set()
        self._turn = 0  # round-robin start among a version's upstreams

    # --- the route table --------------------------------------------------------------------

    def restore(self) -> None:
        """The table saved by a previous run of the router, if any (TableError if the file is bad)."""
        saved = load_table(self.routes_file)
        if saved is not None:
            table, self.generation = saved
            self._apply(table)
            log.info("restored generation %d from %s", self.generation, self.routes_file)

    def replace(self, table: RouteTable) -> int:
        """Persist, then put in force: the next request routed sees the new table."""
        save_table(self.routes_file, table, self.generation + 1)
        self.generation += 1
        self._apply(table)
        log.info("generation %d: weights %s, %d match rules, mirror %s", self.generation, table.raw["weights"],
                 len(table.match), table.raw["mirror"])
        return self.generation

    def _apply(self, table: RouteTable) -> None:
        wanted = {url: version for version, urls in table.versions.items() for url in urls}
        for url in [url for url in self.upstreams if url not in wanted]:
            self._retire(self.upstreams.pop(url))
        for url, version in wanted.items():
            upstream = self.upstreams.get(url) or self.draining.pop(url, None) or Upstream(url, version)
            upstream.version = version
            self.upstreams[url] = upstream
            if upstream.probe is None:
                upstream.probe = asyncio.get_running_loop().create_task(self._probe(upstream))
        self.by_version = {version: [self.upstreams[url] for url in urls] for version, urls in table.versions.items()}
        self.table = table

    def _retire(self, upstream: Upstream) -> None:
        """No new requests; the ones in flight finish (then the pool is closed in `_exchange`)."""
        if upstream.probe is not None:
            upstream.probe.cancel()
            upstream.probe = None
        upstream.ready = False
        if upstream.inflight:
            self.draining[upstream.url] = upstream
        else:
            upstream.pool.close()

    async def _probe(self, upstream: Upstream) -> None:
        request = encode_request("GET", b"/readyz", [(b"host", upstream.host_header)], b"")
        while True:
            try:
                response = await upstream.pool.exchange(request, PROBE_TIMEOUT)
                ready, why = response.status == 200, f"/readyz answered {response.status}"
            except UpstreamError as exc:
                ready, why = False, str(exc)
            self._set_ready(upstream, ready, why)
            await asyncio.sleep(PROBE_INTERVAL)

    def _set_ready(self, upstream: Upstream, ready: bool, why: str) -> None:
        if upstream.ready != ready:
            log.info("upstream %s (version %s) is %s: %s", upstream.url, upstream.version,
                     "ready" if ready else "NOT ready", why)
        upstream.ready = ready

    def state(self) -> dict[str, Any]:
        raw = self.table.raw
        versions = {version: {"weight": raw["weights"][version], "upstreams": [u.state() for u in upstreams]}
                    for version, upstreams in self.by_version.items()}
        draining = [{"url": u.url, "version": u.version, "inflight": u.inflight} for u in self.draining.values()]
        return {**raw, "versions": versions, "draining": draining, "generation": self.generation}

    # --- choosing a version and an upstream ----------------------------------------------------

    def _has_ready(self, version: str) -> bool:
        return any(upstream.ready for upstream in self.by_version.get(version, ()))

    def _weighted(self, excluded: set[str] | tuple[str, ...] = ()) -> str | None:
        """Weighted random choice among versions with weight > 0 and a ready upstream."""
        candidates, total = [], 0.0
        for version, weight in self.table.weights.items():
            if weight > 0 and version not in excluded and self._has_ready(version):
                candidates.append((version, weight))
                total += weight
        if not candidates:
            return None
        point = random.random() * total
        for version, weight in candidates:
            point -= weight
            if point < 0:
                return version
        return candidates[-1][0]

    def _route(self, request: Request) -> tuple[str | None, bool]:
        """The version for a request, and whether it was chosen by weight (then a sticky cookie is set)."""
        table = self.table
        cookies: dict[str, str] | None = None
        for rule in table.match:
            if rule.kind == "header":
                raw = request.header(rule.name.encode())
                value = raw.decode("latin-1") if raw is not None else None
            else:
                cookies = _cookies(request) if cookies is None else cookies
                value = cookies.get(rule.name)
            if value == rule.value:
                if self._has_ready(rule.version):
                    return rule.version, False
                return self._weighted((rule.version,)), True  # never send traffic to a version that is not ready
        if table.sticky_cookie:
            cookies = _cookies(request) if cookies is None else cookies
            version = cookies.get(table.sticky_cookie)
            if version is not None and table.weights.get(version, 0) > 0 and self._has_ready(version):
                return version, False
        return self._weighted(), True

    def _pick(self, version: str, tried: set[Upstream]) -> Upstream | None:
        """The ready upstream of `version` with the fewest requests in flight (ties: round-robin)."""
        upstreams: Sequence[Upstream] = self.by_version.get(version, ())
        count = len(upstreams)
        if count == 1:
            only = upstreams[0]
            return only if only.ready and only not in tried else None
        self._turn += 1
        best = None
        for offset in range(count):
            upstream = upstreams[(self._turn + offset) % count]
            if upstream.ready and upstream not in tried and (best is None or upstream.inflight < best.inflight):
                best = upstream
        return best

    # --- forwarding --------------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        """The public port."""
        headers, request_id = _upstream_headers(request)
        if request.method == "POST" and request.path == "/feedback":
            return await self._feedback(request, headers, request_id)
        version, by_weight = self._route(request)
        if version is None:
            return _error(503, "no version is deployed with a ready upstream", request_id)
        data = encode_request(request.method, request.target, headers, request.body)
        response, upstream = await self._forward(data, request.method == "HEAD", version, request_id, fallback=True)
        if upstream is None:
            return response
        if by_weight and self.table.sticky_cookie:
            response.headers.append((b"set-cookie", f"{self.table.sticky_cookie}={response.version}; Path=/".encode()))
        self._remember(request_id, response.version, upstream)
        self._maybe_mirror(request, data, request_id, response)
        return response

    async def _forward(self, data: bytes, head_only: bool, version: str, request_id: str, fallback: bool,
                       first: Upstream | None = None) -> tuple[Response, Upstream | None]:
        """Send to an upstream of `version`; on a connection failure try its other upstreams, then
        (fallback) other versions by weight. Returns the response for the caller and the upstream
        that gave it (None: the response is the router's own error)."""
        tried: set[Upstream] = set()
        tried_versions: set[str] = set()
        upstream: Upstream | None
        while True:
            if first is not None:
                upstream, first = first, None
            else:
                upstream = self._pick(version, tried)
            if upstream is None:
                tried_versions.add(version)
                following = self._weighted(tried_versions) if fallback else None
                if following is None:
                    return _error(503, f"no ready upstream for version {version}" if not fallback else
                                  "no version is deployed with a ready upstream", request_id), None
                version = following
                continue
            tried.add(upstream)
            try:
                return _relay(await self._exchange(upstream, version, data, head_only), version), upstream
            except ConnectFailed as exc:
                self.metrics.upstream_errors[version] += 1
                if self.upstreams.get(upstream.url) is upstream:
                    self._set_ready(upstream, False, str(exc))  # at once: the probe will see when it is back
            except UpstreamTimeout as exc:
                return _error(504, str(exc), request_id, version), None
            except ResponseBroken as exc:
                return _error(502, str(exc), request_id, version), None

    async def _exchange(self, upstream: Upstream, version: str, data: bytes, head_only: bool) -> UpstreamResponse:
        upstream.inflight += 1
        self.metrics.inflight[version] += 1
        try:
            return await upstream.pool.exchange(data, self.upstream_timeout, head_only)
        finally:
            upstream.inflight -= 1
            self.metrics.inflight[version] -= 1
            if upstream.inflight == 0 and self.draining.get(upstream.url) is upstream:
                del self.draining[upstream.url]
                upstream.pool.close()

    def _remember(self, request_id: str, version: str, upstream: Upstream) -> None:
        self.served_by[request_id] = (version, upstream.url)
        if len(self.served_by) > self.feedback_capacity:
            self.served_by.popitem(last=False)

    async def _feedback(self, request: Request, headers: list[tuple[bytes, bytes]], request_id: str) -> Response:
        """To the upstream that served the prediction (it alone remembers what it predicted)."""
        try:
            payload = orjson.loads(request.body)
        except orjson.JSONDecodeError as exc:
            return _error(400, f"the feedback body is not valid JSON: {exc}", request_id)
        served = payload.get("request_id") if isinstance(payload, dict) else None
        if not isinstance(served, str):
            return _error(400, "the feedback body needs a \"request_id\" (a string from x-request-id)", request_id)
        entry = self.served_by.get(served)
        if entry is None:
            return _error(404, f"unknown request_id {served!r}: not among the last {self.feedback_capacity} "
                               "requests this router forwarded", request_id)
        version, url = entry
        first = self.upstreams.get(url) or self.draining.get(url)
        if first is not None and first.version != version:
            first = None
        data = encode_request(request.method, request.target, headers, request.body)
        response, _ = await self._forward(data, False, version, request_id, fallback=False, first=first)
        return response

    # --- mirror --------------------------------------------------------------------------------

    def _maybe_mirror(self, request: Request, data: bytes, request_id: str, response: Response) -> None:
        """A copy to the mirror version, in the background, for requests another version answered."""
        mirror = self.table.mirror
        if mirror is None or response.version == mirror.version or request.path != "/predict":
            return
        if mirror.percent < 100 and random.random() * 100 >= mirror.percent:
            return
        upstream = self._pick(mirror.version, set())
        if upstream is None or self.mirrors_running >= MIRROR_CONCURRENCY:
            self.metrics.mirror_requests[(mirror.version, "skipped")] += 1
            return
        self.mirrors_running += 1
        task = asyncio.get_running_loop().create_task(
            self._mirror(upstream, mirror.version, data, request_id, response))
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def _mirror(self, upstream: Upstream, version: str, data: bytes, request_id: str, primary: Response) -> None:
        started = time.perf_counter()
        try:
            answer = await upstream.pool.exchange(data, self.upstream_timeout)
            status, body = answer.status, _parsed(answer.body)
        except UpstreamError as exc:
            status, body = None, {"error": str(exc)}
        finally:
            self.mirrors_running -= 1
        self.metrics.mirror_requests[(version, str(status) if status is not None else "error")] += 1
        if self.mirror_fd is not None:
            line = orjson.dumps({
                "time": time.time(), "request_id": request_id,
                "primary_version": primary.version, "primary_status": primary.status, "primary_body": _parsed(primary.body),
                "mirror_version": version, "mirror_status": status, "mirror_body": body,
                "mirror_latency_ms": round((time.perf_counter() - started) * 1000, 3),
            })
            os.write(self.mirror_fd, line + b"\n")  # one write on an O_APPEND file: lines never interleave

    # --- the admin port ---------------------------------------------------------------------------

    async def admin(self, request: Request) -> Response:
        endpoints = {"/routes": ("GET", "PUT"), "/metrics": ("GET",), "/healthz": ("GET",)}
        if request.path not in endpoints:
            return json_response(404, {"error": f"no endpoint {request.path} (admin: {', '.join(endpoints)})"})
        if request.method not in endpoints[request.path]:
            return json_response(405, {"error": f"method {request.method} not allowed on {request.path}; "
                                                f"use {' or '.join(endpoints[request.path])}"})
        if request.path == "/healthz":
            return json_response(200, {"status": "alive", "generation": self.generation})
        if request.path == "/metrics":
            return Response(200, [(b"content-type", CONTENT_TYPE)], self.metrics.exposition())
        if request.method == "GET":
            return json_response(200, self.state())
        return self._put_routes(request.body)

    def _put_routes(self, body: bytes) -> Response:
        try:
            table = parse_table(orjson.loads(body))
        except orjson.JSONDecodeError as exc:
            return json_response(400, {"error": f"the route table is not valid JSON: {exc}"})
        except TableError as exc:
            return json_response(400, {"error": str(exc)})
        try:
            generation = self.replace(table)
        except OSError as exc:
            return json_response(500, {"error": f"cannot save the routes to {self.routes_file}: {exc}; table not changed"})
        return json_response(200, {"generation": generation})

    def sent(self, request: Request, response: Response) -> None:
        self.metrics.request_done(response.version, response.status, time.perf_counter() - request.received)

    async def close(self, timeout: float) -> None:
        for upstream in self.upstreams.values():
            if upstream.probe is not None:
                upstream.probe.cancel()
        if self.background:
            await asyncio.wait(list(self.background), timeout=timeout)
        for upstream in [*self.upstreams.values(), *self.draining.values()]:
            upstream.pool.close()
        if self.mirror_fd is not None:
            os.close(self.mirror_fd)


# --- helpers ------------------------------------------------------------------------------------


def _upstream_headers(request: Request) -> tuple[list[tuple[bytes, bytes]], str]:
    """The caller's headers minus hop-by-hop ones, with an x-request-id (generated if missing) and a host."""
    dropped = _HOP_BY_HOP
    connection = request.header(b"connection")
    if connection is not None:  # headers named in Connection are hop-by-hop too
        dropped = dropped | {name.strip().lower() for name in connection.split(b",")}
    headers, request_id, has_host = [], None, False
    for name, value in request.headers:
        if name in dropped:
            continue
        if name == b"x-request-id":
            request_id = value.decode("latin-1")
        elif name == b"host":
            has_host = True
        headers.append((name, value))
    if request_id is None:
        request_id = f"{random.getrandbits(64):016x}"
        headers.append((b"x-request-id", request_id.encode()))
    if not has_host:
        headers.append((b"host", b"mlops-router"))
    return headers, request_id


def _relay(answer: UpstreamResponse, version: str) -> Response:
    """The upstream's response for the caller: hop-by-hop headers dropped, `x-served-by` added."""
    headers = [(name, value) for name, value in answer.headers if name not in _HOP_BY_HOP]
    headers.append((b"x-served-by", version.encode()))
    return Response(answer.status, headers, answer.body, answer.reason, version)


def _error(status: int, message: str, request_id: str, version: str | None = None) -> Response:
    headers = [(b"x-request-id", request_id.encode())]
    if version is not None:
        headers.append((b"x-served-by", version.encode()))
    response = json_response(status, {"error": message, "request_id": request_id}, headers)
    response.version = version or "none"
    return response


def _cookies(request: Request) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for name, value in request.headers:
        if name == b"cookie":
            for pair in value.decode("latin-1").split(";"):
                key, _, content = pair.strip().partition("=")
                cookies.setdefault(key, content.strip('"'))
    return cookies


def _parsed(body: bytes) -> Any:
    """A body for the mirror log: parsed JSON when it is JSON, else text."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode("utf-8", errors="replace")


# --- the process ----------------------------------------------------------------------------------


async def serve(args: argparse.Namespace) -> int:
    router = Router(args.routes_file, args.mirror_log, args.feedback_capacity, args.upstream_timeout)
    try:
        router.restore()
    except TableError as exc:
        log.error("cannot restore the routes: %s", exc)
        return 2
    public = HttpServer(router.handle, router.sent, name="public")
    admin = HttpServer(router.admin, name="admin")
    try:
        await public.listen(args.host, args.port)
        await admin.listen(args.host, args.admin_port)
    except OSError as exc:
        log.error("cannot listen on %s (port %d, admin port %d): %s", args.host, args.port, args.admin_port, exc)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info("router on http://%s:%d (admin :%d), generation %d, routes file %s", args.host, args.port,
             args.admin_port, router.generation, args.routes_file)
    await stop.wait()
    log.info("stopping: %d requests in flight", public.active)
    await asyncio.gather(public.stop(SHUTDOWN_TIMEOUT), admin.stop(5.0))
    await router.close(timeout=5.0)
    log.info("stopped")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mlops_helpers.router", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address of both ports")
    parser.add_argument("--port", type=int, required=True, help="the public port callers use")
    parser.add_argument("--admin-port", type=int, required=True, help="routes, metrics and health")
    parser.add_argument("--routes-file", type=Path, required=True,
                        help="where accepted route tables are saved, and restored from on start")
    parser.add_argument("--mirror-log", type=Path, help="JSON lines, one per mirrored request")
    parser.add_argument("--feedback-capacity", type=int, default=DEFAULT_FEEDBACK_CAPACITY,
                        help="request ids remembered for /feedback routing")
    parser.add_argument("--upstream-timeout", type=float, default=UPSTREAM_TIMEOUT,
                        help="seconds an upstream may take to answer before the caller gets a 504")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s router %(levelname)s %(message)s")
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # outlive the terminal or session that started it
    return uvloop.run(serve(args))
