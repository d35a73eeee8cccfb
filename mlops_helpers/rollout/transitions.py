"""Rollout transitions that end or tidy a rollout: used by the engine, its steps and the CLI commands."""

from __future__ import annotations

import time

from mlops_helpers.console import Reporter
from mlops_helpers.rollout.backends.base import Backend, BackendError
from mlops_helpers.rollout.state import RolloutState, Routing, StateStore


def abort_rollout(store: StateStore, backend: Backend, reason: str, status: str = "aborted",
                  reporter: Reporter | None = None) -> RolloutState:
    """All traffic back to the stable version, then stop the candidate. Instant while stable is fully scaled."""
    state = store.require()
    if not state.active:
        raise BackendError(f"nothing to abort: the rollout of revision {state.revision} is {state.status}")
    replicas = backend.replicas
    stable = state.stable
    if stable is not None and stable.servers is not None and not backend.routing_restores_stable:
        alive = [s for s in stable.servers if backend.server_alive(s)]
        # Recreate and ramped shrink the stable version: bring it back before moving traffic.
        missing = [backend.start_server(stable.version, stable.artefact, index) for index in range(len(alive), replicas)]
        if missing:
            with store.transaction() as current:
                if current is not None:
                    current.require_stable().servers = alive + missing
            backend.wait_ready(missing, backend.ready_timeout, cancelled=lambda: False)
    with store.transaction() as current:
        if current is None or not current.active:
            revision, status_now = (current.revision, current.status) if current else (state.revision, "gone")
            raise BackendError(f"nothing to abort: the rollout of revision {revision} is {status_now}")
        candidate = current.candidate
        current.routing = Routing(weights={current.stable.version: 100} if current.stable else {})
        backend.apply_routing(current.routing, current.stable, None, current.previous)
        current.status, current.reason, current.finished_at = status, reason, time.time()
        current.candidate, current.pause, current.requests = None, None, {}
        finished = current
    store.event(status, reason, revision=finished.revision)
    if reporter:
        reporter.note(f"{status}: {reason}")
    if candidate is not None:
        backend.retire(candidate.servers)
    store.record_history(finished)
    return finished


def retire_previous(store: StateStore, backend: Backend, only_expired: bool = False) -> None:
    """Stop the version kept warm for an undo (after its keep window, or at once)."""
    state = store.load()
    if state is None or state.previous is None or not state.previous.servers:
        return
    if only_expired and (state.previous.keep_until or 0) > time.time():
        return
    with store.transaction() as current:
        if current is None or current.previous is None:
            return
        leaving = current.previous.servers
        current.previous.servers = []
        current.previous.keep_until = None
        backend.apply_routing(current.routing, current.stable, current.candidate, None)
    backend.retire(leaving)
