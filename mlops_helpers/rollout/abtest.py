"""The A/B step: both versions serve, a two-proportion test on live data decides.

Requests matching the configured header/cookie (or a sticky weighted share) go to B, the
candidate. Every interval the engine compares the metric of A (stable) and B since the
test began — accuracy from ground-truth feedback, or the error rate — and stops when one
wins with the configured confidence; at `max_duration` it is inconclusive.

Counters at the start are kept in the state, so a resumed engine continues the same test.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from mlops_helpers.rollout.analysis import VersionCounters
from mlops_helpers.rollout.backends.base import BackendError
from mlops_helpers.rollout.state import RolloutState, Routing

if TYPE_CHECKING:
    from mlops_helpers.rollout.engine import Engine

STICKY_COOKIE = "mlops-version"


class AbTest:
    def __init__(self, engine: "Engine", step: dict[str, Any]) -> None:
        self.engine, self.step = engine, step

    def run(self) -> str:
        from mlops_helpers.rollout.engine import AbortRollout

        engine, step = self.engine, self.step
        engine._route(self._routing)
        state = engine._read_active()
        a, b = state.stable, state.candidate
        with engine._active() as state:
            if "baseline" not in state.step_state:  # first start, not a resume
                snapshot = engine.backend.snapshot([a, b])
                state.step_state = {"started": time.time(), "baseline": {
                    version: asdict(snapshot.counters(version)) for version in (a.version, b.version)}}
            started, baseline = state.step_state["started"], state.step_state["baseline"]
        looks = max(1, math.ceil(step["max_duration"] / step["interval"]))
        comparison = None
        while time.time() - started < step["max_duration"]:
            if engine._wait(min(step["interval"], step["max_duration"] - (time.time() - started))):
                return "next"  # promoted by hand
            try:
                comparison = self._compare(a.version, b.version, baseline, looks)
            except BackendError as exc:  # one missed look (metrics unreachable) is not a verdict
                engine.store.event("abtest", f"no measurement: {exc}", verdict="error", revision=state.revision)
                engine.reporter.note(f"  {'error':<17} no measurement: {exc}")
                continue
            self._record(comparison)
            if comparison.verdict == "winner":
                if comparison.winner == b.version:
                    return "next"
                raise AbortRollout(f"A/B test: v{a.version} is better — {comparison.reason}")
        reason = f"A/B test inconclusive after {step['max_duration']:g}s: " + (
            comparison.reason if comparison else "no measurement")
        if step["on_inconclusive"] == "abort":
            raise AbortRollout(reason)
        with engine._active() as state:
            state.status, state.reason = "paused", reason
            state.pause = {"reason": reason, "since": time.time(), "until": None}
        engine.store.event("paused", reason, revision=state.revision)
        return "paused"

    def _routing(self, state: RolloutState) -> Routing:
        stable, candidate, route = state.stable.version, state.candidate.version, self.step.get("route")
        if route:
            return Routing(weights={stable: 100}, match=[{**match, "version": candidate} for match in route],
                           mirror=state.routing.mirror)
        weight = self.step["weight"]
        return Routing(weights={stable: 100 - weight, candidate: weight}, sticky_cookie=STICKY_COOKIE,
                       mirror=state.routing.mirror)

    def _compare(self, a: str, b: str, baseline: dict[str, dict[str, Any]], looks: int):
        from mlops_helpers.rollout.stats import compare_proportions

        engine = self.engine
        state = engine._read_active()
        snapshot = engine.backend.snapshot([state.stable, state.candidate])
        counts = {}
        for version in (a, b):
            delta = snapshot.counters(version).minus(_counters(baseline[version]))
            if self.step["metric"] == "accuracy":
                counts[version] = (round(delta.feedback_correct), round(delta.feedback_rows))
            else:
                counts[version] = (round(delta.errors), round(delta.requests))
        return compare_proportions(self.step["metric"], a, counts[a], b, counts[b], alpha=self.step["alpha"],
                                   min_samples=self.step["min_samples"], looks=looks,
                                   higher_is_better=self.step["metric"] == "accuracy", min_effect=self.step["min_effect"])

    def _record(self, comparison) -> None:
        engine = self.engine
        with engine._active() as state:
            state.analysis = [*state.analysis[-50:], {"outcome": comparison.verdict, "message": comparison.reason,
                                                      **comparison.to_dict(), "time": time.time()}]
        engine.store.event("abtest", comparison.reason, verdict=comparison.verdict, revision=state.revision)
        engine.reporter.note(f"  {comparison.verdict:<17} {comparison.reason}")


def _counters(raw: dict[str, Any]) -> VersionCounters:
    buckets = {float(bound): count for bound, count in raw.get("buckets", {}).items()}
    return VersionCounters(**{**raw, "buckets": buckets})
