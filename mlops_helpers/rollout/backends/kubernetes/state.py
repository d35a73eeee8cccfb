"""Rollout state kept in the cluster, so any machine with the kubeconfig can status|promote|abort.

`rollout.state.StateStore` on Kubernetes objects in the target namespace:

    ConfigMap mlops-rollout-<env>          rollout.json (the state) and history.jsonl
    ConfigMap mlops-rollout-<env>-events   events.jsonl (the newest MAX_EVENTS lines)
    Lease     mlops-rollout-<env>-state    held around every read-modify-write (like state.lock)
    Lease     mlops-rollout-<env>-engine   held, and renewed, by the process driving the rollout

Leases expire: a killed engine stops renewing, and after `ENGINE_LEASE_SECONDS` another
machine may resume or abort. Lease updates carry the object's resourceVersion, so two
machines can never both believe they hold one (the API server refuses the second update).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from mlops_helpers.errors import MlopsError
from mlops_helpers.rollout.state import RolloutState

STATE_LEASE_SECONDS = 15  # a process that dies inside a transaction blocks others this long at most
ENGINE_LEASE_SECONDS = 10
LOCK_WAIT_SECONDS = 60.0
MAX_EVENTS = 1000  # a ConfigMap holds at most 1 MiB
MAX_HISTORY = 200


class KubeStateStore:
    def __init__(self, core_api, coordination_api, namespace: str, environment: str,
                 engine_lease_seconds: int = ENGINE_LEASE_SECONDS) -> None:
        self.core = core_api
        self.namespace, self.environment = namespace, environment
        self.name = f"mlops-rollout-{environment}"
        self.identity = f"{socket.gethostname()}:{os.getpid()}"
        self._state_lease = LeaseLock(coordination_api, namespace, f"{self.name}-state", self.identity, STATE_LEASE_SECONDS)
        self._engine_lease = LeaseLock(coordination_api, namespace, f"{self.name}-engine", self.identity,
                                       engine_lease_seconds)
        # A driver that died is known as such only when its lease lapses (no process to ask).
        self.engine_lock_lapse = float(engine_lease_seconds)

    # --- the state ------------------------------------------------------------------------

    def load(self) -> RolloutState | None:
        data = self._read(self.name)
        if not data or "rollout.json" not in data:
            return None
        try:
            return RolloutState.from_dict(json.loads(data["rollout.json"]))
        except (ValueError, TypeError, KeyError) as exc:
            raise MlopsError(f"ConfigMap {self.namespace}/{self.name}: rollout state is unreadable ({exc})") from None

    def require(self) -> RolloutState:
        state = self.load()
        if state is None:
            raise MlopsError(f"no rollout in environment '{self.environment}' (namespace {self.namespace}) yet "
                             "(start one with `mlops deploy`)")
        return state

    @contextmanager
    def transaction(self) -> Iterator[RolloutState | None]:
        with self._state_lease.held(LOCK_WAIT_SECONDS):
            state = self.load()
            yield state
            if state is not None:
                self._save(state)

    def create(self, state: RolloutState) -> None:
        with self._state_lease.held(LOCK_WAIT_SECONDS):
            self._save(state)

    def next_revision(self) -> int:
        previous = self.load()
        return previous.revision + 1 if previous else 1

    def _save(self, state: RolloutState) -> None:
        state.updated_at = time.time()
        self._update(self.name, {"rollout.json": json.dumps(state.to_dict(), sort_keys=True)})

    # --- event log and history ------------------------------------------------------------

    def event(self, kind: str, message: str, **data: Any) -> dict[str, Any]:
        record = {"time": time.time(), "event": kind, "message": message, **data}
        with self._state_lease.held(LOCK_WAIT_SECONDS):
            self._append(f"{self.name}-events", "events.jsonl", record, MAX_EVENTS)
        return record

    def events(self, revision: int | None = None) -> list[dict[str, Any]]:
        lines = _lines((self._read(f"{self.name}-events") or {}).get("events.jsonl", ""))
        return [event for event in lines if revision is None or event.get("revision") == revision]

    def record_history(self, state: RolloutState) -> None:
        summary = {key: value for key, value in state.summary().items() if key != "analysis"}
        with self._state_lease.held(LOCK_WAIT_SECONDS):
            self._append(self.name, "history.jsonl", summary, MAX_HISTORY)

    def history(self) -> list[dict[str, Any]]:
        return _lines((self._read(self.name) or {}).get("history.jsonl", ""))

    # --- the engine -------------------------------------------------------------------------

    @contextmanager
    def engine_lock(self) -> Iterator[None]:
        if not self._engine_lease.try_acquire():
            raise MlopsError(f"another process ({self._engine_lease.holder()}) is driving the rollout in "
                             f"'{self.environment}' (use `mlops rollout status|promote|abort` from here)")
        stop = threading.Event()
        renewer = threading.Thread(target=self._renew_engine_lease, args=(stop,), name="engine-lease", daemon=True)
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join()
            self._engine_lease.release()

    def engine_running(self) -> bool:
        return self._engine_lease.held_by_anyone()

    def _renew_engine_lease(self, stop: threading.Event) -> None:
        while not stop.wait(self._engine_lease.duration / 3):
            self._engine_lease.try_acquire()

    # --- ConfigMaps ---------------------------------------------------------------------------

    def _read(self, name: str) -> dict[str, str] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            return self.core.read_namespaced_config_map(name, self.namespace).data or {}
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise MlopsError(f"cannot read ConfigMap {self.namespace}/{name}: {exc.status} {exc.reason}") from None

    def _update(self, name: str, data: dict[str, str]) -> None:
        """Merge keys into the ConfigMap (created on first use); callers hold the state lease."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        current = self._read(name)
        body = client.V1ConfigMap(metadata=client.V1ObjectMeta(
            name=name, labels={"app.kubernetes.io/managed-by": "mlops", "mlops.dev/environment": self.environment}),
            data={**(current or {}), **data})
        try:
            if current is None:
                self.core.create_namespaced_config_map(self.namespace, body)
            else:
                self.core.replace_namespaced_config_map(name, self.namespace, body)
        except ApiException as exc:
            raise MlopsError(f"cannot write ConfigMap {self.namespace}/{name}: {exc.status} {exc.reason}") from None

    def _append(self, name: str, key: str, record: dict[str, Any], keep: int) -> None:
        lines = ((self._read(name) or {}).get(key, "")).splitlines()[-(keep - 1):]
        self._update(name, {key: "\n".join([*lines, json.dumps(record, default=str)]) + "\n"})


class LeaseLock:
    """A coordination.k8s.io Lease used as a lock that expires when its holder stops renewing."""

    def __init__(self, api, namespace: str, name: str, identity: str, duration: int) -> None:
        self.api, self.namespace, self.name = api, namespace, name
        self.identity, self.duration = identity, duration
        self._depth = 0  # re-entrant: an event logged inside a transaction must not release its lease

    @contextmanager
    def held(self, wait: float) -> Iterator[None]:
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        deadline = time.monotonic() + wait
        while not self.try_acquire():
            if time.monotonic() > deadline:
                raise MlopsError(f"Lease {self.namespace}/{self.name} is held by {self.holder()} for over {wait:.0f}s")
            time.sleep(0.05)
        self._depth = 1
        try:
            yield
        finally:
            self._depth = 0
            self.release()

    def try_acquire(self) -> bool:
        """Take (or renew) the lease unless someone else holds it and it has not expired."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        now = datetime.now(UTC)
        lease = self._get()
        spec = client.V1LeaseSpec(holder_identity=self.identity, lease_duration_seconds=self.duration,
                                  acquire_time=now, renew_time=now)
        try:
            if lease is None:
                self.api.create_namespaced_lease(self.namespace, client.V1Lease(
                    metadata=client.V1ObjectMeta(name=self.name), spec=spec))
                return True
            if _live_holder(lease, now) not in (None, self.identity):
                return False
            if lease.spec.holder_identity == self.identity and lease.spec.acquire_time:
                spec.acquire_time = lease.spec.acquire_time
            lease.spec = spec  # metadata keeps its resourceVersion: a concurrent taker gets 409
            self.api.replace_namespaced_lease(self.name, self.namespace, lease)
            return True
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise MlopsError(f"cannot update Lease {self.namespace}/{self.name}: {exc.status} {exc.reason}") from None

    def release(self) -> None:
        from kubernetes.client.exceptions import ApiException

        lease = self._get()
        if lease is None or lease.spec.holder_identity != self.identity:
            return
        lease.spec.holder_identity = None
        try:
            self.api.replace_namespaced_lease(self.name, self.namespace, lease)
        except ApiException as exc:
            if exc.status != 409:  # someone took it over meanwhile: nothing left to release
                raise MlopsError(f"cannot release Lease {self.namespace}/{self.name}: {exc.status} {exc.reason}") from None

    def holder(self) -> str | None:
        lease = self._get()
        return None if lease is None else _live_holder(lease, datetime.now(UTC))

    def held_by_anyone(self) -> bool:
        return self.holder() is not None

    def _get(self):
        from kubernetes.client.exceptions import ApiException

        try:
            return self.api.read_namespaced_lease(self.name, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise MlopsError(f"cannot read Lease {self.namespace}/{self.name}: {exc.status} {exc.reason}") from None


def _live_holder(lease, now: datetime) -> str | None:
    """The holder, unless the lease is free or its holder stopped renewing it."""
    spec = lease.spec
    if not spec.holder_identity or spec.renew_time is None:
        return None
    expires = spec.renew_time + timedelta(seconds=spec.lease_duration_seconds or 0)
    return spec.holder_identity if expires > now else None


def _lines(text: str) -> list[dict[str, Any]]:
    records = []
    for line in text.splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records
