"""`build_plan` is pure: each strategy's plan, as data, for the local and the Kubernetes backend."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_helpers.rollout.spec import STRATEGIES, DeployConfig
from mlops_helpers.rollout.state import RolloutState
from mlops_helpers.rollout.steps import STEP_TYPES, full_promotion_index, step_from_dict
from mlops_helpers.rollout.strategies import PLAN_BUILDERS, build_plan

METRICS = ["error_rate", "latency_p99_ms"]
START = {"type": "start_candidate", "replicas": 2}
SWITCH = {"type": "switch"}
FINISH = {"type": "finish", "keep_old": 0.0}


def plan(strategy: str, deploy: dict[str, Any] | None = None, backend: str = "local", first: bool = False) -> list[dict[str, Any]]:
    config = DeployConfig.model_validate(deploy or {})
    return [step.to_dict() for step in build_plan(strategy, config, 2, first_deploy=first, backend=backend)]


def test_every_named_strategy_has_a_plan_and_nothing_else() -> None:
    assert tuple(PLAN_BUILDERS) == STRATEGIES == ("recreate", "ramped", "bluegreen", "canary", "abtest")


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("backend", ["local", "kubernetes"])
def test_a_first_deploy_goes_straight_to_full_traffic(strategy: str, backend: str) -> None:
    assert plan(strategy, backend=backend, first=True) == [START, SWITCH, FINISH]


def test_recreate_stops_the_old_version_before_starting_the_new() -> None:
    assert plan("recreate") == [{"type": "stop_stable"}, START, SWITCH, FINISH]


def test_ramped_replaces_servers_in_batches() -> None:
    assert plan("ramped", {"ramped": {"maxSurge": 2, "maxUnavailable": 1}}) == [
        {"type": "ramp", "replicas": 2, "max_surge": 2, "max_unavailable": 1}, FINISH]


@pytest.mark.parametrize("strategy", ["recreate", "ramped"])
def test_on_kubernetes_recreate_and_ramped_are_the_deployments_own(strategy: str) -> None:
    assert plan(strategy, backend="kubernetes") == [START, SWITCH, FINISH]


def test_bluegreen_previews_smoke_tests_then_switches_and_keeps_blue_warm() -> None:
    assert plan("bluegreen") == [
        START, {"type": "preview_route", "header": "x-mlops-preview", "value": "1"},
        {"type": "smoke_test", "requests": 20}, SWITCH, {"type": "finish", "keep_old": 60.0}]


def test_bluegreen_with_analysis_and_manual_promotion() -> None:
    deploy = {"bluegreen": {"autoPromote": False, "smoke_test": None, "scaleDownDelay": "5s",
                            "prePromotionAnalysis": {"metrics": ["error_rate"], "count": 2}},
              "mirror": {"percent": 20}}
    assert plan("bluegreen", deploy) == [
        START, {"type": "mirror", "percent": 20}, {"type": "preview_route", "header": "x-mlops-preview", "value": "1"},
        {"type": "analysis", "metrics": ["error_rate"], "interval": 5.0, "count": 2},
        {"type": "pause", "duration": None, "background": None}, SWITCH, {"type": "finish", "keep_old": 5.0}]


def test_canary_default_steps() -> None:
    analysis = {"type": "analysis", "metrics": METRICS, "interval": 5.0, "count": 3}
    assert plan("canary") == [START, {"type": "set_weight", "weight": 10}, analysis,
                              {"type": "set_weight", "weight": 50}, analysis, SWITCH, FINISH]


def test_canary_pauses_carry_the_background_analysis_and_100_is_the_switch() -> None:
    deploy = {"canary": {"steps": [{"setWeight": 20}, {"pause": "30s"}, {"setWeight": 100}]},
              "analysis": {"interval": "2s", "metrics": [{"name": "error_rate", "max": 0.1}]}}
    assert plan("canary", deploy) == [
        START, {"type": "set_weight", "weight": 20},
        {"type": "pause", "duration": 30.0, "background": {"metrics": ["error_rate"], "interval": 2.0}}, SWITCH, FINISH]


def test_canary_without_background_analysis_ends_with_one_switch() -> None:
    deploy = {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}], "backgroundAnalysis": False}}
    assert plan("canary", deploy) == [
        START, {"type": "set_weight", "weight": 20}, {"type": "pause", "duration": None, "background": None},
        SWITCH, FINISH]


def test_abtest_by_weight_and_by_header() -> None:
    common = {"type": "abtest", "metric": "accuracy", "alpha": 0.05, "min_samples": 200, "min_effect": 0.0,
              "interval": 5.0, "max_duration": 600.0, "on_inconclusive": "pause"}
    assert plan("abtest") == [START, {**common, "weight": 50, "route": []}, SWITCH, FINISH]
    routed = plan("abtest", {"abtest": {"route": [{"header": "x-group", "value": "b"}]}})
    assert routed == [START, {**common, "weight": 0, "route": [{"header": "x-group", "value": "b"}]}, SWITCH, FINISH]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_plans_round_trip_through_the_stored_state(strategy: str) -> None:
    steps = build_plan(strategy, DeployConfig(), 3, first_deploy=False)
    assert [step_from_dict(step.to_dict()) for step in steps] == steps
    state = RolloutState("production", "m", strategy, 1, "progressing", plan=steps)
    assert RolloutState.from_dict(state.to_dict()).plan == steps


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_promote_full_lands_on_the_step_that_moves_all_traffic(strategy: str) -> None:
    steps = build_plan(strategy, DeployConfig(), 2, first_deploy=False)
    assert steps[full_promotion_index(steps)].type in ("switch", "ramp")


def test_every_step_type_describes_itself() -> None:
    steps = [step for strategy in STRATEGIES for step in build_plan(strategy, DeployConfig(), 2, first_deploy=False)]
    assert {step.type for step in steps} | {"pause", "mirror"} >= set(STEP_TYPES) - {"pause", "mirror"}
    descriptions = {step.type: step.describe() for step in steps}
    assert descriptions["set_weight"] in ("send 10% of traffic to the new version", "send 50% of traffic to the new version")
    assert descriptions["analysis"] == "analysis: error_rate, latency_p99_ms × 3 every 5s"
    assert descriptions["finish"] == "new version is stable"
    assert descriptions["start_candidate"] == "start 2 server(s) of the new version, no traffic"


def test_a_step_written_by_another_version_is_a_clear_error() -> None:
    from mlops_helpers.errors import MlopsError

    with pytest.raises(MlopsError, match="unknown type 'teleport'"):
        step_from_dict({"type": "teleport"})
    with pytest.raises(MlopsError, match=r"set_weight parameters \['speed'\]"):
        step_from_dict({"type": "set_weight", "weight": 5, "speed": 1})
