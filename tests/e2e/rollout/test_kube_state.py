"""Rollout state in the cluster (ConfigMaps + Leases) against the real API server of the test cluster."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import uuid
from pathlib import Path

import pytest

from mlops_helpers.errors import MlopsError
from mlops_helpers.rollout.backends.kubernetes.state import KubeStateStore
from mlops_helpers.rollout.state import Deployment, RolloutState

LEASE = 2  # seconds: short, so that the expiry of a killed engine's lease is quick to observe


def apis(kubeconfig: Path):
    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    return client.CoreV1Api(api_client), client.CoordinationV1Api(api_client)


@pytest.fixture
def namespace(kube_cluster) -> str:
    from kubernetes import client

    core, _ = apis(kube_cluster.kubeconfig)
    name = f"state-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)


def store(kube_cluster, namespace: str, environment: str = "production") -> KubeStateStore:
    core, coordination = apis(kube_cluster.kubeconfig)
    return KubeStateStore(core, coordination, namespace, environment, engine_lease_seconds=LEASE)


def new_state() -> RolloutState:
    return RolloutState(environment="production", model="churn", strategy="canary", revision=1, status="progressing",
                        plan=[{"type": "set_weight", "weight": 10}, {"type": "switch"}],
                        candidate=Deployment("2", "/registry/churn/versions/2"))


def test_state_round_trips_through_a_configmap(kube_cluster, namespace: str) -> None:
    first = store(kube_cluster, namespace)
    assert first.load() is None
    with pytest.raises(MlopsError, match="no rollout in environment 'production'"):
        first.require()
    first.create(new_state())
    with first.transaction() as state:
        state.step_index = 1
        state.routing.weights = {"1": 90, "2": 10}
    # Another machine (here: another client) reads what the first wrote.
    second = store(kube_cluster, namespace)
    loaded = second.require()
    assert loaded.step_index == 1 and loaded.routing.weights == {"1": 90, "2": 10}
    assert loaded.candidate.version == "2" and second.next_revision() == 2
    second.event("step", "send 10%", revision=1)
    first.record_history(loaded)
    assert [e["message"] for e in first.events(1)] == ["send 10%"]
    assert second.history()[0]["candidate"] == "2"


def _increment(kubeconfig: str, namespace: str, times: int) -> None:
    from types import SimpleNamespace

    state_store = store(SimpleNamespace(kubeconfig=Path(kubeconfig)), namespace)
    for _ in range(times):
        with state_store.transaction() as state:
            state.step_index += 1


def test_concurrent_transactions_from_several_processes_lose_no_update(kube_cluster, namespace: str) -> None:
    store(kube_cluster, namespace).create(new_state())
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_increment, args=(str(kube_cluster.kubeconfig), namespace, 15)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    assert store(kube_cluster, namespace).require().step_index == 45


def _hold_engine_lock(kubeconfig: str, namespace: str) -> None:
    from types import SimpleNamespace

    with store(SimpleNamespace(kubeconfig=Path(kubeconfig)), namespace).engine_lock():
        time.sleep(600)


def test_engine_lease_is_exclusive_renewed_and_expires_when_its_holder_is_killed(kube_cluster, namespace: str) -> None:
    context = multiprocessing.get_context("spawn")
    holder = context.Process(target=_hold_engine_lock, args=(str(kube_cluster.kubeconfig), namespace))
    holder.start()
    other = store(kube_cluster, namespace)
    deadline = time.monotonic() + 60
    while not other.engine_running():
        assert time.monotonic() < deadline, "the engine lease was never taken"
        time.sleep(0.1)
    time.sleep(LEASE * 2)  # well past one lease duration: only renewal keeps it
    assert other.engine_running()
    with pytest.raises(MlopsError, match="another process .* is driving the rollout"):
        with other.engine_lock():
            pass
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(10)
    killed = time.monotonic()
    while other.engine_running():
        assert time.monotonic() - killed < LEASE + 5, "a killed engine's lease must expire"
        time.sleep(0.1)
    with other.engine_lock():
        assert other.engine_running()
    assert not other.engine_running()  # released on exit
