"""Recreate: stop the old version before the new one starts (the downtime is measured)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops_helpers.rollout.state import Routing
from mlops_helpers.rollout.steps.base import Outcome, Step

if TYPE_CHECKING:
    from mlops_helpers.rollout.context import StepContext

DOWNTIME_STARTED = "downtime_started"  # the event `Finish` measures the downtime from


@dataclass(frozen=True)
class StopStable(Step):
    type = "stop_stable"

    def describe(self) -> str:
        return "stop the old version (downtime starts)"

    def run(self, ctx: StepContext) -> Outcome:
        stable = ctx.read().require_stable()
        old = list(stable.servers)
        ctx.route(lambda state: Routing(weights={}))
        ctx.event(DOWNTIME_STARTED, f"v{stable.version} stopped: no version serves until the new one is ready")
        ctx.backend.retire(old)
        with ctx.transaction() as state:
            state.require_stable().servers = []
        return "next"
