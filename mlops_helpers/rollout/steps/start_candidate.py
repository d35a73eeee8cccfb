"""Start the new version's servers beside the stable ones, with no user traffic yet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops_helpers.rollout.steps.base import Outcome, Step

if TYPE_CHECKING:
    from mlops_helpers.rollout.context import StepContext


@dataclass(frozen=True)
class StartCandidate(Step):
    type = "start_candidate"
    replicas: int

    def describe(self) -> str:
        return f"start {self.replicas} server(s) of the new version, no traffic"

    def run(self, ctx: StepContext) -> Outcome:
        candidate = ctx.read().require_candidate()
        alive = [server for server in candidate.servers if ctx.backend.server_alive(server)]
        with ctx.transaction() as state:
            state.require_candidate().servers = alive  # servers of a killed engine that died too are forgotten
        for index in range(len(alive), self.replicas):
            ctx.start_server("candidate", index)
        # In the routing with weight 0 before it is ready: no traffic yet, but the router probes its
        # readiness (and a backend that runs versions as tracks creates the candidate's track here).
        ctx.route(lambda state: state.routing)
        ctx.wait_ready(ctx.read().require_candidate().servers)
        ctx.note(f"v{candidate.version}: {self.replicas} server(s) ready")
        return "next"
