"""The router's HTTP/1.1 front end: asyncio + httptools, keep-alive and pipelining, whole bodies.

No framework: every request through the router crosses this code twice per hop, so it
is kept to what a reverse proxy in front of JSON model servers needs. Requests on one
connection are answered in order; bodies (plain or chunked) are read whole, up to a limit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus

import httptools
import orjson

log = logging.getLogger("mlops.router")

MAX_BODY_BYTES = 64 * 1024 * 1024
_REASONS = {status.value: status.phrase.encode() for status in HTTPStatus}


@dataclass(slots=True)
class Request:
    method: str
    target: bytes  # path and query as the caller sent them, forwarded unchanged
    path: str
    headers: list[tuple[bytes, bytes]]  # names lower-cased
    body: bytes
    keep_alive: bool
    received: float  # perf_counter() when the request began to arrive

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclass(slots=True)
class Response:
    status: int
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)  # no content-length / connection
    body: bytes = b""
    reason: bytes = b""
    version: str = "none"  # the model version that answered, for the router's metrics


def json_response(status: int, payload: object, headers: list[tuple[bytes, bytes]] | None = None) -> Response:
    return Response(status, [(b"content-type", b"application/json"), *(headers or [])], orjson.dumps(payload))


Handler = Callable[[Request], Awaitable[Response]]
SentHook = Callable[[Request, Response], None]


class HttpServer:
    """Serves `handler` on one listening socket; `stop()` waits for in-flight requests."""

    def __init__(self, handler: Handler, on_sent: SentHook | None = None, name: str = "http") -> None:
        self.handler = handler
        self.on_sent = on_sent
        self.name = name
        self.connections: set[_Connection] = set()
        self.active = 0  # requests being handled, over all connections
        self.stopping = False
        self._server: asyncio.base_events.Server | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    async def listen(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), host, port, backlog=2048)

    async def stop(self, timeout: float) -> None:
        """Stop accepting, answer what is in flight (then close those connections), close idle ones."""
        self.stopping = True
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            connection.close_if_idle()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            log.warning("%s: %d requests still in flight after %.0f s; closing", self.name, self.active, timeout)
        for connection in list(self.connections):
            connection.close()

    def _started(self) -> None:
        self.active += 1
        self._idle.clear()

    def _finished(self) -> None:
        self.active -= 1
        if self.active == 0:
            self._idle.set()


class _Connection(asyncio.Protocol):
    """One client connection: parses requests, hands them to the server's handler one at a time."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.pending: deque[Request] = deque()
        self.busy = False
        self.refused = False  # a fatal request error was answered; ignore the rest of the stream
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._size = 0
        self._received = 0.0

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self.transport = None
        self.pending.clear()

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(400, "protocol upgrades are not supported")
        except httptools.HttpParserError as exc:
            if not self.refused:
                self._refuse(400, f"malformed HTTP request: {exc}")

    # --- httptools callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._received = time.perf_counter()
        self._url = b""
        self._headers = []
        self._body = []
        self._size = 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        # curl and others wait up to a second for this before sending a large body.
        for name, value in self._headers:
            if name == b"expect" and value.lower() == b"100-continue" and self.transport is not None:
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > MAX_BODY_BYTES:
            self._refuse(413, f"request body over the router's limit of {MAX_BODY_BYTES} bytes")
            raise httptools.HttpParserError("body too large")
        self._body.append(body)

    def on_message_complete(self) -> None:
        url = self._url
        query_at = url.find(b"?")
        path = (url if query_at < 0 else url[:query_at]).decode("latin-1")
        request = Request(self.parser.get_method().decode("latin-1"), url, path, self._headers,
                          b"".join(self._body), self.parser.should_keep_alive(), self._received)
        self.pending.append(request)
        if not self.busy:
            self._next()

    # --- answering ---------------------------------------------------------------------------

    def _next(self) -> None:
        if self.pending and self.transport is not None:
            self.busy = True
            self.server._started()
            asyncio.get_running_loop().create_task(self._serve(self.pending.popleft()))
        else:
            self.busy = False
            if self.server.stopping:
                self.close()

    async def _serve(self, request: Request) -> None:
        try:
            try:
                response = await self.server.handler(request)
            except Exception:  # one request's bug must not take the connection or the router down
                log.exception("%s: request %s %s failed", self.server.name, request.method, request.path)
                response = json_response(500, {"error": "internal error in the router (logged)"})
            keep_alive = request.keep_alive and not self.server.stopping
            self._write(request, response, keep_alive)
            if self.server.on_sent is not None:
                self.server.on_sent(request, response)
            if not keep_alive:
                self.close()
        finally:
            self.server._finished()
        self._next()

    def _write(self, request: Request, response: Response, keep_alive: bool) -> None:
        if self.transport is None:
            return  # the caller went away; nothing to answer
        status = response.status
        parts = [b"HTTP/1.1 %d %s\r\n" % (status, response.reason or _REASONS.get(status, b"Unknown"))]
        for name, value in response.headers:
            parts += (name, b": ", value, b"\r\n")
        body = b"" if request.method == "HEAD" else response.body
        parts.append(b"content-length: %d\r\n" % len(response.body))
        if not keep_alive:
            parts.append(b"connection: close\r\n")
        parts += (b"\r\n", body)
        self.transport.write(b"".join(parts))

    def _refuse(self, status: int, message: str) -> None:
        """Answer a request that cannot be parsed, then close: the stream cannot be trusted."""
        self.refused = True
        if self.transport is not None:
            response = json_response(status, {"error": message})
            self._write(Request("GET", b"", "", [], b"", False, time.perf_counter()), response, keep_alive=False)
            self.close()

    def close_if_idle(self) -> None:
        if not self.busy:
            self.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None
