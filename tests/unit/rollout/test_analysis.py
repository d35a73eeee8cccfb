"""Verdicts of the analysis: values against thresholds, and how measurements add up to a step's verdict."""

from __future__ import annotations

import pytest

from mlops_helpers.rollout.analysis import (
    ERROR,
    FAIL,
    INCONCLUSIVE,
    PASS,
    Measurement,
    Tally,
    Value,
    VersionCounters,
    builtin_value,
    histogram_quantile,
    judge,
)
from mlops_helpers.rollout.spec import AnalysisConfig, MetricSpec


def measurement(outcome: str, metric: str = "error_rate") -> Measurement:
    return Measurement(metric, "2", outcome, None, None, "max 0.05", outcome)


def test_errors_below_the_limit_never_add_up_to_a_successful_analysis() -> None:
    tally = Tally(AnalysisConfig(consecutive_error_limit=4))
    for _ in range(3):
        assert tally.add(measurement(ERROR)) is None
    assert tally.verdict() == "inconclusive"


def test_more_consecutive_errors_than_the_limit_fail_the_analysis() -> None:
    tally = Tally(AnalysisConfig(consecutive_error_limit=2))
    assert tally.add(measurement(ERROR)) is None
    assert tally.add(measurement(ERROR)) is None
    assert tally.add(measurement(ERROR)) == "failed"


def test_failures_up_to_the_limit_are_tolerated_and_one_more_fails() -> None:
    tally = Tally(AnalysisConfig(failure_limit=1))
    assert tally.add(measurement(FAIL)) is None
    assert tally.add(measurement(PASS)) is None
    assert tally.add(measurement(FAIL)) == "failed"


def test_passes_only_are_successful_and_one_inconclusive_pauses_by_default() -> None:
    tally = Tally(AnalysisConfig())
    tally.add(measurement(PASS))
    assert tally.verdict() == "successful"
    tally.add(measurement(INCONCLUSIVE))
    assert tally.verdict() == "inconclusive"


@pytest.mark.parametrize(("value", "samples", "outcome"), [
    (0.01, 100, PASS), (0.2, 100, FAIL), (None, 100, INCONCLUSIVE), (float("nan"), 100, INCONCLUSIVE),
    (0.0, 3, INCONCLUSIVE),  # no errors in 3 requests proves nothing: fewer than min_samples
])
def test_judge_records_value_threshold_and_samples(value, samples, outcome) -> None:
    result = judge(MetricSpec(name="error_rate", max=0.05), "2", Value(value, samples))
    assert result.outcome == outcome and result.threshold == "max 0.05"
    assert "error_rate of v2" in result.message


def test_conditions_leave_a_band_that_is_inconclusive() -> None:
    spec = MetricSpec(name="accuracy", success_condition="result >= 0.95", failure_condition="result < 0.9")
    assert [judge(spec, "2", Value(v, 500)).outcome for v in (0.97, 0.92, 0.85)] == [PASS, INCONCLUSIVE, FAIL]


def test_error_rate_and_latency_quantile_come_from_counter_deltas() -> None:
    before = VersionCounters(requests=100, errors=1, buckets={0.01: 90, 0.1: 100, float("inf"): 100})
    after = VersionCounters(requests=300, errors=21, buckets={0.01: 190, 0.1: 300, float("inf"): 300})
    delta = after.minus(before)
    assert builtin_value("error_rate", delta, 2.0).value == pytest.approx(0.1)
    assert builtin_value("request_rate", delta, 2.0).value == pytest.approx(100.0)
    # 100 of 200 in (0, 10 ms], 100 in (10, 100 ms]: the median sits at the first bucket's upper bound.
    assert builtin_value("latency_p50_ms", delta, 2.0).value == pytest.approx(10.0)
    assert histogram_quantile(0.75, delta.buckets) == pytest.approx(0.055)
    assert histogram_quantile(0.5, {}) is None
