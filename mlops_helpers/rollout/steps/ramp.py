"""Ramped: replace the old version's servers by the new one's in batches (maxSurge / maxUnavailable)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops_helpers.rollout.backends.base import BackendError
from mlops_helpers.rollout.state import RolloutState, Routing
from mlops_helpers.rollout.steps.base import Outcome, Step

if TYPE_CHECKING:
    from mlops_helpers.rollout.context import StepContext


@dataclass(frozen=True)
class Ramp(Step):
    type = "ramp"
    full_promotion_target = True
    replicas: int
    max_surge: int
    max_unavailable: int

    def describe(self) -> str:
        return (f"replace {self.replicas} servers, {self.max_surge} extra at a time, "
                f"{self.max_unavailable} down at most")

    def run(self, ctx: StepContext) -> Outcome:
        while True:
            state = ctx.read()
            old, new = state.require_stable().servers, state.require_candidate().servers
            if not old and len(new) >= self.replicas:
                return "next"
            room = self.replicas + self.max_surge - len(old) - len(new)
            to_start = min(self.replicas - len(new), room)
            if to_start > 0:
                for _ in range(to_start):
                    ctx.start_server("candidate", len(ctx.read().require_candidate().servers))
                ctx.wait_ready(ctx.read().require_candidate().servers)
                ctx.route(weights_by_servers)
                continue
            removable = min(len(old), len(old) + len(new) - (self.replicas - self.max_unavailable))
            if removable <= 0:
                raise BackendError(f"ramp cannot progress with max_surge={self.max_surge}, "
                                   f"max_unavailable={self.max_unavailable}")
            leaving = old[:removable]
            with ctx.transaction() as state:
                state.require_stable().servers = old[removable:]
                state.routing = weights_by_servers(state)
                ctx.apply(state)
            ctx.backend.retire(leaving)
            ctx.note(f"ramp: v{state.require_stable().version} {len(old) - removable} server(s), "
                     f"v{state.require_candidate().version} {len(new)}")


def weights_by_servers(state: RolloutState) -> Routing:
    """Each version's share is its share of the servers (every server gets the same load)."""
    return Routing(weights={d.version: len(d.servers) for d in (state.stable, state.candidate)
                            if d is not None and d.servers})
