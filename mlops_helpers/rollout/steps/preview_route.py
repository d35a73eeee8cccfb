"""Blue/green: requests carrying the preview header reach the new version; users still get the old."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops_helpers.rollout.state import RolloutState, Routing
from mlops_helpers.rollout.steps.base import Outcome, Step

if TYPE_CHECKING:
    from mlops_helpers.rollout.context import StepContext

PREVIEW_HEADER = "x-mlops-preview"


@dataclass(frozen=True)
class PreviewRoute(Step):
    type = "preview_route"
    header: str = PREVIEW_HEADER
    value: str = "1"

    def describe(self) -> str:
        return f"requests with header {self.header}: {self.value} reach the new version"

    def run(self, ctx: StepContext) -> Outcome:
        def preview(state: RolloutState) -> Routing:
            return Routing(weights={state.require_stable().version: 100}, mirror=state.routing.mirror,
                           match=[{"header": self.header, "value": self.value,
                                   "version": state.require_candidate().version}])
        ctx.route(preview)
        return "next"
