"""The A/B statistics: the z-test against scipy's chi-square, false positives under repeated
looks (Monte Carlo), power, insufficient data, degenerate samples, the reason sentence, and
invariants (hypothesis).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chi2_contingency, norm

from mlops_helpers.rollout.stats import compare_proportions

ALPHA = 0.05
EXPERIMENTS = 2000
# Three standard errors of a Monte-Carlo rate near ALPHA over EXPERIMENTS draws.
MC_TOLERANCE = 3 * math.sqrt(ALPHA * (1 - ALPHA) / EXPERIMENTS)


# --- the test statistic ---------------------------------------------------------------


@pytest.mark.parametrize("a, b", [((719, 790), (781, 812)), ((300, 1000), (330, 1000)), ((5, 250), (0, 300)),
                                  ((480, 500), (470, 520)), ((1, 200), (199, 200))])
def test_z_and_p_match_the_chi_square_test_and_a_hand_computation(a: tuple[int, int], b: tuple[int, int]) -> None:
    result = compare_proportions("accuracy", "v1", a, "v2", b, min_samples=0)
    (sa, na), (sb, nb) = a, b
    pooled = (sa + sb) / (na + nb)
    z = (sb / nb - sa / na) / math.sqrt(pooled * (1 - pooled) * (1 / na + 1 / nb))
    assert result.z == pytest.approx(z, rel=1e-12)
    chi2, p, _, _ = chi2_contingency([[sa, na - sa], [sb, nb - sb]], correction=False)
    assert result.z ** 2 == pytest.approx(chi2, rel=1e-9)
    assert result.p_value == pytest.approx(p, rel=1e-9, abs=1e-300)
    assert result.difference == pytest.approx(sb / nb - sa / na)
    assert result.a_rate == sa / na and result.b_rate == sb / nb
    assert result.effect_size == pytest.approx(2 * math.asin(math.sqrt(sb / nb)) - 2 * math.asin(math.sqrt(sa / na)))
    # Wald interval of the difference at 95%.
    half = norm.ppf(0.975) * math.sqrt(sa / na * (1 - sa / na) / na + sb / nb * (1 - sb / nb) / nb)
    assert (result.ci_low, result.ci_high) == pytest.approx((result.difference - half, result.difference + half))


def test_a_clear_difference_names_the_better_version() -> None:
    result = compare_proportions("accuracy", "v3", (719, 790), "v4", (781, 812))
    assert result.verdict == "winner" and result.winner == "v4"
    assert result.p_value < 0.001 and result.ci_low > 0
    # The same counts read as error rates: the lower rate wins.
    errors = compare_proportions("error_rate", "v3", (719, 790), "v4", (781, 812), higher_is_better=False)
    assert errors.verdict == "winner" and errors.winner == "v3"
    worse = compare_proportions("accuracy", "v3", (781, 812), "v4", (719, 790))
    assert worse.winner == "v3" and worse.difference < 0


def test_looks_split_alpha_and_widen_the_interval() -> None:
    once = compare_proportions("accuracy", "a", (900, 1000), "b", (925, 1000))
    five = compare_proportions("accuracy", "a", (900, 1000), "b", (925, 1000), looks=5)
    assert once.p_value == five.p_value and 0.01 < once.p_value < 0.05
    assert once.alpha_per_look == 0.05 and five.alpha_per_look == pytest.approx(0.01)
    assert once.winner == "b" and five.verdict == "inconclusive" and five.winner is None
    # The 95% interval excludes no difference, the wider 99% one includes it.
    assert five.ci_low < 0 < once.ci_low and five.ci_high > once.ci_high
    assert "99% CI" in five.reason and "0.05 over 5 looks" in five.reason


def test_min_effect_ignores_significant_but_tiny_differences() -> None:
    result = compare_proportions("accuracy", "a", (50_000, 100_000), "b", (51_000, 100_000), min_effect=0.02)
    assert result.p_value < 1e-4 and result.verdict == "inconclusive" and result.winner is None
    assert "under the minimum effect 0.02" in result.reason
    assert compare_proportions("accuracy", "a", (50_000, 100_000), "b", (51_000, 100_000), min_effect=0.01).winner == "b"


# --- false positives and power (Monte Carlo) -------------------------------------------


def _false_positive_rate(planned_looks: int, peeks: int, per_look: int = 400, rate: float = 0.9) -> float:
    """Share of A/A experiments (equal true rates) in which any of `peeks` looks names a winner."""
    rng = np.random.default_rng(20240611 + 31 * planned_looks + peeks)
    # Successes added between looks, for each experiment and arm; cumulated per look.
    a = rng.binomial(per_look, rate, size=(EXPERIMENTS, peeks)).cumsum(axis=1)
    b = rng.binomial(per_look, rate, size=(EXPERIMENTS, peeks)).cumsum(axis=1)
    false_positive = 0
    for experiment in range(EXPERIMENTS):
        for look in range(peeks):
            trials = per_look * (look + 1)
            result = compare_proportions("accuracy", "a", (int(a[experiment, look]), trials),
                                         "b", (int(b[experiment, look]), trials), looks=planned_looks)
            if result.winner is not None:
                false_positive += 1
                break
    return false_positive / EXPERIMENTS


def test_false_positive_rate_with_one_look_is_at_most_alpha() -> None:
    rate = _false_positive_rate(planned_looks=1, peeks=1)
    assert rate <= ALPHA + MC_TOLERANCE, rate
    assert rate > ALPHA / 3, f"{rate}: the test is far more conservative than it should be"


def test_false_positive_rate_over_five_peeks_is_at_most_alpha_with_looks_5() -> None:
    assert _false_positive_rate(planned_looks=5, peeks=5) <= ALPHA + MC_TOLERANCE
    # Why `looks` exists: peeking 5 times at the full alpha finds far too many false winners.
    assert _false_positive_rate(planned_looks=1, peeks=5) > ALPHA + 2 * MC_TOLERANCE


def test_power_the_better_version_wins_in_most_experiments() -> None:
    rng = np.random.default_rng(7)
    trials = 1000
    a = rng.binomial(trials, 0.90, size=500)
    b = rng.binomial(trials, 0.95, size=500)
    winners = [compare_proportions("accuracy", "v1", (int(x), trials), "v2", (int(y), trials)).winner
               for x, y in zip(a, b)]
    assert winners.count("v2") / len(winners) >= 0.95
    assert "v1" not in winners
    # Error rates 0.10 vs 0.05: the lower one wins just as often.
    losers = [compare_proportions("error_rate", "v1", (trials - int(x), trials), "v2", (trials - int(y), trials),
                                  higher_is_better=False).winner for x, y in zip(a, b)]
    assert losers == winners


# --- edge cases -----------------------------------------------------------------------


@pytest.mark.parametrize("a, b", [((10, 100), (190, 199)), ((190, 199), (10, 100)), ((0, 0), (0, 0)),
                                  ((0, 0), (500, 1000))])
def test_too_few_trials_is_insufficient_data(a: tuple[int, int], b: tuple[int, int]) -> None:
    result = compare_proportions("accuracy", "v1", a, "v2", b)
    assert result.verdict == "insufficient_data" and result.winner is None
    assert math.isnan(result.z) and math.isnan(result.p_value) and math.isnan(result.ci_low)
    assert "fewer than the 200 needed" in result.reason
    assert f"{b[1]} trials for v2 and {a[1]} for v1" in result.reason
    assert result.to_dict()["z"] is None and result.to_dict()["p_value"] is None


def test_even_an_overwhelming_difference_needs_min_samples() -> None:
    result = compare_proportions("accuracy", "v1", (0, 150), "v2", (150, 150))
    assert result.verdict == "insufficient_data" and result.winner is None
    assert compare_proportions("accuracy", "v1", (0, 150), "v2", (150, 150), min_samples=100).winner == "v2"


@pytest.mark.parametrize("successes", [0, 1])
def test_zero_variance_is_inconclusive_with_a_reason(successes: int) -> None:
    result = compare_proportions("accuracy", "v1", (successes * 500, 500), "v2", (successes * 800, 800))
    assert result.verdict == "inconclusive" and result.winner is None
    assert result.z == 0.0 and result.p_value == 1.0 and result.difference == 0.0
    assert (result.ci_low, result.ci_high) == (0.0, 0.0)
    assert result.reason == (f"accuracy is {successes:.3f} for both v2 (n=800) and v1 (n=500): "
                             "no variance, so the test cannot tell them apart")


def test_all_against_nothing_is_a_winner() -> None:
    result = compare_proportions("accuracy", "v1", (0, 500), "v2", (500, 500))
    assert result.winner == "v2" and result.p_value < 1e-100 and result.effect_size == pytest.approx(math.pi)


def test_reason_is_a_sentence_with_the_numbers() -> None:
    result = compare_proportions("accuracy", "v3", (719, 790), "v4", (781, 812))
    assert result.reason.startswith("accuracy 0.962 (v4, n=812) vs 0.910 (v3, n=790): difference +0.052, 95% CI [+0.0")
    assert f"p={result.p_value:.2g}" in result.reason or f"p={result.p_value:.1e}" in result.reason
    assert result.reason.endswith("< 0.05, v4 wins")
    inconclusive = compare_proportions("accuracy", "v3", (719, 790), "v4", (730, 812))
    assert "difference -0.011" in inconclusive.reason and inconclusive.reason.endswith(">= 0.05, no significant difference")


def test_to_dict_is_json_ready() -> None:
    result = compare_proportions("accuracy", "v3", (719, 790), "v4", (781, 812))
    data = result.to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert data["winner"] == "v4" and data["a_trials"] == 790 and data["verdict"] == "winner"
    assert all(type(data[key]) is float for key in ("ci_low", "ci_high", "z", "p_value", "effect_size"))


@pytest.mark.parametrize("kwargs, fragment", [
    ({"a": (5, 4)}, "a: 5 successes out of 4 trials"),
    ({"b": (-1, 10)}, "b: successes and trials must be >= 0"),
    ({"a": (1, -10)}, "a: successes and trials must be >= 0"),
    ({"a": (1.5, 10)}, "a: successes and trials must be integers"),
    ({"b": (1, 2, 3)}, "b must be a (successes, trials) pair"),
    ({"alpha": 0}, "alpha must be between 0 and 1"),
    ({"alpha": 1.0}, "alpha must be between 0 and 1"),
    ({"looks": 0}, "looks must be an integer >= 1"),
    ({"looks": 2.5}, "looks must be an integer >= 1"),
    ({"min_samples": -1}, "min_samples must be >= 0"),
    ({"min_effect": -0.1}, "min_effect must be >= 0"),
])
def test_invalid_arguments_name_the_argument(kwargs: dict, fragment: str) -> None:
    arguments = {"a": (10, 20), "b": (10, 20), **kwargs}
    a, b = arguments.pop("a"), arguments.pop("b")
    with pytest.raises(ValueError, match="^" + fragment.replace("(", r"\(").replace(")", r"\)")):
        compare_proportions("accuracy", "v1", a, "v2", b, **arguments)


# --- invariants -------------------------------------------------------------------------


@st.composite
def arms(draw: st.DrawFn) -> tuple[int, int]:
    trials = draw(st.integers(0, 100_000))
    return draw(st.integers(0, trials)), trials


@settings(max_examples=300, deadline=None)
@given(a=arms(), b=arms(), looks=st.integers(1, 10), min_samples=st.integers(0, 300),
       higher=st.booleans(), alpha=st.floats(0.001, 0.2))
def test_swapping_the_arms_mirrors_the_result(a: tuple[int, int], b: tuple[int, int], looks: int, min_samples: int,
                                               higher: bool, alpha: float) -> None:
    options = dict(alpha=alpha, looks=looks, min_samples=min_samples, higher_is_better=higher)
    forward = compare_proportions("m", "a", a, "b", b, **options)
    backward = compare_proportions("m", "b", b, "a", a, **options)
    assert forward.verdict == backward.verdict and forward.winner == backward.winner
    assert forward.alpha_per_look == pytest.approx(alpha / looks)
    if forward.verdict == "insufficient_data":
        assert forward.winner is None and math.isnan(forward.p_value) and math.isnan(backward.z)
        return
    assert forward.difference == -backward.difference and forward.z == -backward.z
    assert forward.p_value == backward.p_value and 0 <= forward.p_value <= 1
    assert forward.effect_size == pytest.approx(-backward.effect_size, abs=1e-12)
    assert forward.ci_low <= forward.difference <= forward.ci_high
    assert forward.ci_low == pytest.approx(-backward.ci_high, abs=1e-12)
    if forward.winner is not None:
        assert forward.p_value < forward.alpha_per_look and forward.verdict == "winner"
        better = max if higher else min
        assert forward.winner == better(("a", forward.a_rate), ("b", forward.b_rate), key=lambda arm: arm[1])[0]
