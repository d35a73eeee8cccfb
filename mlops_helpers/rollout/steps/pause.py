"""Pause for a time (optionally measuring in the background) or until `mlops rollout promote`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops_helpers.rollout.analysis import sample_timeout
from mlops_helpers.rollout.steps.base import Outcome, Step

if TYPE_CHECKING:
    from mlops_helpers.rollout.context import StepContext


@dataclass(frozen=True)
class BackgroundAnalysis:
    """Metrics measured every `interval` seconds while a timed pause lasts."""

    metrics: list[str]
    interval: float


@dataclass(frozen=True)
class Pause(Step):
    type = "pause"
    duration: float | None = None  # None: until promoted
    background: BackgroundAnalysis | None = None

    def describe(self) -> str:
        return f"pause {self.duration:g}s" if self.duration is not None else "pause until promoted"

    def run(self, ctx: StepContext) -> Outcome:
        if self.duration is None:
            return ctx.pause("pause step: waiting for `mlops rollout promote`", event_message="waiting for promote")
        with ctx.transaction() as state:
            if not state.pause:  # resumed after a crash: the pause keeps its original end
                state.pause = {"reason": "timed pause", "since": time.time(), "until": time.time() + self.duration}
            until: float = state.pause["until"]
        if self.background is None:
            ctx.wait(until - time.time())
            return "next"
        tally = ctx.tally()
        while time.time() < until:
            left = max(until - time.time(), 0.0)
            # A measurement waiting for min_samples may not outlast the pause.
            longest = min(sample_timeout(ctx.config.analysis, self.background.interval), left)
            if ctx.measure(self.background.metrics, min(self.background.interval, left), tally, longest):
                return "next"  # promoted during the pause
        return "next"
