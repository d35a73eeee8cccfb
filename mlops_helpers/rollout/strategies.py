"""The five strategies as declarative step plans, executed by one engine against any backend.

A plan is a list of plain dicts (it is persisted with the rollout state), e.g. canary:

    start_candidate → set_weight 10 → analysis → set_weight 50 → analysis → switch → finish

`start_candidate` starts the new version beside the stable one with no user traffic; the
stable version stays fully scaled until `switch` (except in recreate and ramped, which
replace servers), so an abort before `switch` is one routing change.
"""

from __future__ import annotations

from typing import Any

from mlops_helpers.rollout.spec import AnalysisStep, DeployConfig

PREVIEW_HEADER = "x-mlops-preview"


def build_plan(strategy: str, config: DeployConfig, replicas: int, first_deploy: bool,
               backend: str = "local") -> list[dict[str, Any]]:
    """Steps for a rollout of a candidate version; a first deploy (nothing serving yet) goes straight to 100%.

    On Kubernetes, recreate and ramped are the Deployment's own strategies: starting the candidate
    *is* the whole replacement (one Deployment, `Recreate` or `RollingUpdate`), so their plan is
    the first-deploy plan.
    """
    if first_deploy or (backend == "kubernetes" and strategy in ("recreate", "ramped")):
        return [_start(replicas), _step("switch"), _finish(0.0)]
    builders = {"recreate": _recreate, "ramped": _ramped, "bluegreen": _bluegreen, "canary": _canary, "abtest": _abtest}
    return builders[strategy](config, replicas)


def _recreate(config: DeployConfig, replicas: int) -> list[dict[str, Any]]:
    return [_step("stop_stable", description="stop the old version (downtime starts)"), _start(replicas),
            _step("switch"), _finish(0.0)]


def _ramped(config: DeployConfig, replicas: int) -> list[dict[str, Any]]:
    ramped = config.ramped
    return [_step("ramp", replicas=replicas, max_surge=ramped.max_surge, max_unavailable=ramped.max_unavailable,
                  description=f"replace {replicas} servers, {ramped.max_surge} extra at a time, "
                              f"{ramped.max_unavailable} down at most"),
            _finish(0.0)]


def _bluegreen(config: DeployConfig, replicas: int) -> list[dict[str, Any]]:
    bluegreen = config.bluegreen
    plan = [_start(replicas), *_mirror(config),
            _step("preview_route", header=PREVIEW_HEADER, value="1",
                  description=f"requests with header {PREVIEW_HEADER}: 1 reach the new version")]
    if bluegreen.smoke_test:
        plan.append(_step("smoke_test", requests=bluegreen.smoke_test.requests))
    if bluegreen.pre_promotion_analysis is not None:
        plan.append(_analysis(bluegreen.pre_promotion_analysis, config))
    if not bluegreen.auto_promote:
        plan.append(_step("pause", duration=None, background=None))
    return [*plan, _step("switch"), _finish(bluegreen.scale_down_delay)]


def _canary(config: DeployConfig, replicas: int) -> list[dict[str, Any]]:
    canary = config.canary
    background = _background(config) if canary.background_analysis else None
    plan = [_start(replicas), *_mirror(config)]
    for step in canary.steps:
        if step.set_weight is not None:
            plan.append(_step("set_weight", weight=step.set_weight) if step.set_weight < 100 else _step("switch"))
        elif step.pause is not None:
            plan.append(_step("pause", duration=step.pause.duration, background=background))
        elif step.analysis is not None:
            plan.append(_analysis(step.analysis, config))
    if not plan or plan[-1]["type"] != "switch":
        plan.append(_step("switch"))
    return [*plan, _finish(0.0)]


def _abtest(config: DeployConfig, replicas: int) -> list[dict[str, Any]]:
    abtest = config.abtest
    route = [match.model_dump(exclude_none=True) for match in abtest.route]
    return [_start(replicas), *_mirror(config),
            _step("abtest", route=route, weight=0 if route else abtest.weight, metric=abtest.metric,
                  alpha=abtest.alpha, min_samples=abtest.min_samples, min_effect=abtest.min_effect,
                  interval=abtest.interval, max_duration=abtest.max_duration,
                  on_inconclusive=abtest.on_inconclusive),
            _step("switch"), _finish(0.0)]


def _start(replicas: int) -> dict[str, Any]:
    return _step("start_candidate", replicas=replicas, description=f"start {replicas} server(s) of the new version, no traffic")


def _finish(keep_old: float) -> dict[str, Any]:
    return _step("finish", keep_old=keep_old,
                 description="new version is stable" + (f"; old kept {keep_old:g}s for an instant undo" if keep_old else ""))


def _mirror(config: DeployConfig) -> list[dict[str, Any]]:
    if config.mirror is None:
        return []
    return [_step("mirror", percent=config.mirror.percent,
                  description=f"copy {config.mirror.percent}% of requests to the new version (responses discarded)")]


def _analysis(step: AnalysisStep, config: DeployConfig) -> dict[str, Any]:
    analysis = config.analysis
    return _step("analysis", metrics=step.metrics or [metric.name for metric in analysis.metrics],
                 interval=step.interval or analysis.interval, count=step.count or analysis.count)


def _background(config: DeployConfig) -> dict[str, Any] | None:
    if not config.analysis.metrics:
        return None
    return {"metrics": [metric.name for metric in config.analysis.metrics], "interval": config.analysis.interval}


def _step(kind: str, **params: Any) -> dict[str, Any]:
    return {"type": kind, **params}
