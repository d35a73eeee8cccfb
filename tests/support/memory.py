"""An in-memory `StateStore` and `Backend` for in-process engine tests (no process, file or cluster).

Not a stand-in for a real component in any end-to-end test: the e2e suites run the same
engine against local processes and a real cluster. Here the backend records what the engine
asked for, so a test can assert the sequence of routing changes and server starts/stops.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from mlops_helpers.errors import MlopsError
from mlops_helpers.rollout.analysis import Snapshot, VersionCounters
from mlops_helpers.rollout.backends.base import BackendError, PreviewAnswer
from mlops_helpers.rollout.state import Deployment, RolloutState, Routing, Server


class MemoryStore:
    """`StateStore` in a dict: transactions copy the state in and out, as a real store serialises it."""

    engine_lock_lapse = 0.0

    def __init__(self) -> None:
        self._raw: dict[str, Any] | None = None
        self._lock = threading.RLock()
        self._engine = threading.Lock()
        self.event_log: list[dict[str, Any]] = []
        self.history_log: list[dict[str, Any]] = []

    def load(self) -> RolloutState | None:
        with self._lock:
            return None if self._raw is None else RolloutState.from_dict(copy.deepcopy(self._raw))

    def require(self) -> RolloutState:
        state = self.load()
        if state is None:
            raise MlopsError("no rollout yet")
        return state

    @contextmanager
    def transaction(self) -> Iterator[RolloutState | None]:
        with self._lock:
            state = self.load()
            yield state
            if state is not None:
                self._raw = state.to_dict()

    def create(self, state: RolloutState) -> None:
        with self._lock:
            self._raw = state.to_dict()

    def next_revision(self) -> int:
        state = self.load()
        return state.revision + 1 if state else 1

    def event(self, kind: str, message: str, **data: Any) -> dict[str, Any]:
        record = {"time": time.time(), "event": kind, "message": message, **data}
        self.event_log.append(record)
        return record

    def events(self, revision: int | None = None) -> list[dict[str, Any]]:
        return [e for e in self.event_log if revision is None or e.get("revision") == revision]

    def record_history(self, state: RolloutState) -> None:
        self.history_log.append(state.summary())

    def history(self) -> list[dict[str, Any]]:
        return list(self.history_log)

    @contextmanager
    def engine_lock(self) -> Iterator[None]:
        if not self._engine.acquire(blocking=False):
            raise MlopsError("another engine drives this rollout")
        try:
            yield
        finally:
            self._engine.release()

    def engine_running(self) -> bool:
        return self._engine.locked()


@dataclass
class MemoryBackend:
    """Records routing changes and server starts/stops; counters per version are set by the test."""

    name: str = "memory"
    replicas: int = 2
    ready_timeout: float = 1.0
    routing_restores_stable: bool = False
    fail_start: set[str] = field(default_factory=set)  # versions whose servers never become ready
    counters: dict[str, VersionCounters] = field(default_factory=dict)
    on_snapshot: Callable[[MemoryBackend], None] | None = None  # e.g. let traffic "happen" between looks
    routes: list[Routing] = field(default_factory=list)
    started: list[tuple[str, int]] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    alive: set[str] = field(default_factory=set)
    preview_answers: list[PreviewAnswer] = field(default_factory=list)

    @property
    def url(self) -> str:
        return "memory://router"

    def prepare(self) -> None:
        pass

    def start_server(self, version: str, artefact: str, index: int) -> Server:
        url = f"memory://{version}/{index}/{len(self.started)}"
        self.started.append((version, index))
        self.alive.add(url)
        return Server(url=url)

    def wait_ready(self, servers: list[Server], timeout: float, cancelled: Callable[[], bool]) -> None:
        for server in servers:
            version = server.url.split("/")[2]
            if version in self.fail_start:
                raise BackendError(f"v{version} never became ready ({server.url})")

    def server_alive(self, server: Server) -> bool:
        return server.url in self.alive

    def apply_routing(self, routing: Routing, stable: Deployment | None, candidate: Deployment | None,
                      warm: Deployment | None) -> None:
        self.routes.append(copy.deepcopy(routing))

    def retire(self, servers: list[Server], drain_timeout: float = 30.0) -> None:
        for server in servers:
            self.alive.discard(server.url)
            self.retired.append(server.url)

    def preview_predict(self, payload: dict[str, Any]) -> PreviewAnswer:
        return self.preview_answers.pop(0) if self.preview_answers else PreviewAnswer(0, None, "")

    def snapshot(self, deployments: list[Deployment]) -> Snapshot:
        if self.on_snapshot is not None:
            self.on_snapshot(self)
        return Snapshot(time.time(), copy.deepcopy(self.counters))

    def teardown(self, deployments: list[Deployment]) -> None:
        self.alive.clear()

    def weights(self) -> list[dict[str, int]]:
        """The sequence of weight tables the engine applied, without repeats."""
        seen: list[dict[str, int]] = []
        for routing in self.routes:
            if not seen or seen[-1] != routing.weights:
                seen.append(dict(routing.weights))
        return seen
