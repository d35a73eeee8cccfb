"""The `StateStore` contract (mlops_helpers/rollout/state.py): the same tests against every store.

`FileStateStore` runs on a tmp_path folder; `KubeStateStore` on ConfigMaps and Leases of the real
test cluster (a namespace per test), so those parameters are marked `cluster`. What another
process sees is checked from another process (a spawned one, building its own store from the same
folder or namespace): the engine lock is an inter-process lock in both stores.
"""

from __future__ import annotations

import inspect
import multiprocessing
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlops_helpers.errors import MlopsError
from mlops_helpers.rollout.backends.kubernetes.state import KubeStateStore
from mlops_helpers.rollout.backends.local.state import FileStateStore
from mlops_helpers.rollout.state import Deployment, RolloutState, StateStore
from mlops_helpers.rollout.steps import step_from_dict

ENVIRONMENT = "production"
LEASE = 2  # seconds: the Kubernetes engine lease, short so that a test never waits long on one
HOLDER_TIMEOUT = 60.0
PLAN: list[dict[str, Any]] = [{"type": "set_weight", "weight": 10}, {"type": "switch"}]  # as persisted


def _both_are_state_stores(folder: Path, core_api: Any, coordination_api: Any) -> list[StateStore]:
    """Never called: mypy checks it (a store that drifts from the Protocol fails to type-check here),
    and test_every_store_has_the_protocols_methods_with_its_parameters checks the same at run time."""
    return [FileStateStore(folder), KubeStateStore(core_api, coordination_api, "namespace", ENVIRONMENT)]


# --------------------------------------------------------------------------- the stores


@dataclass(frozen=True)
class StoreSpec:
    """What a process needs to open the same store: picklable, for the spawned holder process."""

    kind: str  # "file" or "kube"
    folder: str = ""
    kubeconfig: str = ""
    namespace: str = ""

    def open(self) -> StateStore:
        if self.kind == "file":
            return FileStateStore(Path(self.folder))
        from kubernetes import client, config

        api_client = config.new_client_from_config(config_file=self.kubeconfig)
        return KubeStateStore(client.CoreV1Api(api_client), client.CoordinationV1Api(api_client), self.namespace,
                              ENVIRONMENT, engine_lease_seconds=LEASE)


@dataclass(frozen=True)
class Opened:
    store: StateStore
    spec: StoreSpec


@pytest.fixture(params=["file", pytest.param("kube", marks=pytest.mark.cluster)])
def opened(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opened]:
    if request.param == "file":
        spec = StoreSpec("file", folder=str(tmp_path / ENVIRONMENT))
        yield Opened(spec.open(), spec)
        return
    from kubernetes import client

    cluster = request.getfixturevalue("kube_cluster")
    core = client.CoreV1Api(cluster.api_client())
    namespace = f"contract-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    try:
        spec = StoreSpec("kube", kubeconfig=str(cluster.kubeconfig), namespace=namespace)
        yield Opened(spec.open(), spec)
    finally:
        core.delete_namespace(namespace)


def new_state(revision: int = 1) -> RolloutState:
    return RolloutState(environment=ENVIRONMENT, model="churn", strategy="canary", revision=revision,
                        status="progressing", plan=[step_from_dict(step) for step in PLAN],
                        stable=Deployment("1", "/registry/churn/versions/1"),
                        candidate=Deployment("2", "/registry/churn/versions/2"))


# --------------------------------------------------------------------------- the Protocol


def _members(cls: type) -> dict[str, Any]:
    return {name: value for name, value in vars(cls).items() if not name.startswith("_")}


def test_these_tests_cover_every_member_of_the_protocol() -> None:
    """A member added to StateStore fails here until the contract has a test for it."""
    expected = {"load", "require", "transaction", "create", "next_revision", "event", "events", "record_history",
                "history", "engine_lock", "engine_running"}
    assert set(_members(StateStore)) == expected
    assert set(StateStore.__annotations__) == {"engine_lock_lapse"}


@pytest.mark.parametrize("store_class", [FileStateStore, KubeStateStore])
def test_every_store_has_the_protocols_methods_with_its_parameters(store_class: type) -> None:
    for name, method in _members(StateStore).items():
        implemented = getattr(store_class, name, None)
        assert callable(implemented), f"{store_class.__name__}.{name} is missing"
        assert list(inspect.signature(implemented).parameters) == list(inspect.signature(method).parameters), \
            f"{store_class.__name__}.{name}{inspect.signature(implemented)} differs from StateStore.{name}{inspect.signature(method)}"


# --------------------------------------------------------------------------- the state


def test_an_empty_store_has_no_state_and_require_says_so(opened: Opened) -> None:
    store = opened.store
    assert store.load() is None
    with pytest.raises(MlopsError, match=f"no rollout in environment '{ENVIRONMENT}'"):
        store.require()
    assert store.next_revision() == 1
    with store.transaction() as state:
        assert state is None
    assert store.load() is None  # a transaction over nothing writes nothing


def test_create_then_load_round_trips_the_whole_state(opened: Opened) -> None:
    created = new_state()
    opened.store.create(created)
    for store in (opened.store, opened.spec.open()):  # the same store, and another client of its storage
        loaded = store.require()
        assert loaded.to_dict() == created.to_dict()
        assert [step.to_dict() for step in loaded.plan] == PLAN


def test_a_transaction_saves_its_changes_and_the_next_one_sees_them(opened: Opened) -> None:
    store = opened.store
    store.create(new_state())
    with store.transaction() as state:
        assert state is not None
        state.step_index = 1
        state.routing.weights = {"1": 90, "2": 10}
    with opened.spec.open().transaction() as state:
        assert state is not None
        assert (state.step_index, state.routing.weights) == (1, {"1": 90, "2": 10})
        state.status = "paused"
    loaded = store.require()
    assert (loaded.step_index, loaded.status, loaded.routing.weights) == (1, "paused", {"1": 90, "2": 10})


def test_next_revision_follows_the_current_rollout(opened: Opened) -> None:
    store = opened.store
    store.create(new_state(revision=1))
    assert store.next_revision() == 2
    store.create(new_state(revision=7))  # a new rollout replaces the finished one
    assert store.next_revision() == 8
    assert store.require().revision == 7


# --------------------------------------------------------------------------- events and history


def test_events_are_kept_in_order_and_filtered_by_revision(opened: Opened) -> None:
    store = opened.store
    record = store.event("step", "send 10%", revision=1, weight=10)
    assert record["event"] == "step" and record["message"] == "send 10%" and record["weight"] == 10
    store.event("note", "without a revision")
    opened.spec.open().event("step", "send 10%", revision=2)
    store.event("done", "promoted", revision=1)
    assert [e["message"] for e in store.events()] == ["send 10%", "without a revision", "send 10%", "promoted"]
    assert [(e["event"], e["message"]) for e in store.events(1)] == [("step", "send 10%"), ("done", "promoted")]
    assert [e["revision"] for e in store.events(2)] == [2]
    assert store.events(3) == []
    assert all(isinstance(e["time"], float) for e in store.events())


def test_history_holds_one_summary_per_finished_rollout_without_the_analysis(opened: Opened) -> None:
    store = opened.store
    assert store.history() == []
    first, second = new_state(revision=1), new_state(revision=2)
    first.status, second.status = "promoted", "aborted"
    first.analysis = [{"metric": "error_rate", "outcome": "pass"}]
    store.record_history(first)
    opened.spec.open().record_history(second)
    history = store.history()
    assert [(h["revision"], h["status"], h["candidate"]) for h in history] == [(1, "promoted", "2"), (2, "aborted", "2")]
    assert all("analysis" not in h for h in history)


# --------------------------------------------------------------------------- the engine lock


def _hold_engine_lock(spec: StoreSpec, held, release) -> None:
    """In another process: hold the engine lock until told to let go."""
    with spec.open().engine_lock():
        held.set()
        release.wait(HOLDER_TIMEOUT)


def test_the_engine_lock_is_held_by_one_process_at_a_time(opened: Opened) -> None:
    store = opened.store
    assert not store.engine_running()
    with store.engine_lock():
        assert store.engine_running()
    assert not store.engine_running()  # released when the block ends

    context = multiprocessing.get_context("spawn")
    held, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_engine_lock, args=(opened.spec, held, release))
    holder.start()
    try:
        assert held.wait(HOLDER_TIMEOUT), "the other process never took the engine lock"
        assert store.engine_running()
        with pytest.raises(MlopsError, match="another .*process.* is driving the rollout"):
            with store.engine_lock():
                pass
        assert store.engine_running()  # the refusal did not take the lock away from its holder
    finally:
        release.set()
        holder.join(HOLDER_TIMEOUT)
    assert holder.exitcode == 0
    deadline = time.monotonic() + opened.store.engine_lock_lapse + 5
    while store.engine_running():  # released at once; a lapse only matters for a holder that died
        assert time.monotonic() < deadline, "the engine lock outlived its holder's release"
        time.sleep(0.05)
    with store.engine_lock():
        assert store.engine_running()


def test_engine_lock_lapse_says_how_long_a_dead_holder_may_look_alive(opened: Opened) -> None:
    lapse = opened.store.engine_lock_lapse
    assert isinstance(lapse, float) and lapse >= 0
    assert lapse == (0.0 if opened.spec.kind == "file" else float(LEASE))
