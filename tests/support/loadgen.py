"""An open-loop HTTP load generator for the rollout tests and benchmarks.

Requests are scheduled at a fixed rate whatever the server does (open loop: a slow server
does not slow the load down) and sent over a bounded set of keep-alive connections with
the router's own client (mlops_helpers.router.upstream), without retries, so every
failure shows. Each response is recorded with the version that answered it
(`x-served-by`, else `x-model-version`), so a test can tell what reached which version when.

    with LoadGenerator("http://127.0.0.1:8000", 220, bodies) as load:
        ...                                  # deploy, roll back, kill things
    outcome = load.result                    # or: outcome = LoadGenerator(...).start() ... .stop()
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from mlops_helpers.router.upstream import ConnectionPool, UpstreamError, encode_request

MAX_ERRORS = 20


@dataclass
class LoadResult:
    sent: int = 0
    ok: int = 0  # 2xx
    failed: int = 0  # connection errors, timeouts and every non-2xx status
    by_version: collections.Counter = field(default_factory=collections.Counter)  # successful responses
    by_status: collections.Counter = field(default_factory=collections.Counter)  # 0: no response
    errors: list[str] = field(default_factory=list)  # the first MAX_ERRORS failures, described
    timeline: list[tuple[float, str, int]] = field(default_factory=list)  # (time.monotonic(), version or "", status or 0)
    latencies_ms: list[float] = field(default_factory=list)  # from the scheduled send time, for every response
    duration: float = 0.0  # seconds from start() to the last response
    sending: float = 0.0  # seconds from start() to stop(): while requests were being issued

    @property
    def rate(self) -> float:
        """Achieved answers per second (successful or not), including the drain after stop()."""
        return (self.ok + self.failed) / self.duration if self.duration > 0 else 0.0

    @property
    def offered_rate(self) -> float:
        """Requests issued per second while the load ran (open loop: what the system was asked to carry)."""
        return self.sent / self.sending if self.sending > 0 else 0.0

    def percentile_ms(self, quantile: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))] if ordered else float("nan")


class LoadGenerator:
    def __init__(self, url: str, rate: float, bodies: list[bytes], path: str = "/predict",
                 headers: Callable[[int], dict[str, str]] | None = None, connections: int = 16,
                 timeout: float = 10.0) -> None:
        if rate <= 0 or not bodies:
            raise ValueError("LoadGenerator needs rate > 0 and at least one body")
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.rate = rate
        self.bodies = bodies
        self.path = path.encode()
        self.headers = headers
        self.connections = connections
        self.timeout = timeout
        self.result = LoadResult()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()

    # --- public API -------------------------------------------------------------------------

    def start(self) -> LoadGenerator:
        self._thread = threading.Thread(target=self._run, name="loadgen", daemon=True)
        self._thread.start()
        self._ready.wait()
        return self

    def stop(self) -> LoadResult:
        """Stop scheduling, wait for the requests in flight (each has its timeout), return the result."""
        if self._thread is None:
            return self.result
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join()
        self._thread = None
        return self.result

    def __enter__(self) -> LoadGenerator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- the load thread --------------------------------------------------------------------

    def _run(self) -> None:
        import uvloop

        self._loop = uvloop.new_event_loop()
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        pool = ConnectionPool(self.host, self.port)
        slots = asyncio.Semaphore(self.connections)
        tasks: set[asyncio.Task] = set()
        started = time.monotonic()
        self._ready.set()
        index = 0
        while not self._stopping.is_set():
            now = time.monotonic()
            # Everything due by now goes out at once: timers are coarser than the interval at high rates.
            while started + index / self.rate <= now:
                task = asyncio.get_running_loop().create_task(self._one(pool, slots, index, started + index / self.rate))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                index += 1
            try:
                await asyncio.wait_for(self._stopping.wait(), max(0.0, started + index / self.rate - time.monotonic()))
            except TimeoutError:
                pass
        self.result.sending = time.monotonic() - started
        if tasks:
            await asyncio.wait(list(tasks))
        pool.close()
        self.result.duration = time.monotonic() - started

    async def _one(self, pool: ConnectionPool, slots: asyncio.Semaphore, index: int, scheduled: float) -> None:
        headers = [(b"host", f"{self.host}:{self.port}".encode()), (b"content-type", b"application/json")]
        if self.headers is not None:
            headers += [(name.lower().encode(), value.encode()) for name, value in self.headers(index).items()]
        data = encode_request("POST", self.path, headers, self.bodies[index % len(self.bodies)])
        result = self.result
        result.sent += 1
        async with slots:
            try:
                response = await pool.exchange(data, self.timeout, retry_stale=False)
            except UpstreamError as exc:
                self._record(scheduled, "", 0, f"request {index}: {exc}")
                return
        version = (response.header(b"x-served-by") or response.header(b"x-model-version") or b"").decode()
        problem = None if 200 <= response.status < 300 else f"request {index}: HTTP {response.status} {response.body[:200]!r}"
        self._record(scheduled, version, response.status, problem)

    def _record(self, scheduled: float, version: str, status: int, problem: str | None) -> None:
        now = time.monotonic()
        result = self.result
        result.timeline.append((now, version, status))
        result.latencies_ms.append((now - scheduled) * 1000.0)
        result.by_status[status] += 1
        if problem is None:
            result.ok += 1
            result.by_version[version] += 1
        else:
            result.failed += 1
            if len(result.errors) < MAX_ERRORS:
                result.errors.append(problem)
