"""Shadow traffic: copy a share of requests to the new version and discard its answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops_helpers.rollout.state import RolloutState, Routing
from mlops_helpers.rollout.steps.base import Outcome, Step

if TYPE_CHECKING:
    from mlops_helpers.rollout.context import StepContext


@dataclass(frozen=True)
class Mirror(Step):
    type = "mirror"
    percent: int

    def describe(self) -> str:
        return f"copy {self.percent}% of requests to the new version (responses discarded)"

    def run(self, ctx: StepContext) -> Outcome:
        def mirror(state: RolloutState) -> Routing:
            return Routing(weights=state.routing.weights, match=state.routing.match,
                           mirror={"version": state.require_candidate().version, "percent": self.percent})
        ctx.route(mirror)
        return "next"
