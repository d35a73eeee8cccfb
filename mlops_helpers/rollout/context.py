"""`StepContext`: what a rollout step may do, as public methods over the state store and the backend.

Every change goes through `transaction()`, which re-reads the state under the store's lock and
raises `Stopped` (saving nothing) once the rollout has left the active states, so an abort from
another shell wins over whatever a step was about to do. Nothing is kept in memory that is not
in the stored state: that is what makes `resume` after `kill -9` work.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlops_helpers.console import Reporter
from mlops_helpers.rollout import analysis as metrics
from mlops_helpers.rollout.backends.base import Backend
from mlops_helpers.rollout.errors import AbortRollout, Stopped, TimedOut
from mlops_helpers.rollout.metric_source import MetricSource
from mlops_helpers.rollout.state import RolloutState, Routing, Server, StateStore

if TYPE_CHECKING:
    from mlops_helpers.rollout.spec import DeployConfig
    from mlops_helpers.rollout.steps.base import Outcome

TICK = 0.1  # how often a waiting step looks for promote/abort requests
LOOK_AGAIN = 1.0  # seconds between looks while a measurement waits for min_samples


@dataclass
class Hooks:
    """What the engine tells the rest of mlops (the registry) when a version becomes stable."""

    on_promoted: Callable[[RolloutState], None] = lambda state: None


@dataclass
class StepContext:
    store: StateStore
    backend: Backend
    config: DeployConfig
    reporter: Reporter
    revision: int
    hooks: Hooks = field(default_factory=Hooks)
    deadline: float | None = None  # time.monotonic() after which waiting raises TimedOut

    # --- state ------------------------------------------------------------------------------

    def read(self) -> RolloutState:
        """The stored state; raises Stopped when the rollout is no longer active."""
        state = self.store.require()
        if not state.active:
            raise Stopped()
        return state

    @contextmanager
    def transaction(self) -> Iterator[RolloutState]:
        """Read-modify-write of the active state; raises Stopped (and saves nothing) when it ended."""
        with self.store.transaction() as state:
            if state is None or not state.active:
                raise Stopped()
            yield state

    def event(self, kind: str, message: str, **data: object) -> None:
        self.store.event(kind, message, revision=self.revision, **data)

    def note(self, message: str) -> None:
        self.reporter.note(message)

    def pause(self, reason: str, event_message: str | None = None) -> Outcome:
        """Stop driving until `mlops rollout promote`; the step after this one runs next."""
        with self.transaction() as state:
            state.status, state.reason = "paused", reason
            state.pause = {"reason": reason, "since": time.time(), "until": None}
        self.event("paused", event_message or reason)
        return "paused"

    # --- traffic and servers ----------------------------------------------------------------

    def route(self, change: Callable[[RolloutState], Routing]) -> None:
        """Store the routing `change` computes from the current state and apply it to the backend."""
        with self.transaction() as state:
            state.routing = change(state)
            self.apply(state)

    def apply(self, state: RolloutState) -> None:
        """Apply the routing of `state` (inside a transaction that stores it)."""
        self.backend.apply_routing(state.routing, state.stable, state.candidate, state.previous)

    def start_server(self, role: str, index: int) -> None:
        """Start server `index` of the stable or candidate version and record it."""
        deployment = self.read().require(role)
        server = self.backend.start_server(deployment.version, deployment.artefact, index)
        with self.store.transaction() as state:
            if state is not None and state.active:
                state.require(role).servers.append(server)
                return
        self.backend.retire([server], drain_timeout=0)  # aborted meanwhile: do not leak the process
        raise Stopped()

    def wait_ready(self, servers: list[Server]) -> None:
        self.backend.wait_ready(servers, self.backend.ready_timeout, cancelled=lambda: not self.store.require().active)
        self.read()

    # --- time and measurements --------------------------------------------------------------

    def wait(self, seconds: float) -> bool:
        """Sleep in ticks; True when a promote request ends the wait early. Raises TimedOut at the deadline."""
        from mlops_helpers.rollout.steps import full_promotion_index

        end = time.monotonic() + max(seconds, 0.0)
        while True:
            if self.read().requests.get("promote"):
                with self.transaction() as state:
                    full = state.requests.pop("promote_full", False)
                    state.requests.pop("promote", None)
                    if full:
                        state.step_index = full_promotion_index(state.plan)
                        state.step_state, state.pause = {}, None
                self.event("promote", "promoted by request" + (" (full)" if full else ""))
                return True
            if self.deadline is not None and time.monotonic() > self.deadline:
                raise TimedOut()
            if time.monotonic() >= end:
                return False
            time.sleep(min(TICK, max(end - time.monotonic(), 0.0)))

    def tally(self) -> metrics.Tally:
        """A fresh count of verdicts against the configured failure and inconclusive limits."""
        return metrics.Tally(self.config.analysis)

    def measure(self, names: list[str], interval: float, tally: metrics.Tally, longest: float | None = None) -> bool:
        """One measurement of every named metric, judged after `interval`; True when promoted meanwhile.

        A metric short of its min_samples then keeps the measurement open (the same counters, from
        the same start) until it has them or `longest` seconds have passed (default: the
        config's sample_timeout): on a busy machine traffic comes slower, and judging a window
        short of data would pause a healthy rollout. Only then is it inconclusive.
        """
        state = self.read()
        candidate = state.require_candidate()
        specs = [m for m in self.config.analysis.metrics if m.name in names]
        source = MetricSource(self.backend, self.config, {
            "env": state.environment, "canary": candidate.version,
            "stable": state.stable.version if state.stable else None})
        if longest is None:
            longest = metrics.sample_timeout(self.config.analysis, interval)
        before = source.start([candidate])
        started = time.time()
        if self.wait(interval):
            return True
        waited = False
        while True:
            results = source.measure(specs, candidate.version, before, [self.read().require_candidate()],
                                     time.time() - started)
            short = [(r, spec) for r, spec in zip(results, specs, strict=True) if metrics.short_of_samples(spec, r)]
            left = started + longest - time.time()
            if not short or left <= 0 or any(r.outcome == metrics.FAIL for r in results):
                break
            if not waited:  # said once per measurement, not at every look
                result, spec = short[0]
                self.note(f"  waiting      {result.metric} of v{result.version}: {result.samples:.0f} of "
                          f"{spec.min_samples} samples after {metrics.seconds_text(time.time() - started)}; "
                          f"collecting up to {metrics.seconds_text(longest)}")
                waited = True
            if self.wait(min(interval, LOOK_AGAIN, left)):
                return True
        with self.transaction() as state:
            state.analysis.extend(result.to_dict() for result in results)
        for result in results:
            self.event("measurement", result.message, outcome=result.outcome, value=result.value,
                       threshold=result.threshold, metric=result.metric)
            self.note(f"  {result.outcome:<12} {result.message}")
            if tally.add(result) == "failed":
                raise AbortRollout(f"analysis failed: {result.message}")
        return False
