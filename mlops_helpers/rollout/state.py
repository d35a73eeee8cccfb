"""The persisted rollout state of one environment, and the `StateStore` interface that keeps it.

`RolloutState` is plain data (it round-trips through JSON); the stores live with their
backends (`backends/local/state.py`, `backends/kubernetes/state.py`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from mlops_helpers.errors import MlopsError

if TYPE_CHECKING:
    from mlops_helpers.rollout.steps.base import Step

ACTIVE = ("progressing", "paused")


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
    def from_dict(cls, raw: dict[str, Any] | None) -> Deployment | None:
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
    plan: list[Step]  # persisted as dicts: {"type": ..., parameters}
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

    def __post_init__(self) -> None:
        from mlops_helpers.rollout.steps import step_from_dict  # the steps use this module's types

        self.plan = [step_from_dict(step) if isinstance(step, dict) else step for step in self.plan]

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RolloutState:
        raw = dict(raw)
        for key in ("stable", "candidate", "previous"):
            raw[key] = Deployment.from_dict(raw.get(key))
        raw["routing"] = Routing(**raw.get("routing", {}))
        return cls(**raw)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "plan": [step.to_dict() for step in self.plan]}

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def current_step(self) -> Step | None:
        return self.plan[self.step_index] if self.step_index < len(self.plan) else None

    def require(self, role: str) -> Deployment:
        """The stable, candidate or previous deployment, which the caller needs to exist."""
        deployment = {"stable": self.stable, "candidate": self.candidate, "previous": self.previous}[role]
        if deployment is None:
            raise MlopsError(f"rollout #{self.revision} in '{self.environment}' has no {role} version at step "
                             f"{self.step_index + 1}/{len(self.plan)}")
        return deployment

    def require_stable(self) -> Deployment:
        return self.require("stable")

    def require_candidate(self) -> Deployment:
        return self.require("candidate")

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
            "step": {"index": self.step_index, "total": len(self.plan), "name": step.type if step else "done",
                     "detail": step.describe() if step else ""},
            "pause": self.pause, "analysis": self.analysis[-20:],
            "started_at": self.started_at, "updated_at": self.updated_at, "finished_at": self.finished_at,
        }


class StateStore(Protocol):
    """Where a rollout's state lives; the engine and every `mlops rollout` command go through it.

    Implemented on local files (`backends.local.state.FileStateStore`) and on Kubernetes
    ConfigMaps and Leases (`backends.kubernetes.state.KubeStateStore`); both pass the same
    contract tests. `transaction()` is the only way to change the state: the block sees the
    current state under a lock held against every other process, and what it changes is saved
    when the block ends.
    """

    engine_lock_lapse: float  # seconds a dead engine may still look alive (a Lease's duration; 0 for a flock)

    def load(self) -> RolloutState | None: ...
    def require(self) -> RolloutState: ...
    def transaction(self) -> AbstractContextManager[RolloutState | None]: ...
    def create(self, state: RolloutState) -> None: ...
    def next_revision(self) -> int: ...
    def event(self, kind: str, message: str, **data: Any) -> dict[str, Any]: ...
    def events(self, revision: int | None = None) -> list[dict[str, Any]]: ...
    def record_history(self, state: RolloutState) -> None: ...
    def history(self) -> list[dict[str, Any]]: ...
    def engine_lock(self) -> AbstractContextManager[None]: ...
    def engine_running(self) -> bool: ...


@contextmanager
def changing(store: StateStore) -> Iterator[RolloutState]:
    """`store.transaction()` on a rollout that must exist (MlopsError naming the command otherwise)."""
    with store.transaction() as state:
        if state is None:
            raise MlopsError("no rollout in this environment yet (start one with `mlops deploy`)")
        yield state
