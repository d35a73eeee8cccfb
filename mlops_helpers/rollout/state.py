"""The persisted rollout state of one environment, and its event log.

Layout under `<state_dir>/<environment>/`:

    rollout.json    the current rollout (atomic replace; the source of truth for every command)
    events.jsonl    append-only event log, one JSON object per line
    history.jsonl   one line per finished rollout
    state.lock      held briefly around every read-modify-write (fcntl lock)
    engine.lock     held for its whole life by the process that drives the rollout

A killed engine releases `engine.lock` with its process, so `resume` and `abort` can tell a
running engine from a dead one without trusting pids. Every change is a transaction under
`state.lock`, so `abort` from another shell and the engine never overwrite each other.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlops_helpers.errors import MlopsError
from mlops_helpers.jsonlines import read_json_lines

ACTIVE = ("progressing", "paused")
TERMINAL = ("promoted", "aborted", "rolled_back", "failed")


@dataclass
class Server:
    """One model-server process (local backend) or pod group (kubernetes backend)."""

    url: str
    pid: int | None = None
    started: float | None = None  # process create time: guards against a reused pid
    log: str | None = None


@dataclass
class Deployment:
    version: str
    artefact: str
    servers: list[Server] = field(default_factory=list)
    keep_until: float | None = None  # a previous version kept warm for an instant undo

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> "Deployment | None":
        if raw is None:
            return None
        return cls(version=raw["version"], artefact=raw["artefact"], keep_until=raw.get("keep_until"),
                   servers=[Server(**server) for server in raw.get("servers", [])])


@dataclass
class Routing:
    """What the router does: relative weights per version, header/cookie matches, shadow copy."""

    weights: dict[str, int] = field(default_factory=dict)
    match: list[dict[str, str]] = field(default_factory=list)
    mirror: dict[str, Any] | None = None
    sticky_cookie: str | None = None


@dataclass
class RolloutState:
    environment: str
    model: str
    strategy: str
    revision: int
    status: str
    plan: list[dict[str, Any]]
    step_index: int = 0
    stable: Deployment | None = None
    candidate: Deployment | None = None
    previous: Deployment | None = None
    routing: Routing = field(default_factory=Routing)
    reason: str = ""
    pause: dict[str, Any] | None = None  # {"reason", "since", "until" (None = until promoted)}
    requests: dict[str, Any] = field(default_factory=dict)  # promote / promote_full asked by another shell
    analysis: list[dict[str, Any]] = field(default_factory=list)  # measurements of the current step
    step_state: dict[str, Any] = field(default_factory=dict)  # progress inside a long step (resumable)
    started_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    version: str | None = None  # the version this rollout brings out (kept after it finished)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "RolloutState":
        raw = dict(raw)
        for key in ("stable", "candidate", "previous"):
            raw[key] = Deployment.from_dict(raw.get(key))
        raw["routing"] = Routing(**raw.get("routing", {}))
        return cls(**raw)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def current_step(self) -> dict[str, Any] | None:
        return self.plan[self.step_index] if self.step_index < len(self.plan) else None

    def summary(self) -> dict[str, Any]:
        """What `status` prints and Jenkins reads."""
        step = self.current_step()
        return {
            "env": self.environment, "model": self.model, "strategy": self.strategy, "revision": self.revision,
            "version": self.version,
            "status": self.status, "reason": self.reason,
            "stable": self.stable.version if self.stable else None,
            "candidate": self.candidate.version if self.candidate else None,
            "previous": self.previous.version if self.previous else None,
            "previous_warm_until": self.previous.keep_until if self.previous else None,
            "weights": dict(self.routing.weights), "match": list(self.routing.match), "mirror": self.routing.mirror,
            "step": {"index": self.step_index, "total": len(self.plan), "name": step["type"] if step else "done",
                     "detail": describe_step(step) if step else ""},
            "pause": self.pause, "analysis": self.analysis[-20:],
            "started_at": self.started_at, "updated_at": self.updated_at, "finished_at": self.finished_at,
        }


def describe_step(step: dict[str, Any]) -> str:
    kind = step["type"]
    if kind == "set_weight":
        return f"send {step['weight']}% of traffic to the new version"
    if kind == "pause":
        return f"pause {step['duration']:g}s" if step.get("duration") is not None else "pause until promoted"
    if kind == "analysis":
        return f"analysis: {', '.join(step['metrics'])} × {step['count']} every {step['interval']:g}s"
    return step.get("description", kind.replace("_", " "))


class StateStore:
    engine_lock_lapse = 0.0  # the engine's flock goes with its process: a dead driver holds nothing

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.state_file = folder / "rollout.json"
        self.events_file = folder / "events.jsonl"
        self.history_file = folder / "history.jsonl"

    def load(self) -> RolloutState | None:
        if not self.state_file.exists():
            return None
        try:
            return RolloutState.from_dict(json.loads(self.state_file.read_text()))
        except (ValueError, TypeError, KeyError) as exc:
            raise MlopsError(f"{self.state_file}: rollout state is unreadable ({exc}); "
                             "it is only ever replaced atomically, so it was edited by hand") from None

    def require(self) -> RolloutState:
        state = self.load()
        if state is None:
            raise MlopsError(f"no rollout in environment '{self.folder.name}' yet (start one with `mlops deploy`)")
        return state

    @contextmanager
    def transaction(self) -> Iterator[RolloutState | None]:
        """Read the state under the lock; changes made to it are saved when the block ends."""
        with self._lock("state.lock"):
            state = self.load()
            yield state
            if state is not None:
                self._save(state)

    def create(self, state: RolloutState) -> None:
        with self._lock("state.lock"):
            self._save(state)

    def _save(self, state: RolloutState) -> None:
        state.updated_at = time.time()
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self.state_file.with_suffix(f".{os.getpid()}.tmp")
        with open(temporary, "w") as handle:
            json.dump(state.to_dict(), handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(self.state_file)

    def event(self, kind: str, message: str, **data: Any) -> dict[str, Any]:
        record = {"time": time.time(), "event": kind, "message": message, **data}
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.events_file, "a") as handle:
            handle.write(json.dumps(record, default=str) + "\n")
        return record

    def events(self, revision: int | None = None) -> list[dict[str, Any]]:
        return [event for event in read_json_lines(self.events_file) if revision is None or event.get("revision") == revision]

    def record_history(self, state: RolloutState) -> None:
        with open(self.history_file, "a") as handle:
            handle.write(json.dumps({key: value for key, value in state.summary().items() if key != "analysis"}) + "\n")

    def history(self) -> list[dict[str, Any]]:
        return read_json_lines(self.history_file)

    def next_revision(self) -> int:
        previous = self.load()
        return previous.revision + 1 if previous else 1

    @contextmanager
    def engine_lock(self) -> Iterator[None]:
        """Held by the one process driving the rollout; refuses a second one."""
        self.folder.mkdir(parents=True, exist_ok=True)
        handle = open(self.folder / "engine.lock", "a+")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise MlopsError(f"another `mlops` process is driving the rollout in '{self.folder.name}' "
                                 "(use `mlops rollout status|promote|abort` from here)") from None
            handle.seek(0), handle.truncate(), handle.write(str(os.getpid())), handle.flush()
            yield
        finally:
            handle.close()

    def engine_running(self) -> bool:
        path = self.folder / "engine.lock"
        if not path.exists():
            return False
        with open(path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False

    @contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / name, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
