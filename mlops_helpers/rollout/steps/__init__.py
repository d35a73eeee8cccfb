"""The step types a rollout plan is made of, one module each, and the registry that names them.

A step is a frozen dataclass: its fields are the parameters persisted in rollout.json, its
`describe()` is the line `mlops rollout status` shows, and its `run(ctx)` does the work through
the public `StepContext`. To add a step type: a module here with its dataclass, and one entry in
`STEP_TYPES`.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from mlops_helpers.errors import MlopsError
from mlops_helpers.rollout.steps.abtest import AbTest
from mlops_helpers.rollout.steps.analysis import Analysis
from mlops_helpers.rollout.steps.base import Outcome, Step
from mlops_helpers.rollout.steps.finish import Finish
from mlops_helpers.rollout.steps.mirror import Mirror
from mlops_helpers.rollout.steps.pause import BackgroundAnalysis, Pause
from mlops_helpers.rollout.steps.preview_route import PreviewRoute
from mlops_helpers.rollout.steps.ramp import Ramp
from mlops_helpers.rollout.steps.set_weight import SetWeight
from mlops_helpers.rollout.steps.smoke_test import SmokeTest
from mlops_helpers.rollout.steps.start_candidate import StartCandidate
from mlops_helpers.rollout.steps.stop_stable import StopStable
from mlops_helpers.rollout.steps.switch import Switch

STEP_TYPES: dict[str, type[Step]] = {step.type: step for step in (
    StartCandidate, StopStable, Ramp, Mirror, SetWeight, PreviewRoute, SmokeTest, Pause, Analysis, AbTest,
    Switch, Finish)}

__all__ = ["STEP_TYPES", "AbTest", "Analysis", "BackgroundAnalysis", "Finish", "Mirror", "Outcome", "Pause",
           "PreviewRoute", "Ramp", "SetWeight", "SmokeTest", "StartCandidate", "Step", "StopStable", "Switch",
           "full_promotion_index", "step_from_dict"]


def step_from_dict(raw: dict[str, Any]) -> Step:
    """A persisted step back into its dataclass; a state written by another mlops is a clear error."""
    params = dict(raw)
    kind = params.pop("type", None)
    cls = STEP_TYPES.get(str(kind))
    known = {f.name for f in fields(cls)} if cls else set()
    if cls is None or not set(params) <= known:
        unknown = f"type {kind!r}" if cls is None else f"{kind} parameters {sorted(set(params) - known)}"
        raise MlopsError(f"rollout plan step {raw!r}: unknown {unknown} (the state was written by another "
                         "version of mlops: finish or abort that rollout with it)")
    if cls is Pause and params.get("background") is not None:
        params["background"] = BackgroundAnalysis(**params["background"])
    return cls(**params)


def full_promotion_index(plan: list[Step]) -> int:
    """Where `mlops rollout promote --full` jumps to: the first step that moves all traffic."""
    return next(index for index, step in enumerate(plan) if step.full_promotion_target)
