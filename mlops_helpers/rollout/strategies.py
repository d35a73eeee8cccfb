"""The five strategies as declarative step plans, executed by one engine against any backend.

A plan is a list of typed steps (`rollout/steps/`, persisted with the rollout state), e.g. canary:

    start_candidate → set_weight 10 → analysis → set_weight 50 → analysis → switch → finish

`start_candidate` starts the new version beside the stable one with no user traffic; the
stable version stays fully scaled until `switch` (except in recreate and ramped, which
replace servers), so an abort before `switch` is one routing change.

`build_plan` is pure: the same config gives the same plan, with no process, file or cluster.
To add a strategy: a builder here, its entry in `PLAN_BUILDERS` (that names it everywhere:
`STRATEGIES`), and `templates/helm/values-<name>.yaml.j2` for Kubernetes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mlops_helpers.rollout.steps import (
    AbTest,
    Analysis,
    BackgroundAnalysis,
    Finish,
    Mirror,
    Pause,
    PreviewRoute,
    Ramp,
    SetWeight,
    SmokeTest,
    StartCandidate,
    Step,
    StopStable,
    Switch,
)

if TYPE_CHECKING:  # the spec names the strategies from this module
    from mlops_helpers.rollout.spec import AnalysisStep, DeployConfig

# Strategies whose whole replacement is the Kubernetes Deployment's own (Recreate / RollingUpdate).
DEPLOYMENT_NATIVE_ON_KUBERNETES = ("recreate", "ramped")


def build_plan(strategy: str, config: DeployConfig, replicas: int, first_deploy: bool,
               backend: str = "local") -> list[Step]:
    """Steps for a rollout of a candidate version; a first deploy (nothing serving yet) goes straight to 100%.

    On Kubernetes, recreate and ramped are the Deployment's own strategies: starting the candidate
    *is* the whole replacement (one Deployment, `Recreate` or `RollingUpdate`), so their plan is
    the first-deploy plan.
    """
    if first_deploy or (backend == "kubernetes" and strategy in DEPLOYMENT_NATIVE_ON_KUBERNETES):
        return [StartCandidate(replicas), Switch(), Finish()]
    return PLAN_BUILDERS[strategy](config, replicas)


def _recreate(config: DeployConfig, replicas: int) -> list[Step]:
    return [StopStable(), StartCandidate(replicas), Switch(), Finish()]


def _ramped(config: DeployConfig, replicas: int) -> list[Step]:
    ramped = config.ramped
    return [Ramp(replicas, ramped.max_surge, ramped.max_unavailable), Finish()]


def _bluegreen(config: DeployConfig, replicas: int) -> list[Step]:
    bluegreen = config.bluegreen
    plan: list[Step] = [StartCandidate(replicas), *_mirror(config), PreviewRoute()]
    if bluegreen.smoke_test:
        plan.append(SmokeTest(bluegreen.smoke_test.requests))
    if bluegreen.pre_promotion_analysis is not None:
        plan.append(_analysis(bluegreen.pre_promotion_analysis, config))
    if not bluegreen.auto_promote:
        plan.append(Pause())
    return [*plan, Switch(), Finish(keep_old=bluegreen.scale_down_delay)]


def _canary(config: DeployConfig, replicas: int) -> list[Step]:
    canary = config.canary
    background = _background(config) if canary.background_analysis else None
    plan: list[Step] = [StartCandidate(replicas), *_mirror(config)]
    for step in canary.steps:
        if step.set_weight is not None:
            plan.append(SetWeight(step.set_weight) if step.set_weight < 100 else Switch())
        elif step.pause is not None:
            plan.append(Pause(duration=step.pause.duration, background=background))
        elif step.analysis is not None:
            plan.append(_analysis(step.analysis, config))
    if not isinstance(plan[-1], Switch):
        plan.append(Switch())
    return [*plan, Finish()]


def _abtest(config: DeployConfig, replicas: int) -> list[Step]:
    abtest = config.abtest
    route = [match.model_dump(exclude_none=True) for match in abtest.route]
    return [StartCandidate(replicas), *_mirror(config),
            AbTest(route=route, weight=0 if route else abtest.weight, metric=abtest.metric,
                   alpha=abtest.alpha, min_samples=abtest.min_samples, min_effect=abtest.min_effect,
                   interval=abtest.interval, max_duration=abtest.max_duration,
                   on_inconclusive=abtest.on_inconclusive),
            Switch(), Finish()]


def _mirror(config: DeployConfig) -> list[Step]:
    return [] if config.mirror is None else [Mirror(config.mirror.percent)]


def _analysis(step: AnalysisStep, config: DeployConfig) -> Analysis:
    analysis = config.analysis
    return Analysis(metrics=step.metrics or [metric.name for metric in analysis.metrics],
                    interval=step.interval or analysis.interval, count=step.count or analysis.count)


def _background(config: DeployConfig) -> BackgroundAnalysis | None:
    if not config.analysis.metrics:
        return None
    return BackgroundAnalysis([metric.name for metric in config.analysis.metrics], config.analysis.interval)


PLAN_BUILDERS: dict[str, Callable[[DeployConfig, int], list[Step]]] = {
    "recreate": _recreate, "ramped": _ramped, "bluegreen": _bluegreen, "canary": _canary, "abtest": _abtest,
}
STRATEGIES: tuple[str, ...] = tuple(PLAN_BUILDERS)
