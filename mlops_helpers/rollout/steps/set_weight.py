"""Canary: send a share of the traffic to the new version."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops_helpers.rollout.state import RolloutState, Routing
from mlops_helpers.rollout.steps.base import Outcome, Step

if TYPE_CHECKING:
    from mlops_helpers.rollout.context import StepContext


@dataclass(frozen=True)
class SetWeight(Step):
    type = "set_weight"
    weight: int

    def describe(self) -> str:
        return f"send {self.weight}% of traffic to the new version"

    def run(self, ctx: StepContext) -> Outcome:
        def weights(state: RolloutState) -> Routing:
            return Routing(weights={state.require_stable().version: 100 - self.weight,
                                    state.require_candidate().version: self.weight},
                           mirror=state.routing.mirror)
        ctx.route(weights)
        ctx.note(f"{self.weight}% of traffic on the new version")
        return "next"
