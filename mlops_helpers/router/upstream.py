"""A keep-alive HTTP/1.1 client pool on asyncio + httptools (the router's upstream side).

One `ConnectionPool` per host:port. `exchange()` sends one pre-encoded request and returns
the whole response. Failures are told apart because the router's retry rules need it:

- `ConnectFailed`: no response byte arrived (refused, reset, a closed keep-alive
  connection), so the request can safely go elsewhere;
- `ResponseBroken`: the connection broke after the response began;
- `UpstreamTimeout`: no complete response in time.

Also used by tests/support/loadgen.py, with `retry_stale=False` so that no failure is hidden.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools

CONNECT_TIMEOUT = 5.0
MAX_IDLE = 256  # idle keep-alive connections kept per upstream


class UpstreamError(Exception):
    pass


class ConnectFailed(UpstreamError):
    """Nothing of a response arrived: connecting or sending failed, or the connection closed first."""


class ResponseBroken(UpstreamError):
    """The connection failed or sent garbage after the response had begun."""


class UpstreamTimeout(UpstreamError):
    pass


@dataclass(slots=True)
class UpstreamResponse:
    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]  # names lower-cased
    body: bytes

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


def split_url(url: str) -> tuple[str, int]:
    """host and port of an http://host:port URL (already validated by the route table)."""
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or 80


class _ClientConnection(asyncio.Protocol):
    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.received = False
        self.head_only = False
        self.reusable = False
        self._reason = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []

    def send(self, data: bytes, timeout: float, head_only: bool) -> asyncio.Future:
        transport = self.transport
        if transport is None:
            raise ConnectFailed(f"the connection to {self.pool.name} closed before the request was sent")
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        self.received = False
        self.reusable = False
        self.head_only = head_only
        self._reason, self._headers, self._body = b"", [], []
        self.timer = loop.call_later(timeout, self._timed_out, timeout)
        transport.write(data)
        return self.waiter

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ResponseBroken(f"malformed response from {self.pool.name}: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.pool.forget(self)
        if self.received:
            self._fail(ResponseBroken(f"{self.pool.name} closed the connection in the middle of a response"))
        else:
            reason = f": {exc}" if exc else ""
            self._fail(ConnectFailed(f"{self.pool.name} closed the connection before answering{reason}"))

    # --- httptools callbacks ---------------------------------------------------------------

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        if self.head_only:  # httptools cannot be told a HEAD response has no body: finish here, don't reuse
            self._complete(reusable=False)

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if not self.head_only:
            self._complete(self.parser.should_keep_alive())

    # --- outcome ---------------------------------------------------------------------------

    def _complete(self, reusable: bool) -> None:
        self.reusable = reusable
        waiter = self._finish()
        if waiter is not None:
            waiter.set_result(UpstreamResponse(self.parser.get_status_code(), self._reason,
                                               self._headers, b"".join(self._body)))

    def _fail(self, error: UpstreamError) -> None:
        self.reusable = False
        waiter = self._finish()
        if waiter is not None:
            waiter.set_exception(error)

    def _finish(self) -> asyncio.Future | None:
        waiter, self.waiter = self.waiter, None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        return waiter if waiter is not None and not waiter.done() else None

    def _timed_out(self, timeout: float) -> None:
        self.timer = None
        self._fail(UpstreamTimeout(f"{self.pool.name} did not answer within {timeout:g} s"))
        self.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class ConnectionPool:
    """Keep-alive connections to one host:port; connections are opened on demand."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.name = f"http://{host}:{port}"
        self._idle: list[_ClientConnection] = []
        self._all: set[_ClientConnection] = set()

    async def exchange(self, data: bytes, timeout: float, head_only: bool = False,
                       retry_stale: bool = True) -> UpstreamResponse:
        """Send `data` (a whole request) and return the whole response.

        With retry_stale, a reused keep-alive connection that turns out closed is replaced by
        a fresh one once: the upstream closing an idle connection is not an upstream failure.
        """
        connection = self._take_idle()
        if connection is None:
            return await self._send(await self._connect(), data, timeout, head_only)
        try:
            return await self._send(connection, data, timeout, head_only)
        except ConnectFailed:
            if not retry_stale:
                raise
        return await self._send(await self._connect(), data, timeout, head_only)

    async def _send(self, connection: _ClientConnection, data: bytes, timeout: float, head_only: bool) -> UpstreamResponse:
        try:
            response = await connection.send(data, timeout, head_only)
        except BaseException:  # a failure, or our caller was cancelled mid-exchange: the stream is unusable
            connection.close()
            raise
        if connection.reusable and connection.transport is not None and len(self._idle) < MAX_IDLE:
            self._idle.append(connection)
        else:
            connection.close()
        return response

    def _take_idle(self) -> _ClientConnection | None:
        while self._idle:
            connection = self._idle.pop()  # most recently used first: warm, least likely to have timed out
            if connection.transport is not None and not connection.transport.is_closing():
                return connection
        return None

    async def _connect(self) -> _ClientConnection:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(lambda: _ClientConnection(self), self.host, self.port), CONNECT_TIMEOUT)
        except (TimeoutError, OSError) as exc:
            raise ConnectFailed(f"cannot connect to {self.name}: {exc or 'timed out'}") from None
        self._all.add(connection)
        return connection

    def forget(self, connection: _ClientConnection) -> None:
        self._all.discard(connection)
        if connection in self._idle:
            self._idle.remove(connection)

    def close(self) -> None:
        for connection in list(self._all):
            connection.close()
        self._idle.clear()


def encode_request(method: str, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes) -> bytes:
    """An HTTP/1.1 request with a content-length (no other framing is ever sent upstream)."""
    parts = [method.encode("latin-1"), b" ", target, b" HTTP/1.1\r\n"]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    if body or method in ("POST", "PUT", "PATCH"):
        parts.append(b"content-length: %d\r\n" % len(body))
    parts += (b"\r\n", body)
    return b"".join(parts)
