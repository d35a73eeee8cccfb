"""A/B statistics: compare two versions' success rates (accuracy, error rate) and name a winner.

The test is the classic two-sided two-proportion z-test with a pooled variance (z² equals
the chi-square statistic of the 2x2 table without continuity correction); the confidence
interval of the difference is the unpooled Wald interval. Only scipy's normal
distribution is used.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from scipy.stats import norm

WINNER = "winner"
INCONCLUSIVE = "inconclusive"
INSUFFICIENT_DATA = "insufficient_data"


@dataclass(frozen=True)
class ProportionComparison:
    metric: str  # e.g. "accuracy" or "error_rate"
    a_version: str
    b_version: str
    a_successes: int
    a_trials: int
    b_successes: int
    b_trials: int
    a_rate: float
    b_rate: float
    difference: float  # b_rate - a_rate
    ci_low: float  # confidence interval of the difference at level 1 - alpha_per_look
    ci_high: float
    z: float  # two-sided pooled two-proportion z-test; NaN when there is not enough data
    p_value: float
    alpha: float
    alpha_per_look: float
    effect_size: float  # Cohen's h, b against a
    winner: str | None
    verdict: str  # "winner" | "inconclusive" | "insufficient_data"
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN (not a JSON value) becomes None."""
        return {key: None if isinstance(value, float) and math.isnan(value) else value
                for key, value in asdict(self).items()}


def compare_proportions(
    metric: str,
    a_version: str,
    a: tuple[int, int],
    b_version: str,
    b: tuple[int, int],
    *,
    alpha: float = 0.05,
    min_samples: int = 200,
    looks: int = 1,
    higher_is_better: bool = True,
    min_effect: float = 0.0,
) -> ProportionComparison:
    """Compare the rates successes/trials of versions a and b; b is usually the candidate.

    `looks` is how many times the caller plans to run this test during one experiment
    (peeking at interim results). Each look tests at alpha / looks (Bonferroni): testing
    the same experiment repeatedly at the full alpha would inflate the chance of a false
    winner well above alpha (about 14% at alpha=0.05 with 5 looks), while the Bonferroni
    split keeps the overall false-positive rate at or below alpha whatever the correlation
    between looks. It is conservative: it costs some power compared with a group-sequential
    boundary, in exchange for holding without any assumption about when the looks happen.

    Fewer than `min_samples` trials in either arm is "insufficient_data" and never names a
    winner. A winner needs p < alpha / looks and |difference| >= min_effect; the higher rate
    wins, or the lower one when `higher_is_better` is False (error rates).
    """
    _check_arm("a", a)
    _check_arm("b", b)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1 (exclusive), got {alpha}")
    if isinstance(looks, bool) or not isinstance(looks, int) or looks < 1:
        raise ValueError(f"looks must be an integer >= 1, got {looks!r}")
    if min_samples < 0:
        raise ValueError(f"min_samples must be >= 0, got {min_samples}")
    if not min_effect >= 0:
        raise ValueError(f"min_effect must be >= 0, got {min_effect}")

    (a_successes, a_trials), (b_successes, b_trials) = a, b
    a_rate = a_successes / a_trials if a_trials else math.nan
    b_rate = b_successes / b_trials if b_trials else math.nan
    alpha_per_look = alpha / looks
    common: dict[str, Any] = dict(
        metric=metric, a_version=a_version, b_version=b_version, a_successes=a_successes, a_trials=a_trials,
        b_successes=b_successes, b_trials=b_trials, a_rate=a_rate, b_rate=b_rate, difference=b_rate - a_rate,
        alpha=alpha, alpha_per_look=alpha_per_look, effect_size=_cohens_h(a_rate, b_rate),
    )
    if min(a_trials, b_trials) < max(min_samples, 1):
        return ProportionComparison(
            **common, ci_low=math.nan, ci_high=math.nan, z=math.nan, p_value=math.nan, winner=None,
            verdict=INSUFFICIENT_DATA,
            reason=(f"{metric}: {b_trials} trials for {b_version} and {a_trials} for {a_version}, "
                    f"fewer than the {max(min_samples, 1)} needed per version"),
        )

    z, p_value = _z_test(a_successes, a_trials, b_successes, b_trials)
    ci_low, ci_high = _wald_interval(a_rate, a_trials, b_rate, b_trials, alpha_per_look)
    difference = b_rate - a_rate
    significant = p_value < alpha_per_look
    large_enough = abs(difference) >= min_effect and difference != 0
    winner = None
    if significant and large_enough:
        winner = b_version if (difference > 0) == higher_is_better else a_version
    comparison = ProportionComparison(**common, ci_low=ci_low, ci_high=ci_high, z=z, p_value=p_value, winner=winner,
                                      verdict=WINNER if winner else INCONCLUSIVE, reason="")
    return replace(comparison, reason=_reason(comparison, looks, min_effect))


def _check_arm(name: str, arm: tuple[int, int]) -> None:
    try:
        successes, trials = arm
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (successes, trials) pair, got {arm!r}") from None
    for value in (successes, trials):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name}: successes and trials must be integers, got {arm!r}")
    if successes < 0 or trials < 0:
        raise ValueError(f"{name}: successes and trials must be >= 0, got {arm!r}")
    if successes > trials:
        raise ValueError(f"{name}: {successes} successes out of {trials} trials (successes must be <= trials)")


def _z_test(a_successes: int, a_trials: int, b_successes: int, b_trials: int) -> tuple[float, float]:
    """Pooled two-proportion z and its two-sided p-value; (0, 1) when the pooled variance is zero."""
    pooled = (a_successes + b_successes) / (a_trials + b_trials)
    variance = pooled * (1 - pooled) * (1 / a_trials + 1 / b_trials)
    if variance <= 0:  # both rates 0 or both 1: identical observations, no evidence of a difference
        return 0.0, 1.0
    z = (b_successes / b_trials - a_successes / a_trials) / math.sqrt(variance)
    return z, float(2 * norm.sf(abs(z)))


def _wald_interval(a_rate: float, a_trials: int, b_rate: float, b_trials: int, level_alpha: float) -> tuple[float, float]:
    half_width = float(norm.isf(level_alpha / 2)) * math.sqrt(a_rate * (1 - a_rate) / a_trials + b_rate * (1 - b_rate) / b_trials)
    difference = b_rate - a_rate
    return difference - half_width, difference + half_width


def _cohens_h(a_rate: float, b_rate: float) -> float:
    return 2 * math.asin(math.sqrt(b_rate)) - 2 * math.asin(math.sqrt(a_rate))


def _reason(c: ProportionComparison, looks: int, min_effect: float) -> str:
    if c.a_rate == c.b_rate and c.a_rate in (0.0, 1.0):
        return (f"{c.metric} is {c.a_rate:.3f} for both {c.b_version} (n={c.b_trials}) and {c.a_version} "
                f"(n={c.a_trials}): no variance, so the test cannot tell them apart")
    level = f"{100 * (1 - c.alpha_per_look):.4g}%"
    threshold = f"{c.alpha_per_look:.3g}" + (f" ({c.alpha:g} over {looks} looks)" if looks > 1 else "")
    summary = (f"{c.metric} {c.b_rate:.3f} ({c.b_version}, n={c.b_trials}) vs {c.a_rate:.3f} "
               f"({c.a_version}, n={c.a_trials}): difference {c.difference:+.3f}, "
               f"{level} CI [{c.ci_low:+.3f}, {c.ci_high:+.3f}], p={_p(c.p_value)}")
    if c.p_value >= c.alpha_per_look:
        return f"{summary} >= {threshold}, no significant difference"
    if c.winner is None:
        return f"{summary} < {threshold} but |difference| {abs(c.difference):.3f} is under the minimum effect {min_effect:g}"
    return f"{summary} < {threshold}, {c.winner} wins"


def _p(p_value: float) -> str:
    return f"{p_value:.2g}" if p_value >= 1e-4 else f"{p_value:.1e}"
