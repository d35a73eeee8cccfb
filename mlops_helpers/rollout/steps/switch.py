"""All traffic to the new version at once (blue/green's switch, the end of a canary)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops_helpers.rollout.state import RolloutState, Routing
from mlops_helpers.rollout.steps.base import Outcome, Step

if TYPE_CHECKING:
    from mlops_helpers.rollout.context import StepContext


@dataclass(frozen=True)
class Switch(Step):
    type = "switch"
    full_promotion_target = True

    def run(self, ctx: StepContext) -> Outcome:
        def everything(state: RolloutState) -> Routing:
            return Routing(weights={state.require_candidate().version: 100})
        ctx.route(everything)
        ctx.note("100% of traffic on the new version")
        return "next"
