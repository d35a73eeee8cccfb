"""What every rollout step is: typed parameters (persisted with the plan), a description, a run."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from mlops_helpers.rollout.context import StepContext

# next: go on with the following step · paused: wait for `mlops rollout promote` · done: the rollout ended
Outcome = Literal["next", "paused", "done"]


@dataclass(frozen=True)
class Step:
    """One step of a plan. Subclasses set `type` (the name persisted in rollout.json) and `run`."""

    type: ClassVar[str]
    # `mlops rollout promote --full` jumps to the first step of the plan that has this set.
    full_promotion_target: ClassVar[bool] = False

    def describe(self) -> str:
        """One line for `mlops rollout status`, the event log and Jenkins."""
        return self.type.replace("_", " ")

    def run(self, ctx: StepContext) -> Outcome:
        raise NotImplementedError(f"{type(self).__name__}.run")

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **asdict(self)}
