"""Drift of a window of live rows against a model version's reference profile.

Per feature (and for the predictions, where the label shift shows) the live window is reduced
to summaries that add up chunk by chunk: numeric columns to their CDF on a grid of the
reference quantiles plus a few running sums, categorical ones to value counts. Memory is
bounded by one chunk, and the result does not depend on how the window was chunked (up to
float rounding).

How it is judged (DriftSettings explains the defaults):

- fewer than `min_samples` live values: "insufficient_data", never "no_drift";
- small windows: a test (KS for numbers, chi-square for categories), Bonferroni-corrected
  over the columns checked together;
- large windows: a distance over a threshold (Wasserstein in reference standard deviations,
  Jensen-Shannon for categories), which the test must confirm;
- a null rate that moved by at least 0.05 (absolute), significantly, is drift too;
- overall: drift when at least `drift_share` of the judged features drifted, or the
  predictions did.

Every effect size is reported next to the threshold, whatever the method.

KS and Wasserstein are approximations, since the reference keeps 1,001 quantiles and not the
training rows (_Numeric says how). Measured against scipy's ks_2samp and wasserstein_distance
on the raw rows (tests/unit/monitoring/test_drift.py): KS within 0.001, slightly conservative; Wasserstein
within 0.01 reference std (about 0.001 with a million rows on each side).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mlops_helpers.errors import MlopsError
from mlops_helpers.monitoring.reference import (
    CATEGORICAL,
    PREDICTION,
    FeatureReference,
    ReferenceProfile,
    ReferenceProfileError,
    category_counts,
    numeric_values,
)

DRIFT = "drift"
NO_DRIFT = "no_drift"
INSUFFICIENT_DATA = "insufficient_data"

NUMERIC_METHODS = ("auto", "psi", "ks", "wasserstein", "jensenshannon")
CATEGORICAL_METHODS = ("auto", "chi2", "psi", "jensenshannon")
TESTS = ("ks", "chi2")  # their threshold is a significance level, compared with the p-value
DEFAULT_THRESHOLDS = {"psi": 0.2, "ks": 0.05, "chi2": 0.05, "wasserstein": 0.1, "jensenshannon": 0.1,
                      "null_rate": 0.05}
EVEN_POINTS = 256  # evenly spaced grid points added to the reference quantiles
BLOCK = 1 << 16  # values sorted at a time, whatever the chunk size: small temporaries that stay in cache
PSI_FLOOR = 1e-4  # shares below this count as this in PSI: an empty bin must not make PSI infinite


class DriftInputError(MlopsError, ValueError):
    """The live data cannot be compared with the reference (a missing feature, a bad column)."""


@dataclass
class DriftSettings:
    """How drift is judged; the defaults aim at < 5% false alarms per feature.

    `numeric_method` / `categorical_method` "auto" is sample-size aware. It looks at the
    effective sample size n·m/(n+m) of the live (n) and reference (m) values:

    - below `large_window` (1000), a test: KS for numbers, chi-square (homogeneity of the
      reference and live counts) for categories, at p < alpha / (columns checked) with
      `bonferroni` (the default; p < alpha without). A small window is noisy, so a distance
      would cross any fixed threshold by chance; the test knows the noise of its sample size,
      and anything it finds in a small window is a big shift. Bonferroni keeps the chance of
      any false per-feature alarm in one check at or under alpha (5%), so a dashboard of 30
      features does not show 1.5 drifted features every time on unchanged data;
    - from `large_window` on, a distance: Wasserstein (normalised by the reference std) for
      numbers, Jensen-Shannon for categories. In large windows p-values flag shifts far too
      small to matter (at a million rows KS detects a 0.005-std shift), while a distance
      threshold measures how much the distribution moved. The test must still agree
      (p < corrected alpha), which guards against the distances' noise floor (it grows with
      the number of categories: about 0.09 JS for 50 categories at n_eff = 1000).

    An explicit method uses its own threshold alone. Thresholds (merged over
    DEFAULT_THRESHOLDS): psi 0.2 (the industry's "significant change"), wasserstein 0.1 std,
    jensenshannon 0.1 (base-2 distance, 0..1), ks / chi2: alpha 0.05; null_rate 0.05: a null
    rate change counts as drift when it is at least this (absolute) and significant (the
    chi-square test of the 2x2 null/non-null table at the corrected chi2 alpha), so neither
    a trivial change in a huge window nor noise in a small one raises it.

    Overall: drift when at least `drift_share` of the features that could be judged drifted,
    or, with `prediction_alarm`, when the predictions drifted (the model's behaviour changed).
    """

    min_samples: int = 200
    numeric_method: str = "auto"
    categorical_method: str = "auto"
    thresholds: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    drift_share: float = 0.5
    large_window: int = 1000
    bonferroni: bool = True
    prediction_alarm: bool = True

    def __post_init__(self) -> None:
        unknown = set(self.thresholds) - set(DEFAULT_THRESHOLDS)
        if unknown:
            raise MlopsError(f"unknown drift threshold(s) {sorted(unknown)}; known: {sorted(DEFAULT_THRESHOLDS)}")
        self.thresholds = {**DEFAULT_THRESHOLDS, **{k: float(v) for k, v in self.thresholds.items()}}
        if self.numeric_method not in NUMERIC_METHODS:
            raise MlopsError(f"numeric_method must be one of {', '.join(NUMERIC_METHODS)}, not {self.numeric_method!r}")
        if self.categorical_method not in CATEGORICAL_METHODS:
            raise MlopsError(f"categorical_method must be one of {', '.join(CATEGORICAL_METHODS)}, "
                             f"not {self.categorical_method!r}")
        if not 0 < self.drift_share <= 1:
            raise MlopsError(f"drift_share must be in (0, 1], not {self.drift_share}")
        if self.min_samples < 1 or self.large_window < 1:
            raise MlopsError("min_samples and large_window must be at least 1")
        for test in TESTS:
            if not 0 < self.thresholds[test] < 1:
                raise MlopsError(f"the {test} threshold is a significance level in (0, 1), not {self.thresholds[test]}")


@dataclass
class FeatureDrift:
    """One column's verdict. For the tests (ks, chi2) `threshold` is the corrected significance
    level that `p_value` is compared with; for distances it is the distance's threshold.
    `p_value` is the KS / chi-square test's whatever the method."""

    feature: str
    kind: str
    method: str
    statistic: float | None
    threshold: float | None
    p_value: float | None
    verdict: str  # "drift" | "no_drift" | "insufficient_data"
    samples: int  # live non-null values
    effects: dict[str, float]
    null_rate: tuple[float, float]  # (reference, live)
    bins: dict[str, Any]
    reason: str


@dataclass
class DriftReport:
    verdict: str  # "drift" | "no_drift" | "insufficient_data"
    drifted_share: float  # of the features that could be judged
    drift_share_threshold: float
    features: list[FeatureDrift]
    prediction: FeatureDrift | None
    rows: int
    settings: DriftSettings

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: NaN and infinities become None, tuples lists."""
        return _json_safe(asdict(self))


def detect_drift(reference: ReferenceProfile, live: pd.DataFrame | Iterable[pd.DataFrame],
                 settings: DriftSettings | None = None) -> DriftReport:
    """Compare `live` (a DataFrame, or an iterable of DataFrame chunks read one at a time) with
    `reference`. A PREDICTION column, if present, is compared with the reference predictions.
    Extra live columns are ignored; a feature of the reference missing from live is an error."""
    settings = settings or DriftSettings()
    chunks = [live] if isinstance(live, pd.DataFrame) else live
    accumulators = {name: _accumulator(ref) for name, ref in reference.features.items()}
    prediction: _Accumulator | None = None
    rows = 0
    for index, chunk in enumerate(chunks):
        if not isinstance(chunk, pd.DataFrame):
            raise DriftInputError(f"live chunk {index} is a {type(chunk).__name__}, not a pandas DataFrame")
        missing = [name for name in accumulators if name not in chunk.columns]
        if missing:
            raise DriftInputError(f"live data (chunk {index}) lacks the feature(s) {', '.join(map(repr, missing))} "
                                  "of the reference profile")
        if index == 0 and reference.prediction is not None and PREDICTION in chunk.columns:
            prediction = _accumulator(reference.prediction)
        if prediction is not None and PREDICTION not in chunk.columns:
            raise DriftInputError(f"live chunk {index} has no {PREDICTION} column, unlike the first chunk")
        for name, accumulator in accumulators.items():
            accumulator.add(chunk[name])
        if prediction is not None:
            prediction.add(chunk[PREDICTION])
        rows += len(chunk)
    checked = len(accumulators) + (prediction is not None)
    features = [accumulator.judge(reference.rows, settings, checked) for accumulator in accumulators.values()]
    predicted = prediction.judge(reference.rows, settings, checked) if prediction is not None else None
    judged = [feature for feature in features if feature.verdict != INSUFFICIENT_DATA]
    share = sum(feature.verdict == DRIFT for feature in judged) / len(judged) if judged else 0.0
    prediction_drift = settings.prediction_alarm and predicted is not None and predicted.verdict == DRIFT
    if share >= settings.drift_share or prediction_drift:
        verdict = DRIFT
    elif judged:
        verdict = NO_DRIFT
    else:
        verdict = INSUFFICIENT_DATA
    return DriftReport(verdict, share, settings.drift_share, features, predicted, rows, settings)


# --- accumulation -------------------------------------------------------------------------


class _Accumulator:
    """One column's live summary, added to chunk by chunk."""

    def __init__(self, reference: FeatureReference) -> None:
        self.reference = reference
        self.rows = 0
        self.values = 0

    def add(self, series: pd.Series) -> None:
        raise NotImplementedError

    def measure(self) -> tuple[dict[str, float], dict[str, Any], float, float]:
        """(effects, bins, KS or chi-square statistic, its p-value) of the accumulated window."""
        raise NotImplementedError

    def judge(self, reference_rows: int, settings: DriftSettings, checked: int) -> FeatureDrift:
        """The verdict; `checked` columns share the significance level (Bonferroni)."""
        ref = self.reference
        numeric = ref.kind != CATEGORICAL
        method = settings.numeric_method if numeric else settings.categorical_method
        correction = checked if settings.bonferroni else 1
        live_null = (self.rows - self.values) / self.rows if self.rows else 0.0
        effects: dict[str, float] = {"null_rate_delta": live_null - ref.null_rate}
        null_note = self._null_rate_change(reference_rows, settings, correction, effects)
        if self.values < settings.min_samples or ref.count == 0:
            why = (f"{self.values} live values < min_samples {settings.min_samples}" if ref.count
                   else "the reference has no values")
            verdict, reason = ((DRIFT, f"drift: {null_note}; distribution not judged: {why}") if null_note
                               else (INSUFFICIENT_DATA, f"insufficient data: {why}"))
            return FeatureDrift(ref.name, ref.kind, method, None, None, None, verdict, self.values, effects,
                                (ref.null_rate, live_null), self.empty_bins(), reason)
        measured, bins, test_statistic, p_value = self.measure()
        effects.update(measured)
        test = "ks" if numeric else "chi2"
        confirm = False
        if method == "auto":
            effective = self.values * ref.count / (self.values + ref.count)
            method = test if effective < settings.large_window else ("wasserstein" if numeric else "jensenshannon")
            confirm = method != test
        if method in TESTS:
            statistic, threshold = test_statistic, settings.thresholds[method] / correction
            shifted = p_value < threshold
            note = f"{_label(method)} p={p_value:.2g} {'<' if shifted else '>='} {threshold:.2g}"
            if correction > 1:
                note += f" ({settings.thresholds[method]} / {correction} columns)"
            note += f"; {_label(test)} statistic {test_statistic:.3g}"
        else:
            statistic, threshold = effects[method], settings.thresholds[method]
            shifted = statistic >= threshold
            note = f"{_label(method)} {statistic:.3g} {'>=' if shifted else '<'} {threshold:g}"
            if confirm:  # auto: the test must agree, against the distance's own noise
                significant = p_value < settings.thresholds[test] / correction
                shifted = shifted and significant
                note += f", {_label(test)} p={p_value:.2g} ({'' if significant else 'not '}significant)"
        others = ", ".join(f"{key} {value:.3g}" for key, value in measured.items() if key != method)
        if shifted or null_note:
            verdict, findings = DRIFT, ([note] if shifted else []) + ([null_note] if null_note else [])
            reason = f"drift: {'; '.join(findings)} ({others})"
        else:
            verdict, reason = NO_DRIFT, f"no drift: {note} ({others})"
        return FeatureDrift(ref.name, ref.kind, method, float(statistic), float(threshold), float(p_value), verdict,
                            self.values, effects, (ref.null_rate, live_null), bins, reason)

    def _null_rate_change(self, reference_rows: int, settings: DriftSettings, correction: int,
                          effects: dict[str, float]) -> str:
        """A sentence if the null rate drifted (a change of at least the null_rate threshold that
        the 2 x 2 chi-square test finds significant), else ""; adds the test's p-value to effects."""
        if self.rows < settings.min_samples:
            return ""
        ref = self.reference
        p_value = _null_rate_p(reference_rows, reference_rows - ref.count, self.rows, self.rows - self.values)
        effects["null_rate_p_value"] = p_value
        change, threshold = effects["null_rate_delta"], settings.thresholds["null_rate"]
        if abs(change) < threshold or p_value >= settings.thresholds["chi2"] / correction:
            return ""
        return (f"null rate {ref.null_rate:.1%} -> {ref.null_rate + change:.1%} "
                f"(|delta| {abs(change):.3f} >= {threshold:g}, p={p_value:.2g})")

    def empty_bins(self) -> dict[str, Any]:
        raise NotImplementedError


class _Numeric(_Accumulator):
    """The live CDF on a grid (the reference quantiles plus evenly spaced points), just below
    each grid point too, the live mass between grid points, the tails beyond the reference
    range, and the running mean and variance.

    The reference CDF is known at its quantiles (to 0.001, one level); between two of them it is
    taken to be spread like the live values that fell there (_reference_cdf), or linearly where
    none did. The live side is exact: each block of live values is
    sorted (≈ 11 ms a million values with numpy's SIMD sort), the ~1,250 grid points are looked
    up in it, and a cumulative sum gives the sum of the values inside each cell. That is seven
    times faster than looking up every value among the grid points (np.searchsorted of a
    million values into 1,001 points: ≈ 77 ms). So KS compares the CDFs at and just below
    each grid point, and Wasserstein integrates the gap cell by cell, exactly beyond the
    reference range; where the CDFs cross inside a cell, the gap is taken to switch from its
    start to its end value at the one point that keeps its integral (exact when the live
    values inside the cell are one value, as for discrete features; an upper bound otherwise).
    """

    def __init__(self, reference: FeatureReference) -> None:
        super().__init__(reference)
        if not reference.count:
            return
        quantiles = np.asarray(reference.quantiles)
        step = 1.0 / (len(quantiles) - 1)
        last = np.flatnonzero(np.append(quantiles[1:] != quantiles[:-1], True))  # last index of each value
        points, cdf = quantiles[last], last * step  # F(v) >= the level of v's last quantile, < the next one
        # Evenly spaced points between them too: a discrete feature's quantiles are few and far
        # apart, and live values that fall between them (a shift) must not blur the distance.
        even = np.linspace(points[0], points[-1], EVEN_POINTS)
        even = even[~np.isin(even, points)]
        cell = np.searchsorted(points, even) - 1
        fraction = (even - points[cell]) / (points[cell + 1] - points[cell])
        even_cdf = np.minimum(cdf[cell] + step * fraction, cdf[cell + 1])
        order = np.argsort(np.concatenate((points, even)), kind="stable")
        self.grid = np.concatenate((points, even))[order]
        self.quantile_points = np.flatnonzero(order < len(points))  # their positions in the grid
        self.cell = np.searchsorted(points, self.grid, side="right") - 1  # each grid point's quantile cell
        # The reference CDF at each grid point and just below it, rising linearly inside a cell;
        # measure() reshapes the inside of the cells that live values fall into.
        self.reference_at = np.concatenate((cdf, even_cdf))[order]
        before = np.concatenate(([0.0], np.minimum(cdf[:-1] + step, cdf[1:])))
        self.reference_before = np.concatenate((before, even_cdf))[order]
        self.center = reference.mean  # live values are centred on it: sums without cancellation
        self.centered_grid = self.grid - self.center
        self.centered_interior = np.asarray(reference.edges[1:-1]) - self.center
        self.at_or_below_grid = np.zeros(len(self.grid), dtype=np.int64)  # live values <= g_j
        self.below_grid = np.zeros(len(self.grid), dtype=np.int64)  # live values < g_j
        self.at_or_below_edges = np.zeros(len(self.centered_interior), dtype=np.int64)
        self.inside = np.zeros(len(self.grid) - 1)  # sum of (g_{j+1} - v) over live v in (g_j, g_{j+1})
        self.below_sum = 0.0  # sum of (minimum - v) over live values below the reference minimum
        self.above_sum = 0.0  # sum of (v - maximum) above the maximum
        self.sum = 0.0
        self.squares = 0.0

    def add(self, series: pd.Series) -> None:
        try:
            raw = numeric_values(series, series.name)
        except ReferenceProfileError as exc:
            raise DriftInputError(f"live data: {exc}") from None
        self.rows += len(raw)
        for start in range(0, len(raw), BLOCK):
            self._add_block(raw[start:start + BLOCK])

    def _add_block(self, raw: np.ndarray) -> None:
        finite = np.isfinite(raw)
        present = int(np.count_nonzero(finite))
        self.values += present
        if not present or not self.reference.count:
            return
        values = np.sort(raw) if present == len(raw) else np.sort(raw[finite])
        values -= self.center
        grid = self.centered_grid
        right = np.searchsorted(values, grid, side="right")
        left = np.searchsorted(values, grid, side="left")
        self.at_or_below_grid += right
        self.below_grid += left
        self.at_or_below_edges += np.searchsorted(values, self.centered_interior, side="right")
        cumulative = np.empty(len(values) + 1)
        cumulative[0] = 0.0
        np.cumsum(values, out=cumulative[1:])
        self.inside += (left[1:] - right[:-1]) * grid[1:] - (cumulative[left[1:]] - cumulative[right[:-1]])
        low, high = left[0], right[-1]
        self.below_sum += float(low * grid[0] - cumulative[low])
        self.above_sum += float(cumulative[-1] - cumulative[high] - (len(values) - high) * grid[-1])
        self.sum += float(cumulative[-1])
        # In place, and not np.dot: OpenBLAS threads make a dot of 50k values 10x slower on a busy machine.
        self.squares += float(np.multiply(values, values, out=values).sum())

    def measure(self) -> tuple[dict[str, float], dict[str, Any], float, float]:
        ref, n = self.reference, self.values
        live_at, live_below = self.at_or_below_grid / n, self.below_grid / n
        at, before, ratio = self._reference_cdf(live_at, live_below)
        ks = float(max(np.abs(at - live_at).max(), np.abs(before - live_below).max()))
        start_gap = at[:-1] - live_at[:-1]  # the gap at the start of each cell, and at its end
        end_gap = before[1:] - live_below[1:]
        width = np.diff(self.grid)
        # The gap's integral over a cell: F_ref - F_live is affine in F_live where the shape is borrowed.
        borrowed = np.isfinite(ratio)
        net = np.where(borrowed, width * start_gap + (np.where(borrowed, ratio, 1.0) - 1) * self.inside / n,
                       width * (start_gap + end_gap) / 2)
        crossing = start_gap * end_gap < 0
        spread = np.where(crossing, start_gap - end_gap, 1.0)
        mean_gap = np.divide(net, width, out=np.zeros_like(net), where=width > 0)
        share = np.clip((mean_gap - end_gap) / spread, 0.0, 1.0)  # of the cell before the switch
        switched = width * (np.abs(start_gap) * share + np.abs(end_gap) * (1 - share))
        cells = np.where(crossing, switched, np.abs(net))
        area = float(cells.sum()) + (self.below_sum + self.above_sum) / n
        scale = ref.std if ref.std else 1.0  # a constant reference: absolute distance
        reference_shares = np.asarray(ref.counts) / ref.count
        live_shares = np.diff(np.concatenate(([0], self.at_or_below_edges, [n]))) / n
        mean = self.sum / n
        live_std = math.sqrt(max(self.squares / n - mean * mean, 0.0))
        effective = round(n * ref.count / (n + ref.count))
        effects = {"psi": _psi(reference_shares, live_shares), "ks": ks, "wasserstein": area / scale,
                   "jensenshannon": _jensen_shannon(reference_shares, live_shares),
                   "mean_shift": mean / scale, "std_ratio": live_std / ref.std if ref.std else math.nan}
        bins = {"edges": list(ref.edges), "reference": reference_shares.tolist(), "live": live_shares.tolist()}
        return effects, bins, ks, float(stats.kstwo.sf(ks, max(effective, 1)))

    def _reference_cdf(self, live_at: np.ndarray, live_below: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The reference CDF at and just below each grid point, and for each grid cell the ratio
        of the reference's rise to the live one's inside its quantile cell (NaN: no live values).

        Inside a quantile cell (one level, 0.001, of the reference) the reference is taken to be
        spread like the live values that fell into it: its shape there is unknown, and a linear
        guess overstates the distance in long tails (a Pareto tail's top cell spans 100 std).
        Where no live values fell, it rises linearly."""
        at, before = self.reference_at.copy(), self.reference_before.copy()
        starts = self.quantile_points
        ratio = np.full(len(self.grid) - 1, np.nan)
        if len(starts) < 2:
            return at, before, ratio
        live_rise = live_below[starts[1:]] - live_at[starts[:-1]]
        reference_rise = before[starts[1:]] - at[starts[:-1]]
        per_cell = np.divide(reference_rise, live_rise, out=np.full(len(live_rise), np.nan), where=live_rise > 0)
        cell = self.cell
        even = np.ones(len(self.grid), dtype=bool)
        even[starts] = False
        reshaped = even & np.isfinite(per_cell[np.minimum(cell, len(per_cell) - 1)])
        origin = starts[cell[reshaped]]
        at[reshaped] = at[origin] + per_cell[cell[reshaped]] * (live_at[reshaped] - live_at[origin])
        before[reshaped] = at[origin] + per_cell[cell[reshaped]] * (live_below[reshaped] - live_at[origin])
        ratio[:] = per_cell[cell[:-1]]
        return at, before, ratio

    def empty_bins(self) -> dict[str, Any]:
        ref = self.reference
        if not ref.count:
            return {"edges": [], "reference": [], "live": []}
        return {"edges": list(ref.edges), "reference": (np.asarray(ref.counts) / ref.count).tolist(),
                "live": [0.0] * len(ref.counts)}


class _Categorical(_Accumulator):
    """Live value counts; values are compared as strings (reference.category_key)."""

    def __init__(self, reference: FeatureReference) -> None:
        super().__init__(reference)
        self.counts: dict[str, int] = {}

    def add(self, series: pd.Series) -> None:
        counts, nulls = category_counts(series)
        self.rows += len(series)
        self.values += len(series) - nulls
        for key, count in counts.items():
            self.counts[key] = self.counts.get(key, 0) + count

    def _table(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Categories (reference ones by count, then new ones by live count) and both counts."""
        known = self.reference.categories or {}
        new = sorted((key for key in self.counts if key not in known), key=lambda key: -self.counts[key])
        names = sorted(known, key=lambda key: -known[key]) + new
        reference = np.array([known.get(name, 0) for name in names], dtype=np.float64)
        live = np.array([self.counts.get(name, 0) for name in names], dtype=np.float64)
        return names, reference, live

    def measure(self) -> tuple[dict[str, float], dict[str, Any], float, float]:
        names, reference, live = self._table()
        reference_shares, live_shares = reference / reference.sum(), live / live.sum()
        chi2, p_value = _chi_square(reference, live)
        effects = {"psi": _psi(reference_shares, live_shares),
                   "jensenshannon": _jensen_shannon(reference_shares, live_shares),
                   "chi2": chi2, "new_category_share": float(live_shares[reference == 0].sum())}
        bins = {"categories": names, "reference": reference_shares.tolist(), "live": live_shares.tolist()}
        return effects, bins, chi2, p_value

    def empty_bins(self) -> dict[str, Any]:
        names, reference, live = self._table()
        total = reference.sum()
        return {"categories": names, "reference": (reference / total if total else reference).tolist(),
                "live": (live / live.sum() if live.sum() else live).tolist()}


def _accumulator(reference: FeatureReference) -> _Accumulator:
    return _Categorical(reference) if reference.kind == CATEGORICAL else _Numeric(reference)


# --- statistics -----------------------------------------------------------------------------


def _psi(reference: np.ndarray, live: np.ndarray) -> float:
    """Population stability index, with shares floored at PSI_FLOOR."""
    r, q = np.maximum(reference, PSI_FLOOR), np.maximum(live, PSI_FLOOR)
    return float(np.sum((q - r) * np.log(q / r)))


def _jensen_shannon(reference: np.ndarray, live: np.ndarray) -> float:
    """Jensen-Shannon distance (square root of the divergence), base 2: 0 same, 1 disjoint."""
    middle = (reference + live) / 2
    divergence = 0.0
    for shares in (reference, live):
        mask = shares > 0
        divergence += 0.5 * float(np.sum(shares[mask] * np.log2(shares[mask] / middle[mask])))
    return math.sqrt(max(divergence, 0.0))


def _chi_square(reference: np.ndarray, live: np.ndarray) -> tuple[float, float]:
    """Chi-square test of homogeneity of the 2 x k table (reference, live) x categories; both
    samples are random, so the reference counts are not taken as the true shares."""
    observed = np.vstack([reference, live])
    observed = observed[:, observed.sum(axis=0) > 0]
    if observed.shape[1] < 2:
        return 0.0, 1.0
    expected = observed.sum(axis=1, keepdims=True) * observed.sum(axis=0) / observed.sum()
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    return statistic, float(stats.chi2.sf(statistic, observed.shape[1] - 1))


def _null_rate_p(reference_rows: int, reference_nulls: int, live_rows: int, live_nulls: int) -> float:
    """p-value of the 2 x 2 chi-square test: is the null share different?"""
    return _chi_square(np.array([reference_nulls, reference_rows - reference_nulls], dtype=np.float64),
                       np.array([live_nulls, live_rows - live_nulls], dtype=np.float64))[1]


def _label(method: str) -> str:
    return {"ks": "KS", "chi2": "chi-square", "psi": "PSI", "wasserstein": "Wasserstein/std",
            "jensenshannon": "Jensen-Shannon"}[method]


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
