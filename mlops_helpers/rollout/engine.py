"""The rollout engine: the loop that runs a plan's steps in order and the transitions between them.

One process drives a rollout at a time (it holds the store's engine lock). Other shells act
through the state: `abort` changes routes itself under the state lock (instant: the stable
version is still fully scaled), `promote` leaves a request that a waiting step picks up on its
next tick. Steps re-read the state around every action (`StepContext`), so the engine notices
an abort at once, and a killed engine is resumed from the persisted step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlops_helpers.console import Reporter
from mlops_helpers.rollout.backends.base import Backend, BackendError
from mlops_helpers.rollout.context import Hooks, StepContext
from mlops_helpers.rollout.errors import AbortRollout, Stopped, TimedOut
from mlops_helpers.rollout.state import StateStore
from mlops_helpers.rollout.transitions import abort_rollout

if TYPE_CHECKING:
    from mlops_helpers.rollout.spec import DeployConfig


@dataclass
class Engine:
    store: StateStore
    backend: Backend
    config: DeployConfig
    reporter: Reporter
    hooks: Hooks = field(default_factory=Hooks)
    deadline: float | None = None  # time.monotonic() after which run() returns "timed_out"

    def run(self) -> str:
        """Execute the remaining steps; return promoted, aborted, failed, paused or timed_out."""
        with self.store.engine_lock():
            while True:
                state = self.store.require()
                step = state.current_step()
                if state.status == "paused" or not state.active or step is None:
                    return state.status
                self.reporter.note(f"step {state.step_index + 1}/{len(state.plan)}: {step.describe()}")
                self.store.event("step", step.describe(), type=step.type, index=state.step_index,
                                 revision=state.revision)
                context = StepContext(self.store, self.backend, self.config, self.reporter, state.revision,
                                      self.hooks, self.deadline)
                try:
                    outcome = step.run(context)
                except Stopped:
                    return self.store.require().status
                except TimedOut:
                    self.store.event("timed_out", "the engine stopped at its --timeout; the rollout is left as it is",
                                     revision=state.revision)
                    return "timed_out"
                except AbortRollout as abort:
                    return abort_rollout(self.store, self.backend, abort.reason, status=abort.status,
                                         reporter=self.reporter).status
                except BackendError as exc:
                    return abort_rollout(self.store, self.backend, str(exc), status="failed",
                                         reporter=self.reporter).status
                if outcome in ("paused", "done"):
                    return self.store.require().status
                self._advance(state.step_index)

    def _advance(self, from_index: int) -> None:
        """On to the next step, unless a `promote --full` already moved the index."""
        with self.store.transaction() as state:
            if state is None or not state.active:
                return
            if state.step_index == from_index:
                state.step_index += 1
            state.step_state, state.pause = {}, None
