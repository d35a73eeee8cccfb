"""The rollout engine: executes a plan step by step against a backend, persisting every move.

One process drives a rollout at a time (it holds the state's engine lock). Other shells act
through the state: `abort` changes routes itself under the state lock (instant: the stable
version is still fully scaled), `promote` leaves a request the engine picks up on its next
tick. The engine re-reads the state around every action, so it notices an abort at once,
and a killed engine is resumed from the persisted step.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_helpers.console import Reporter
from mlops_helpers.rollout import analysis as metrics
from mlops_helpers.rollout.backends.base import Backend, BackendError
from mlops_helpers.rollout.spec import DeployConfig
from mlops_helpers.rollout.state import Deployment, RolloutState, Routing, Server, StateStore, describe_step

TICK = 0.1  # how often a waiting engine looks for promote/abort requests
EXIT_CODES = {"promoted": 0, "rolled_back": 1, "aborted": 1, "failed": 1, "paused": 3, "timed_out": 4}


class Stopped(Exception):
    """The rollout left the active states (aborted from another shell): stop driving it."""


class TimedOut(Exception):
    """The caller's --timeout passed; the rollout stays as it is (resume or abort later)."""


class AbortRollout(Exception):
    def __init__(self, reason: str, status: str = "aborted") -> None:
        super().__init__(reason)
        self.reason, self.status = reason, status


@dataclass
class Hooks:
    """What the engine tells the rest of mlops (the registry) when a version becomes stable."""

    on_promoted: Callable[[RolloutState], None] = lambda state: None


@dataclass
class Engine:
    store: StateStore
    backend: Backend
    config: DeployConfig
    reporter: Reporter
    hooks: Hooks = field(default_factory=Hooks)
    deadline: float | None = None  # time.monotonic() after which run() returns "timed_out"

    # --- driving --------------------------------------------------------------------------

    def run(self) -> str:
        """Execute the remaining steps; return promoted, aborted, failed, paused or timed_out."""
        with self.store.engine_lock():
            while True:
                state = self.store.require()
                if state.status == "paused" or not state.active:
                    return state.status
                step = state.current_step()
                if step is None:
                    return state.status
                self.reporter.note(f"step {state.step_index + 1}/{len(state.plan)}: {describe_step(step)}")
                self.store.event("step", describe_step(step), type=step["type"], index=state.step_index,
                                 revision=state.revision)
                try:
                    outcome = getattr(self, f"_step_{step['type']}")(step)
                except Stopped:
                    return self.store.require().status
                except TimedOut:
                    self.store.event("timed_out", "the engine stopped at its --timeout; the rollout is left as it is",
                                     revision=state.revision)
                    return "timed_out"
                except AbortRollout as abort:
                    return abort_rollout(self.store, self.backend, abort.reason, status=abort.status,
                                         reporter=self.reporter).status
                except BackendError as exc:
                    return abort_rollout(self.store, self.backend, str(exc), status="failed",
                                         reporter=self.reporter).status
                if outcome in ("paused", "done"):
                    return self.store.require().status
                self._advance(state.step_index)

    def _advance(self, from_index: int) -> None:
        with self._active() as state:
            if state.step_index == from_index:  # a `promote --full` may already have moved it
                state.step_index += 1
            state.step_state, state.pause = {}, None

    # --- steps ----------------------------------------------------------------------------

    def _step_start_candidate(self, step: dict[str, Any]) -> str:
        state = self._read_active()
        candidate = state.candidate
        alive = [server for server in candidate.servers if self.backend.server_alive(server)]
        with self._active() as state:
            state.candidate.servers = alive  # servers of a killed engine that died too are forgotten
        for index in range(len(alive), step["replicas"]):
            self._start_server("candidate", index)
        # In the routing with weight 0 before it is ready: no traffic yet, but the router probes its
        # readiness (and a backend that runs versions as tracks creates the candidate's track here).
        self._route(lambda state: state.routing)
        self._wait_ready(self._read_active().candidate.servers)
        self.reporter.note(f"v{candidate.version}: {step['replicas']} server(s) ready")
        return "next"

    def _step_stop_stable(self, step: dict[str, Any]) -> str:
        state = self._read_active()
        old = list(state.stable.servers)
        self._route(lambda state: Routing(weights={}))
        self.store.event("downtime_started", f"v{state.stable.version} stopped: no version serves until the new one is ready",
                         revision=state.revision)
        self.backend.retire(old)
        with self._active() as state:
            state.stable.servers = []
        return "next"

    def _step_ramp(self, step: dict[str, Any]) -> str:
        replicas, surge, unavailable = step["replicas"], step["max_surge"], step["max_unavailable"]
        while True:
            state = self._read_active()
            old, new = state.stable.servers, state.candidate.servers
            if not old and len(new) >= replicas:
                return "next"
            room = replicas + surge - len(old) - len(new)
            to_start = min(replicas - len(new), room)
            if to_start > 0:
                for _ in range(to_start):
                    self._start_server("candidate", len(self._read_active().candidate.servers))
                self._wait_ready(self._read_active().candidate.servers)
                self._route(_weights_by_servers)
                continue
            removable = min(len(old), len(old) + len(new) - (replicas - unavailable))
            if removable <= 0:
                raise BackendError(f"ramp cannot progress with max_surge={surge}, max_unavailable={unavailable}")
            leaving = old[:removable]
            with self._active() as state:
                state.stable.servers = old[removable:]
                _weights_by_servers(state)
                self._apply(state)
            self.backend.retire(leaving)
            self.reporter.note(f"ramp: v{state.stable.version} {len(old) - removable} server(s), "
                               f"v{state.candidate.version} {len(new)}")

    def _step_mirror(self, step: dict[str, Any]) -> str:
        def mirror(state: RolloutState) -> Routing:
            return Routing(weights=state.routing.weights, match=state.routing.match,
                           mirror={"version": state.candidate.version, "percent": step["percent"]})
        self._route(mirror)
        return "next"

    def _step_set_weight(self, step: dict[str, Any]) -> str:
        weight = step["weight"]

        def weights(state: RolloutState) -> Routing:
            return Routing(weights={state.stable.version: 100 - weight, state.candidate.version: weight},
                           mirror=state.routing.mirror)
        self._route(weights)
        self.reporter.note(f"{weight}% of traffic on the new version")
        return "next"

    def _step_preview_route(self, step: dict[str, Any]) -> str:
        def preview(state: RolloutState) -> Routing:
            return Routing(weights={state.stable.version: 100}, mirror=state.routing.mirror,
                           match=[{"header": step["header"], "value": step["value"], "version": state.candidate.version}])
        self._route(preview)
        return "next"

    def _step_smoke_test(self, step: dict[str, Any]) -> str:
        state = self._read_active()
        rows = _holdout_rows(Path(state.candidate.artefact), step["requests"])
        for number, row in enumerate(rows, 1):
            status, served, body = self.backend.preview_predict({"records": [row]})
            if status != 200 or served != state.candidate.version:
                answer = f"{status} from v{served}" if served else (str(status) if status else "nothing")
                raise AbortRollout(f"smoke test: request {number}/{len(rows)} through the preview route answered "
                                   f"{answer}, expected 200 from v{state.candidate.version}: {body[:300]}")
        self.store.event("smoke_test", f"{len(rows)} hold-out rows answered 200 by v{state.candidate.version}",
                         revision=state.revision)
        return "next"

    def _step_pause(self, step: dict[str, Any]) -> str:
        state = self._read_active()
        if step.get("duration") is None:
            with self._active() as state:
                state.status, state.pause = "paused", {"reason": "pause step: waiting for `mlops rollout promote`",
                                                       "since": time.time(), "until": None}
                state.reason = state.pause["reason"]
            self.store.event("paused", "waiting for promote", revision=state.revision)
            return "paused"
        with self._active() as state:
            if not state.pause:  # resumed after a crash: the pause keeps its original end
                state.pause = {"reason": "timed pause", "since": time.time(), "until": time.time() + step["duration"]}
            until = state.pause["until"]
        background = step.get("background")
        if not background:
            self._wait(until - time.time())
            return "next"
        analysis = metrics.Tally(self.config.analysis)
        while time.time() < until:
            if self._measure(background["metrics"], min(background["interval"], max(until - time.time(), 0.0)), analysis):
                return "next"  # promoted during the pause
        return "next"

    def _step_analysis(self, step: dict[str, Any]) -> str:
        tally = metrics.Tally(self.config.analysis)
        with self._active() as state:
            state.analysis = []
        for _ in range(step["count"]):
            if self._measure(step["metrics"], step["interval"], tally):
                return "next"
        if tally.verdict() == "inconclusive":
            state = self._read_active()
            reasons = "; ".join(m["message"] for m in state.analysis if m["outcome"] == metrics.INCONCLUSIVE)
            with self._active() as state:
                state.status, state.reason = "paused", f"analysis inconclusive: {reasons}"
                state.pause = {"reason": state.reason, "since": time.time(), "until": None}
            self.store.event("paused", state.reason, revision=state.revision)
            return "paused"
        return "next"

    def _step_abtest(self, step: dict[str, Any]) -> str:
        from mlops_helpers.rollout.abtest import AbTest

        return AbTest(self, step).run()

    def _step_switch(self, step: dict[str, Any]) -> str:
        self._route(lambda state: Routing(weights={state.candidate.version: 100}))
        self.reporter.note("100% of traffic on the new version")
        return "next"

    def _downtime(self, revision: int) -> float | None:
        """Recreate: seconds between stopping the old version and routing to the new one."""
        events = self.store.events(revision)
        stopped = next((e["time"] for e in events if e["event"] == "downtime_started"), None)
        routed = next((e["time"] for e in events if e["event"] == "step" and e.get("type") == "finish"), None)
        return None if stopped is None or routed is None else routed - stopped

    def _step_finish(self, step: dict[str, Any]) -> str:
        keep = float(step.get("keep_old") or 0.0)
        with self._active() as state:
            old = state.stable
            if old is not None:
                old.keep_until = time.time() + keep
            state.previous, state.stable, state.candidate = old, state.candidate, None
            state.routing = Routing(weights={state.stable.version: 100})
            state.status, state.finished_at = "promoted", time.time()
            state.reason = f"v{state.stable.version} serves 100%"
            state.step_index = len(state.plan)
            self._apply(state)
            finished = state
        downtime = self._downtime(finished.revision)
        extra = {"downtime": downtime} if downtime is not None else {}
        if downtime is not None:
            self.reporter.note(f"downtime: {downtime:.2f}s without a serving version (recreate)")
        self.store.event("promoted", finished.reason, revision=finished.revision, **extra)
        self.store.record_history(finished)
        self.hooks.on_promoted(finished)
        if old is not None and keep == 0:
            retire_previous(self.store, self.backend)
        return "done"

    # --- building blocks ------------------------------------------------------------------

    def _start_server(self, role: str, index: int) -> None:
        state = self._read_active()
        deployment: Deployment = getattr(state, role)
        server = self.backend.start_server(deployment.version, deployment.artefact, index)
        with self.store.transaction() as state:
            if state.active:
                getattr(state, role).servers.append(server)
                return
        self.backend.retire([server], drain_timeout=0)  # aborted meanwhile: do not leak the process
        raise Stopped()

    def _wait_ready(self, servers: list[Server]) -> None:
        self.backend.wait_ready(servers, self.backend.ready_timeout, cancelled=lambda: not self._read_state().active)
        self._read_active()

    def _route(self, change: Callable[[RolloutState], Routing | None]) -> None:
        with self._active() as state:
            routing = change(state)
            if routing is not None:
                state.routing = routing
            self._apply(state)

    def _apply(self, state: RolloutState) -> None:
        self.backend.apply_routing(state.routing, state.stable, state.candidate, state.previous)

    def _measure(self, names: list[str], interval: float, tally: metrics.Tally) -> bool:
        """One measurement of every named metric over `interval`; True when promoted meanwhile."""
        state = self._read_active()
        specs = [m for m in self.config.analysis.metrics if m.name in names]
        version = state.candidate.version
        source = MetricSource(self.backend, self.config, {
            "env": state.environment, "canary": version, "stable": state.stable.version if state.stable else None})
        before = source.start([state.candidate])
        started = time.time()
        if self._wait(interval):
            return True
        results = source.measure(specs, version, before, [self._read_active().candidate], time.time() - started)
        with self._active() as state:
            state.analysis.extend(result.to_dict() for result in results)
        for result in results:
            self.store.event("measurement", result.message, outcome=result.outcome, value=result.value,
                             threshold=result.threshold, metric=result.metric, revision=state.revision)
            self.reporter.note(f"  {result.outcome:<12} {result.message}")
            if tally.add(result) == "failed":
                raise AbortRollout(f"analysis failed: {result.message}")
        return False

    def _wait(self, seconds: float) -> bool:
        """Sleep in ticks; True when a promote request ends the wait early."""
        end = time.monotonic() + max(seconds, 0.0)
        while True:
            state = self._read_active()
            if state.requests.get("promote"):
                with self._active() as state:
                    full = state.requests.pop("promote_full", False)
                    state.requests.pop("promote", None)
                    if full:
                        state.step_index = _switch_index(state.plan)
                        state.step_state, state.pause = {}, None
                self.store.event("promote", "promoted by request" + (" (full)" if full else ""), revision=state.revision)
                return True
            if self.deadline is not None and time.monotonic() > self.deadline:
                raise TimedOut()
            if time.monotonic() >= end:
                return False
            time.sleep(min(TICK, max(end - time.monotonic(), 0.0)))

    def _read_state(self) -> RolloutState:
        return self.store.require()

    def _read_active(self) -> RolloutState:
        state = self.store.require()
        if not state.active:
            raise Stopped()
        return state

    def _active(self):
        return _ActiveTransaction(self.store)


class _ActiveTransaction:
    """A state transaction that raises Stopped (and saves nothing) when the rollout was aborted."""

    def __init__(self, store: StateStore) -> None:
        self._inner = store.transaction()

    def __enter__(self) -> RolloutState:
        state = self._inner.__enter__()
        if state is None or not state.active:
            self._inner.__exit__(None, None, None)
            raise Stopped()
        return state

    def __exit__(self, *exc: Any) -> bool | None:
        return self._inner.__exit__(*exc)


class MetricSource:
    """Measures metrics for a version with the configured provider."""

    def __init__(self, backend: Backend, config: DeployConfig, variables: dict[str, str | None]) -> None:
        self.backend, self.config, self.variables = backend, config, variables  # {{env}}, {{stable}}, {{canary}}

    def start(self, deployments: list[Deployment]) -> metrics.Snapshot | None:
        if self.config.analysis.provider == "prometheus":
            return None
        try:
            return self.backend.snapshot(deployments)
        except BackendError:
            return None  # reported as a provider error by measure()

    def measure(self, specs: list, version: str, before: metrics.Snapshot | None, deployments: list[Deployment],
                seconds: float) -> list[metrics.Measurement]:
        if self.config.analysis.provider == "prometheus":
            return [self._prometheus(spec, version, seconds) for spec in specs]
        try:
            after = self.backend.snapshot(deployments)
        except BackendError as exc:
            return [_error(spec, version, str(exc)) for spec in specs]
        if before is None:
            return [_error(spec, version, "no metrics at the start of the interval") for spec in specs]
        delta = after.counters(version).minus(before.counters(version))
        return [metrics.judge(spec, version, metrics.builtin_value(spec.name, delta, seconds)) for spec in specs]

    def _prometheus(self, spec, version: str, seconds: float) -> metrics.Measurement:
        from mlops_helpers.rollout.prometheus import PrometheusProvider, ProviderError, render_query

        provider = PrometheusProvider(self.config.analysis.prometheus_url)
        try:
            source = metrics.SERVERS if self.config.target == "kubernetes" else metrics.ROUTER
            value = metrics.prometheus_value(provider.query, render_query, spec, version, seconds,
                                             self.variables, self.config.metrics_selector(), source)
        except ProviderError as exc:
            return _error(spec, version, str(exc))
        return metrics.judge(spec, version, value)


def _error(spec, version: str, message: str) -> metrics.Measurement:
    return metrics.Measurement(spec.name, version, metrics.ERROR, None, None, metrics.describe_threshold(spec),
                               f"{spec.name} of v{version}: provider error: {message}")


# --- transitions used by the CLI as well ------------------------------------------------


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
                current.stable.servers = alive + missing
            backend.wait_ready(missing, backend.ready_timeout, cancelled=lambda: False)
    with store.transaction() as state:
        if not state.active:
            raise BackendError(f"nothing to abort: the rollout of revision {state.revision} is {state.status}")
        candidate = state.candidate
        state.routing = Routing(weights={state.stable.version: 100} if state.stable else {})
        backend.apply_routing(state.routing, state.stable, None, state.previous)
        state.status, state.reason, state.finished_at = status, reason, time.time()
        state.candidate, state.pause, state.requests = None, None, {}
        finished = state
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
    with store.transaction() as state:
        leaving = state.previous.servers
        state.previous.servers = []
        state.previous.keep_until = None
        backend.apply_routing(state.routing, state.stable, state.candidate, None)
    backend.retire(leaving)


def _weights_by_servers(state: RolloutState) -> Routing:
    """Ramped: each version's share is its share of the servers (every server gets the same load)."""
    weights = {d.version: len(d.servers) for d in (state.stable, state.candidate) if d is not None and d.servers}
    state.routing = Routing(weights=weights)
    return state.routing


def _switch_index(plan: list[dict[str, Any]]) -> int:
    return next(index for index, step in enumerate(plan) if step["type"] in ("switch", "ramp", "finish"))


def _holdout_rows(artefact: Path, count: int) -> list[dict[str, Any]]:
    import pandas as pd

    metadata = json.loads((artefact / "metadata.json").read_text())
    features = [feature["name"] for feature in metadata["features"]]
    frame = pd.read_csv(artefact / "holdout.csv").head(count)
    return json.loads(frame[features].to_json(orient="records"))
