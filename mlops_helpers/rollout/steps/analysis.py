"""Measure the named metrics `count` times, every `interval` seconds; a failed one aborts the rollout.

A measurement short of min_samples keeps collecting up to deploy.analysis.sample_timeout
(StepContext.measure); what is still inconclusive after that pauses the rollout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops_helpers.rollout.analysis import INCONCLUSIVE, inconclusive_reason
from mlops_helpers.rollout.steps.base import Outcome, Step

if TYPE_CHECKING:
    from mlops_helpers.rollout.context import StepContext


@dataclass(frozen=True)
class Analysis(Step):
    type = "analysis"
    metrics: list[str]
    interval: float
    count: int

    def describe(self) -> str:
        return f"analysis: {', '.join(self.metrics)} × {self.count} every {self.interval:g}s"

    def run(self, ctx: StepContext) -> Outcome:
        tally = ctx.tally()
        with ctx.transaction() as state:
            state.analysis = []
        for _ in range(self.count):
            if ctx.measure(self.metrics, self.interval, tally):
                return "next"  # promoted by hand meanwhile
        if tally.verdict() == INCONCLUSIVE:
            return ctx.pause(f"analysis inconclusive: {inconclusive_reason(ctx.read().analysis)}")
        return "next"
