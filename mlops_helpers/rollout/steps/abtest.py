"""The A/B step: both versions serve, a two-proportion test on live data decides.

Requests matching the configured header/cookie (or a sticky weighted share) go to B, the
candidate. Every interval the step compares the metric of A (stable) and B since the test
began — accuracy from ground-truth feedback, or the error rate — and stops when one wins with
the configured confidence; at `max_duration` it is inconclusive.

Counters at the start are kept in the state, so a resumed engine continues the same test.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mlops_helpers.rollout.analysis import VersionCounters
from mlops_helpers.rollout.backends.base import BackendError
from mlops_helpers.rollout.errors import AbortRollout
from mlops_helpers.rollout.state import RolloutState, Routing
from mlops_helpers.rollout.steps.base import Outcome, Step

if TYPE_CHECKING:
    from mlops_helpers.rollout.context import StepContext
    from mlops_helpers.rollout.stats import ProportionComparison

STICKY_COOKIE = "mlops-version"


@dataclass(frozen=True)
class AbTest(Step):
    type = "abtest"
    metric: str  # accuracy (from /feedback) or error_rate
    alpha: float
    min_samples: int
    min_effect: float
    interval: float
    max_duration: float
    on_inconclusive: str  # pause or abort
    weight: int = 0  # B's share when there is no route
    route: list[dict[str, str]] = field(default_factory=list)  # header/cookie matches that pick B

    def run(self, ctx: StepContext) -> Outcome:
        ctx.route(self._routing)
        state = ctx.read()
        a, b = state.require_stable(), state.require_candidate()
        with ctx.transaction() as state:
            if "baseline" not in state.step_state:  # first start, not a resume
                snapshot = ctx.backend.snapshot([a, b])
                state.step_state = {"started": time.time(), "baseline": {
                    version: asdict(snapshot.counters(version)) for version in (a.version, b.version)}}
            started, baseline = state.step_state["started"], state.step_state["baseline"]
        looks = max(1, math.ceil(self.max_duration / self.interval))
        comparison = None
        while time.time() - started < self.max_duration:
            if ctx.wait(min(self.interval, self.max_duration - (time.time() - started))):
                return "next"  # promoted by hand
            try:
                comparison = self._compare(ctx, a.version, b.version, baseline, looks)
            except BackendError as exc:  # one missed look (metrics unreachable) is not a verdict
                ctx.event("abtest", f"no measurement: {exc}", verdict="error")
                ctx.note(f"  {'error':<17} no measurement: {exc}")
                continue
            self._record(ctx, comparison)
            if comparison.verdict == "winner":
                if comparison.winner == b.version:
                    return "next"
                raise AbortRollout(f"A/B test: v{a.version} is better — {comparison.reason}")
        reason = f"A/B test inconclusive after {self.max_duration:g}s: " + (
            comparison.reason if comparison else "no measurement")
        if self.on_inconclusive == "abort":
            raise AbortRollout(reason)
        return ctx.pause(reason)

    def _routing(self, state: RolloutState) -> Routing:
        stable, candidate = state.require_stable().version, state.require_candidate().version
        if self.route:
            return Routing(weights={stable: 100}, match=[{**match, "version": candidate} for match in self.route],
                           mirror=state.routing.mirror)
        return Routing(weights={stable: 100 - self.weight, candidate: self.weight}, sticky_cookie=STICKY_COOKIE,
                       mirror=state.routing.mirror)

    def _compare(self, ctx: StepContext, a: str, b: str, baseline: dict[str, dict[str, Any]], looks: int) -> ProportionComparison:
        from mlops_helpers.rollout.stats import compare_proportions

        state = ctx.read()
        snapshot = ctx.backend.snapshot([state.require_stable(), state.require_candidate()])
        counts = {}
        for version in (a, b):
            delta = snapshot.counters(version).minus(_counters(baseline[version]))
            if self.metric == "accuracy":
                counts[version] = (round(delta.feedback_correct), round(delta.feedback_rows))
            else:
                counts[version] = (round(delta.errors), round(delta.requests))
        return compare_proportions(self.metric, a, counts[a], b, counts[b], alpha=self.alpha,
                                   min_samples=self.min_samples, looks=looks,
                                   higher_is_better=self.metric == "accuracy", min_effect=self.min_effect)

    def _record(self, ctx: StepContext, comparison: ProportionComparison) -> None:
        with ctx.transaction() as state:
            state.analysis = [*state.analysis[-50:], {"outcome": comparison.verdict, "message": comparison.reason,
                                                      **comparison.to_dict(), "time": time.time()}]
        ctx.event("abtest", comparison.reason, verdict=comparison.verdict)
        ctx.note(f"  {comparison.verdict:<17} {comparison.reason}")


def _counters(raw: dict[str, Any]) -> VersionCounters:
    buckets = {float(bound): count for bound, count in raw.get("buckets", {}).items()}
    return VersionCounters(**{**raw, "buckets": buckets})
