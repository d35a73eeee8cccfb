"""The new version becomes stable; the old one is stopped, or kept warm for an instant undo."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops_helpers.rollout.state import Routing
from mlops_helpers.rollout.steps.base import Outcome, Step
from mlops_helpers.rollout.steps.stop_stable import DOWNTIME_STARTED
from mlops_helpers.rollout.transitions import retire_previous

if TYPE_CHECKING:
    from mlops_helpers.rollout.context import StepContext


@dataclass(frozen=True)
class Finish(Step):
    type = "finish"
    full_promotion_target = True
    keep_old: float = 0.0  # seconds the old version stays warm (blue/green scale_down_delay)

    def describe(self) -> str:
        return "new version is stable" + (f"; old kept {self.keep_old:g}s for an instant undo" if self.keep_old else "")

    def run(self, ctx: StepContext) -> Outcome:
        with ctx.transaction() as state:
            old = state.stable
            if old is not None:
                old.keep_until = time.time() + self.keep_old
            new = state.require_candidate()
            state.previous, state.stable, state.candidate = old, new, None
            state.routing = Routing(weights={new.version: 100})
            state.status, state.finished_at = "promoted", time.time()
            state.reason = f"v{new.version} serves 100%"
            state.step_index = len(state.plan)
            ctx.apply(state)
            finished = state
        downtime = _downtime(ctx)
        extra = {"downtime": downtime} if downtime is not None else {}
        if downtime is not None:
            ctx.note(f"downtime: {downtime:.2f}s without a serving version (recreate)")
        ctx.event("promoted", finished.reason, **extra)
        ctx.store.record_history(finished)
        ctx.hooks.on_promoted(finished)
        if old is not None and self.keep_old == 0:
            retire_previous(ctx.store, ctx.backend)
        return "done"


def _downtime(ctx: StepContext) -> float | None:
    """Recreate: seconds between stopping the old version and routing to the new one."""
    events = ctx.store.events(ctx.revision)
    stopped = next((e["time"] for e in events if e["event"] == DOWNTIME_STARTED), None)
    routed = next((e["time"] for e in events if e["event"] == "step" and e.get("type") == Finish.type), None)
    return None if stopped is None or routed is None else routed - stopped
