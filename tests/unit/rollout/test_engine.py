"""The engine and its steps in-process, against an in-memory store and backend (memory.py).

These pin the engine's decisions (order of routing changes, which servers start and stop,
which transition ends a rollout) without processes; tests/e2e runs the same engine against
real model servers, the router and a real cluster.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from memory import MemoryBackend, MemoryStore
from mlops_helpers.console import Reporter
from mlops_helpers.rollout.analysis import VersionCounters
from mlops_helpers.rollout.backends.base import PreviewAnswer
from mlops_helpers.rollout.context import Hooks
from mlops_helpers.rollout.engine import Engine
from mlops_helpers.rollout.spec import DeployConfig
from mlops_helpers.rollout.state import Deployment, RolloutState, Routing, Server
from mlops_helpers.rollout.strategies import build_plan
from mlops_helpers.rollout.transitions import abort_rollout

FAST_ANALYSIS = {"interval": 0.02, "count": 2, "metrics": [{"name": "error_rate", "max": 0.05, "min_samples": 10}]}


def traffic(error_share: dict[str, float]):
    """Between two looks, 100 requests per version, `error_share` of them answered 5xx."""
    def tick(backend: MemoryBackend) -> None:
        for version, share in error_share.items():
            counters = backend.counters.setdefault(version, VersionCounters())
            counters.requests += 100
            counters.errors += 100 * share
    return tick


def rollout(strategy: str, deploy: dict[str, Any] | None = None, backend: MemoryBackend | None = None,
            first: bool = False) -> tuple[Engine, MemoryStore, MemoryBackend]:
    config = DeployConfig.model_validate({"analysis": FAST_ANALYSIS, **(deploy or {})})
    store, backend = MemoryStore(), backend or MemoryBackend()
    stable = None
    if not first:
        stable = Deployment("1", "/artefacts/1", servers=[backend.start_server("1", "", i) for i in range(backend.replicas)])
        backend.started.clear()
    store.create(RolloutState(
        environment="production", model="m", strategy=strategy, revision=1, status="progressing",
        plan=build_plan(strategy, config, backend.replicas, first_deploy=first), stable=stable,
        candidate=Deployment("2", "/artefacts/2"), version="2",
        routing=Routing(weights={"1": 100}) if stable else Routing()))
    promoted: list[str] = []
    hooks = Hooks(on_promoted=lambda state: promoted.append(state.require_stable().version))
    engine = Engine(store, backend, config, Reporter("json"), hooks)
    engine.promoted = promoted  # type: ignore[attr-defined]
    return engine, store, backend


def test_first_deploy_starts_the_version_and_gives_it_all_traffic() -> None:
    engine, store, backend = rollout("canary", first=True)
    assert engine.run() == "promoted"
    state = store.require()
    assert state.require_stable().version == "2" and state.candidate is None and state.previous is None
    assert backend.started == [("2", 0), ("2", 1)]
    assert backend.weights() == [{}, {"2": 100}]
    assert engine.promoted == ["2"]  # type: ignore[attr-defined]


def test_canary_walks_its_weights_with_analysis_between_and_stops_the_old_version() -> None:
    backend = MemoryBackend(on_snapshot=traffic({"1": 0.0, "2": 0.0}))
    engine, store, backend = rollout("canary", backend=backend)
    assert engine.run() == "promoted"
    assert backend.weights() == [{"1": 100}, {"1": 90, "2": 10}, {"1": 50, "2": 50}, {"2": 100}]
    measured = [e for e in store.events(1) if e["event"] == "measurement"]
    assert [e["outcome"] for e in measured] == ["pass"] * 4
    assert sorted(url.split("/")[2] for url in backend.retired) == ["1", "1"]  # the old version stopped
    assert [e["event"] for e in store.events(1)][-1] == "promoted"
    assert store.history()[-1]["status"] == "promoted"


def test_a_failing_canary_is_aborted_by_its_analysis_and_traffic_returns_to_stable() -> None:
    backend = MemoryBackend(on_snapshot=traffic({"1": 0.0, "2": 0.5}))
    engine, store, backend = rollout("canary", backend=backend)
    assert engine.run() == "aborted"
    state = store.require()
    assert state.routing.weights == {"1": 100} and state.candidate is None
    assert "analysis failed: error_rate of v2" in state.reason
    assert backend.weights()[-1] == {"1": 100}
    assert sorted(url.split("/")[2] for url in backend.retired) == ["2", "2"]  # the candidate stopped, stable kept
    assert engine.promoted == []  # type: ignore[attr-defined]


def test_no_traffic_is_inconclusive_and_pauses_instead_of_passing() -> None:
    engine, store, _ = rollout("canary")
    assert engine.run() == "paused"
    state = store.require()
    assert state.reason.startswith("analysis inconclusive:") and state.current_step().type == "analysis"  # type: ignore[union-attr]


def test_pause_until_promoted_then_promote_continues_to_the_end() -> None:
    engine, store, backend = rollout("bluegreen", {"bluegreen": {"autoPromote": False, "smoke_test": None}})
    assert engine.run() == "paused"
    assert backend.weights()[-1] == {"1": 100}  # blue serves, green only through the preview header
    assert store.require().routing.match == [{"header": "x-mlops-preview", "value": "1", "version": "2"}]
    with store.transaction() as state:  # what `mlops rollout promote` does to a paused rollout
        assert state is not None
        state.status, state.pause, state.step_index = "progressing", None, state.step_index + 1
    assert engine.run() == "promoted"
    state = store.require()
    assert state.routing.weights == {"2": 100}
    assert state.previous is not None and state.previous.keep_until is not None  # blue kept warm for undo
    assert backend.retired == []


def test_bluegreen_smoke_test_answered_by_the_wrong_version_aborts_before_the_switch() -> None:
    backend = MemoryBackend(preview_answers=[PreviewAnswer(200, "1", "{}")])
    engine, store, backend = rollout("bluegreen", {"bluegreen": {"smokeTest": {"requests": 1}}}, backend=backend)
    # The smoke test reads hold-out rows from the artefact: give it a minimal one.
    engine.config = engine.config  # (config unchanged; the artefact below is what the step reads)
    state = store.require()
    artefact = _artefact(tmp := _tmp())
    with store.transaction() as current:
        assert current is not None
        current.require_candidate().artefact = str(artefact)
    assert engine.run() == "aborted"
    assert "answered 200 from v1, expected 200 from v2" in store.require().reason
    assert all(weights.get("2", 0) == 0 for weights in backend.weights())  # no user traffic ever reached green
    assert state.revision == 1 and tmp.exists()


def test_a_version_that_never_becomes_ready_fails_and_stable_keeps_serving() -> None:
    engine, store, backend = rollout("canary", backend=MemoryBackend(fail_start={"2"}))
    assert engine.run() == "failed"
    state = store.require()
    assert "v2 never became ready" in state.reason and state.routing.weights == {"1": 100}


def test_recreate_stops_the_old_version_first_and_records_the_downtime() -> None:
    engine, store, backend = rollout("recreate")
    assert engine.run() == "promoted"
    assert backend.weights() == [{}, {"2": 100}]
    assert sorted(url.split("/")[2] for url in backend.retired) == ["1", "1"]
    promoted = [e for e in store.events(1) if e["event"] == "promoted"][0]
    assert promoted["downtime"] >= 0


def test_ramped_moves_weights_with_the_servers_one_surge_at_a_time() -> None:
    engine, store, backend = rollout("ramped", {"ramped": {"maxSurge": 1, "maxUnavailable": 0}})
    assert engine.run() == "promoted"
    assert backend.weights() == [{"1": 2, "2": 1}, {"1": 1, "2": 1}, {"1": 1, "2": 2}, {"2": 2}, {"2": 100}]


def test_an_abort_from_another_shell_wins_over_a_waiting_step() -> None:
    engine, store, backend = rollout("canary", {"canary": {"steps": [{"setWeight": 20}, {"pause": "30s"}]}})
    thread = threading.Thread(target=engine.run)
    thread.start()
    deadline = time.monotonic() + 5
    while store.require().current_step().type != "pause" and time.monotonic() < deadline:  # type: ignore[union-attr]
        time.sleep(0.01)
    abort_rollout(store, backend, "aborted by hand")
    thread.join(timeout=5)
    assert not thread.is_alive()
    state = store.require()
    assert state.status == "aborted" and state.routing.weights == {"1": 100}


def test_the_callers_timeout_leaves_the_rollout_as_it_is() -> None:
    engine, store, _ = rollout("canary", {"canary": {"steps": [{"setWeight": 20}, {"pause": "30s"}]}})
    engine.deadline = time.monotonic() + 0.2
    assert engine.run() == "timed_out"
    state = store.require()
    assert state.status == "progressing" and state.routing.weights == {"1": 80, "2": 20}


def test_a_promote_request_during_a_pause_ends_it_and_full_skips_to_the_switch() -> None:
    engine, store, backend = rollout("canary", {"canary": {"steps": [{"setWeight": 20}, {"pause": "30s"},
                                                                     {"setWeight": 60}, {"pause": "30s"}]}})
    thread = threading.Thread(target=engine.run)
    thread.start()
    deadline = time.monotonic() + 5
    while store.require().current_step().type != "pause" and time.monotonic() < deadline:  # type: ignore[union-attr]
        time.sleep(0.01)
    with store.transaction() as state:  # what `mlops rollout promote --full` asks of a running engine
        assert state is not None
        state.requests = {"promote": True, "promote_full": True}
    thread.join(timeout=5)
    assert store.require().status == "promoted"
    assert {"1": 40, "2": 60} not in backend.weights()  # the 60% step was skipped


def test_a_second_engine_on_the_same_rollout_is_refused() -> None:
    from mlops_helpers.errors import MlopsError

    engine, store, _ = rollout("canary", {"canary": {"steps": [{"pause": "30s"}]}})
    with store.engine_lock(), pytest.raises(MlopsError, match="another engine"):
        engine.run()


def _tmp():
    import tempfile
    from pathlib import Path

    return Path(tempfile.mkdtemp(prefix="mlops-engine-test-"))


def _artefact(folder):
    import json

    (folder / "metadata.json").write_text(json.dumps({"features": [{"name": "x"}]}))
    (folder / "holdout.csv").write_text("x,y\n1.0,0\n2.0,1\n")
    return folder


def test_servers_of_a_killed_engine_that_died_too_are_forgotten_on_resume() -> None:
    engine, store, backend = rollout("canary", first=True)
    with store.transaction() as state:  # a previous engine had started one server, which then died
        assert state is not None
        state.require_candidate().servers = [Server(url="memory://2/0/dead")]
    assert engine.run() == "promoted"
    assert backend.started == [("2", 0), ("2", 1)]


# --- measurements that wait for min_samples -----------------------------------------------------


def trickle(requests_per_look: int, error_share: float = 0.0):
    """Slow traffic to v2: `requests_per_look` requests between two looks at the counters."""
    def tick(backend: MemoryBackend) -> None:
        backend.looks = getattr(backend, "looks", 0) + 1  # type: ignore[attr-defined]
        counters = backend.counters.setdefault("2", VersionCounters())
        counters.requests += requests_per_look
        counters.errors += requests_per_look * error_share
    return tick


def measured(store: MemoryStore) -> list[dict[str, Any]]:
    return [e for e in store.events(1) if e["event"] == "measurement"]


def test_a_measurement_short_of_min_samples_keeps_collecting_and_then_passes(capsys: pytest.CaptureFixture[str]) -> None:
    # 5 requests a look, min_samples 10: the first look is short; the second, over the same counters, is not.
    engine, store, backend = rollout("canary", backend=MemoryBackend(on_snapshot=trickle(5)))
    assert engine.run() == "promoted"
    assert [e["outcome"] for e in measured(store)] == ["pass"] * 4  # 2 analysis steps × count 2
    assert backend.looks == 4 * 3  # type: ignore[attr-defined]  # each: the start, the short look, the one that passed
    waiting = [line for line in capsys.readouterr().err.splitlines() if "waiting" in line]
    assert len(waiting) == 4 and "error_rate of v2: 5 of 10 samples" in waiting[0]  # once per measurement


def test_no_traffic_is_inconclusive_only_after_the_sample_timeout_and_says_so_once() -> None:
    analysis = {**FAST_ANALYSIS, "sampleTimeout": "0.3s", "metrics": [
        {"name": "error_rate", "max": 0.05, "min_samples": 10}, {"name": "latency_p99_ms", "max": 500, "min_samples": 10}]}
    engine, store, backend = rollout("canary", {"analysis": analysis}, backend=MemoryBackend(on_snapshot=trickle(0)))
    started = time.monotonic()
    assert engine.run() == "paused"
    assert time.monotonic() - started >= 2 * 0.3  # count 2, each held open up to the timeout
    assert backend.looks > 2 * 3  # type: ignore[attr-defined]  # it looked again while waiting
    state = store.require()
    assert [e["outcome"] for e in measured(store)] == ["inconclusive"] * 4
    assert state.reason.startswith("analysis inconclusive: error_rate, latency_p99_ms of v2: only 0 samples in 0.3s")
    assert state.reason.count("only 0 samples") == 1  # one cause, said once (not once per metric and measurement)


def test_a_failed_metric_aborts_at_once_even_while_another_waits_for_samples() -> None:
    analysis = {**FAST_ANALYSIS, "sample_timeout": "30s", "metrics": [
        {"name": "error_rate", "max": 0.05, "min_samples": 10}, {"name": "accuracy", "min": 0.8, "min_samples": 50}]}
    engine, store, _ = rollout("canary", {"analysis": analysis}, backend=MemoryBackend(on_snapshot=trickle(20, 0.5)))
    started = time.monotonic()
    assert engine.run() == "aborted"
    assert time.monotonic() - started < 5  # accuracy (no feedback yet) did not hold the failure back
    assert "analysis failed: error_rate of v2 = 0.5 breaks max 0.05" in store.require().reason


def test_a_timed_pause_is_not_lengthened_by_a_background_measurement_short_of_samples() -> None:
    analysis = {**FAST_ANALYSIS, "sample_timeout": "30s"}
    engine, store, _ = rollout("canary", {"analysis": analysis, "canary": {"steps": [{"setWeight": 20}, {"pause": "0.3s"}]}},
                               backend=MemoryBackend(on_snapshot=trickle(0)))
    started = time.monotonic()
    assert engine.run() == "promoted"
    assert time.monotonic() - started < 3
    assert any(e["outcome"] == "inconclusive" for e in measured(store))  # measured during the pause, judged at its end


def test_undeploy_leaves_a_status_that_says_not_deployed_and_names_no_serving_version() -> None:
    from mlops_helpers.cli.text import status_text
    from mlops_helpers.config import MlopsConfig
    from mlops_helpers.rollout.operations import Environment, undeploy

    backend = MemoryBackend(on_snapshot=traffic({"1": 0.0, "2": 0.0}))
    engine, store, backend = rollout("canary", backend=backend)
    assert engine.run() == "promoted" and store.require().reason == "v2 serves 100%"
    config = MlopsConfig.model_validate({"project": "m", "data": {"path": "d.csv", "target": "y"}})
    undeploy(Environment("production", config, store, backend))
    state = store.require()
    assert backend.alive == set() and state.status == "undeployed" and not state.active
    assert state.stable is None and state.candidate is None and state.routing.weights == {}
    text = status_text({**state.summary(), "url": backend.url})
    assert "not deployed" in text and "v2 stopped with `mlops undeploy`" in text and "serves" not in text
    assert [e["event"] for e in store.events(1)][-1] == "undeployed"


def test_undeploy_during_a_rollout_stops_its_engine_with_a_failing_outcome() -> None:
    from mlops_helpers.cli.exit_codes import FAILED, ROLLOUT
    from mlops_helpers.config import MlopsConfig
    from mlops_helpers.rollout.operations import Environment, undeploy

    engine, store, backend = rollout("canary", {"canary": {"steps": [{"setWeight": 20}, {"pause": "30s"}]}})
    outcome: list[str] = []
    thread = threading.Thread(target=lambda: outcome.append(engine.run()))
    thread.start()
    deadline = time.monotonic() + 5
    while store.require().current_step().type != "pause" and time.monotonic() < deadline:  # type: ignore[union-attr]
        time.sleep(0.01)
    config = MlopsConfig.model_validate({"project": "m", "data": {"path": "d.csv", "target": "y"}})
    undeploy(Environment("production", config, store, backend))
    thread.join(timeout=5)
    assert outcome == ["undeployed"] and ROLLOUT[outcome[0]] == FAILED
    assert "v1 and v2 stopped with `mlops undeploy` (its progressing rollout interrupted)" == store.require().reason
