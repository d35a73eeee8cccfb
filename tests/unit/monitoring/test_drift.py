"""Drift detection on real data (scikit-learn's bundled data sets) with injected shifts.

Two kinds of window: "small" ones (a random half of a data set against the other half, or a
few hundred rows drawn with replacement) are judged by the KS / chi-square tests, "large" ones
(thousands of rows drawn with replacement from the data set, a sample of its empirical
distribution) by the Wasserstein / Jensen-Shannon distances. Each injected shift must be
found; unshifted windows must not be flagged, and over 200 seeds the per-feature false-alarm
rate must stay under 5%. The KS and Wasserstein approximations are checked against scipy on
the raw rows.
"""

from __future__ import annotations

import json
import math
from functools import cache

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlops_helpers.errors import MlopsError
from mlops_helpers.monitoring.drift import DriftInputError, DriftSettings, detect_drift
from mlops_helpers.monitoring.reference import PREDICTION, ReferenceProfile

SEEDS = 200
TARGET_FALSE_ALARMS = 0.05
LOADERS = {"breast_cancer": load_breast_cancer, "wine": load_wine, "iris": load_iris, "diabetes": load_diabetes}


@cache
def dataset(name: str) -> pd.DataFrame:
    """Features of a bundled data set; iris also gets its species as a string (categorical) feature."""
    data = LOADERS[name](as_frame=True)
    frame = data.data.copy()
    if name == "iris":
        frame["species"] = np.asarray(data.target_names)[data.target]
    return frame


def halves(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A random half as the reference, the other half as the live window."""
    order = np.random.default_rng(seed).permutation(len(frame))
    middle = len(frame) // 2
    return frame.iloc[order[:middle]], frame.iloc[order[middle:]].copy()


def draws(frame: pd.DataFrame, reference_rows: int, live_rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Independent draws with replacement: both are samples of the same (empirical) distribution."""
    rng = np.random.default_rng(seed)
    reference = frame.iloc[rng.integers(0, len(frame), reference_rows)].reset_index(drop=True)
    live = frame.iloc[rng.integers(0, len(frame), live_rows)].reset_index(drop=True)
    return reference, live


WINDOWS = {"small": lambda frame, seed: halves(frame, seed) if len(frame) >= 400 else draws(frame, 2000, 300, seed),
           "large": lambda frame, seed: draws(frame, 20_000, 5_000, seed)}


def verdicts(report) -> dict[str, str]:
    return {feature.feature: feature.verdict for feature in report.features}


# --- unshifted data is not flagged ------------------------------------------------------------


@pytest.mark.parametrize("window", ["small", "large"])
@pytest.mark.parametrize("name", list(LOADERS))
def test_an_unshifted_sample_of_the_same_data_is_not_flagged(name: str, window: str) -> None:
    reference, live = WINDOWS[window](dataset(name), 0)
    report = detect_drift(ReferenceProfile.build(reference), live)
    assert report.verdict == "no_drift" and report.drifted_share == 0.0
    flagged = [f.reason for f in report.features if f.verdict != "no_drift"]
    assert not flagged, flagged
    expected = {"small": {"ks", "chi2"}, "large": {"wasserstein", "jensenshannon"}}[window]
    assert {feature.method for feature in report.features} <= expected


# The sample-size regimes: both tests (halves of the larger sets, a few hundred draws from the
# small ones), the distances just past the switch (n_eff = 5000 * 1250 / 6250 = 1000, where
# their noise is largest) and well past it, on numeric and categorical features.
FALSE_ALARM_SCENARIOS = {
    "breast_cancer halves (KS, 285 vs 284 rows)": ("breast_cancer", lambda frame, seed: halves(frame, seed)),
    "diabetes halves (KS, 221 vs 221 rows)": ("diabetes", lambda frame, seed: halves(frame, seed)),
    "wine draws (KS, 300 vs 2000 rows)": ("wine", lambda frame, seed: draws(frame, 2000, 300, seed)),
    "iris+species draws (KS/chi2, 300 vs 2000 rows)": ("iris", lambda frame, seed: draws(frame, 2000, 300, seed)),
    "breast_cancer draws at the switch (Wasserstein, n_eff 1000)":
        ("breast_cancer", lambda frame, seed: draws(frame, 5000, 1250, seed)),
    "iris+species draws (Wasserstein/JS, 5000 vs 20000 rows)":
        ("iris", lambda frame, seed: draws(frame, 20_000, 5000, seed)),
}


@pytest.mark.parametrize("scenario", list(FALSE_ALARM_SCENARIOS))
def test_false_alarm_rate_per_feature_stays_under_5_percent_over_200_seeds(scenario: str) -> None:
    name, window = FALSE_ALARM_SCENARIOS[scenario]
    frame = dataset(name)
    flagged = np.zeros(frame.shape[1])
    overall = 0
    for seed in range(SEEDS):
        reference, live = window(frame, seed)
        report = detect_drift(ReferenceProfile.build(reference), live)
        flagged += [feature.verdict == "drift" for feature in report.features]
        overall += report.verdict == "drift"
    rates = flagged / SEEDS
    print(f"\nfalse alarms, {scenario}: worst feature {rates.max():.1%}, mean {rates.mean():.2%}, "
          f"overall verdict {overall / SEEDS:.1%} ({SEEDS} seeds)")
    assert rates.max() < TARGET_FALSE_ALARMS, dict(zip(frame.columns, rates))
    assert overall / SEEDS < TARGET_FALSE_ALARMS


# --- injected shifts are found ------------------------------------------------------------------


def around_mean(series: pd.Series, center: float, factor: float) -> pd.Series:
    return center + (series - center) * factor


@pytest.mark.parametrize("window, shift, factor", [("small", 0.5, 1.0), ("large", 0.2, 1.0),
                                                    ("small", 0.0, 2.0), ("large", 0.0, 1.3)])
def test_mean_shift_and_variance_change_of_one_feature_are_found(window: str, shift: float, factor: float) -> None:
    reference, live = WINDOWS[window](dataset("breast_cancer"), 0)
    feature = "mean radius"
    center, spread = reference[feature].mean(), reference[feature].std(ddof=0)
    live[feature] = around_mean(live[feature], center, factor) + shift * spread
    report = detect_drift(ReferenceProfile.build(reference), live)
    shifted = report.features[0]
    assert shifted.feature == feature and shifted.verdict == "drift", shifted.reason
    others = {name: verdict for name, verdict in verdicts(report).items() if name != feature}
    assert set(others.values()) == {"no_drift"}
    assert report.drifted_share == pytest.approx(1 / 30) and report.verdict == "no_drift"  # 1 of 30 < drift_share
    # The effect sizes say what happened.
    assert shifted.effects["mean_shift"] == pytest.approx(shift, abs=0.15)
    assert shifted.effects["std_ratio"] == pytest.approx(factor, rel=0.15)
    if window == "large":
        assert shifted.method == "wasserstein" and shifted.statistic >= shifted.threshold == 0.1
    else:
        assert shifted.method == "ks" and shifted.p_value < shifted.threshold == pytest.approx(0.05 / 30)


@pytest.mark.parametrize("window", ["small", "large"])
def test_a_new_category_is_found(window: str) -> None:
    reference, live = WINDOWS[window](dataset("iris"), 0)
    hybrids = live.index[: len(live) // 4]
    live.loc[hybrids, "species"] = "hybrid"
    report = detect_drift(ReferenceProfile.build(reference), live)
    species = next(feature for feature in report.features if feature.feature == "species")
    assert species.verdict == "drift", species.reason
    assert species.method == {"small": "chi2", "large": "jensenshannon"}[window]
    assert species.effects["new_category_share"] == pytest.approx(0.25, abs=0.005)
    assert species.bins["categories"][-1] == "hybrid" and species.bins["reference"][-1] == 0.0
    assert species.bins["live"][-1] == pytest.approx(0.25, abs=0.005)
    assert sum(species.bins["live"]) == pytest.approx(1.0)


@pytest.mark.parametrize("window", ["small", "large"])
def test_nulls_appearing_in_a_numeric_and_a_categorical_feature_are_found(window: str) -> None:
    reference, live = WINDOWS[window](dataset("iris"), 1)
    rows = np.random.default_rng(1).random(len(live)) < 0.2
    live.loc[rows, "petal width (cm)"] = np.nan
    live.loc[rows, "species"] = None
    report = detect_drift(ReferenceProfile.build(reference), live)
    for name in ("petal width (cm)", "species"):
        feature = next(f for f in report.features if f.feature == name)
        assert feature.verdict == "drift" and "null rate 0.0% -> " in feature.reason, feature.reason
        assert feature.null_rate[0] == 0.0 and feature.null_rate[1] == pytest.approx(0.2, abs=0.05)
        assert feature.effects["null_rate_delta"] == pytest.approx(feature.null_rate[1])
        assert feature.samples == int((~rows).sum())
    assert {f.verdict for f in report.features if f.feature not in ("petal width (cm)", "species")} == {"no_drift"}


def test_a_small_null_rate_change_in_a_large_window_is_not_drift() -> None:
    """Significant (p ~ 1e-5 at 5,000 rows) but only 2 points: under the 0.05 that counts."""
    reference, live = WINDOWS["large"](dataset("wine"), 2)
    live.loc[live.index[:100], "alcohol"] = np.nan
    alcohol = detect_drift(ReferenceProfile.build(reference), live).features[0]
    assert alcohol.verdict == "no_drift" and alcohol.effects["null_rate_delta"] == pytest.approx(0.02)
    assert alcohol.effects["null_rate_p_value"] < 1e-4


@cache
def breast_cancer_model():
    """A classifier fitted on half of breast_cancer; the other half is the reference (hold-out)."""
    data = load_breast_cancer(as_frame=True)
    order = np.random.default_rng(7).permutation(len(data.target))
    train, holdout = order[: len(order) // 2], order[len(order) // 2:]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(data.data.iloc[train], data.target.iloc[train])
    return model, data.data.iloc[holdout], data.target.iloc[holdout]


def label_shifted(features: pd.DataFrame, labels: pd.Series, malignant: float, rows: int, seed: int) -> pd.DataFrame:
    """Rows drawn so that a share `malignant` has the label 0 (the data set has 37%)."""
    rng = np.random.default_rng(seed)
    zero, one = np.flatnonzero(labels.to_numpy() == 0), np.flatnonzero(labels.to_numpy() == 1)
    picked = np.where(rng.random(rows) < malignant, rng.choice(zero, rows), rng.choice(one, rows))
    return features.iloc[picked].reset_index(drop=True)


@pytest.mark.parametrize("reference_rows, rows, method", [(None, 300, "chi2"), (20_000, 5000, "jensenshannon")])
def test_label_shift_shows_as_prediction_drift(reference_rows: int | None, rows: int, method: str) -> None:
    model, holdout, labels = breast_cancer_model()
    if reference_rows:  # the hold-out drawn with replacement, for a large window's n_eff
        holdout, _ = draws(holdout.assign(label=labels.to_numpy()), reference_rows, 0, 13)
        holdout, labels = holdout.drop(columns="label"), holdout["label"]
    reference = ReferenceProfile.build(holdout, predictions=model.predict(holdout))
    assert reference.prediction.kind == "categorical"
    shifted = label_shifted(holdout, labels, 0.8, rows, seed=3)
    report = detect_drift(reference, shifted.assign(**{PREDICTION: model.predict(shifted)}))
    assert report.prediction.verdict == "drift" and report.prediction.method == method, report.prediction.reason
    bins = report.prediction.bins
    assert bins["live"][bins["categories"].index("0")] == pytest.approx(0.8, abs=0.07)
    assert report.verdict == "drift"  # a prediction drift raises the alarm on its own (prediction_alarm)
    unshifted = label_shifted(holdout, labels, float((labels == 0).mean()), rows, seed=3)
    calm = detect_drift(reference, unshifted.assign(**{PREDICTION: model.predict(unshifted)}))
    assert calm.prediction.verdict == "no_drift" and calm.verdict == "no_drift", calm.prediction.reason


def test_regression_prediction_shift_is_found() -> None:
    data = load_diabetes(as_frame=True)
    model = Ridge(alpha=0.1).fit(data.data, data.target)
    reference, live = halves(data.frame, 4)
    features = reference.drop(columns="target")
    profile = ReferenceProfile.build(features, predictions=model.predict(features))
    assert profile.prediction.kind == "numeric"
    sick = live[live["target"] > live["target"].median()]
    window = sick.sample(250, replace=True, random_state=4).drop(columns="target")
    report = detect_drift(profile, window.assign(**{PREDICTION: model.predict(window)}))
    assert report.prediction.verdict == "drift" and report.prediction.method == "ks", report.prediction.reason
    assert report.prediction.effects["mean_shift"] > 0.5


def test_the_overall_alarm_needs_the_configured_share_of_drifted_features() -> None:
    reference, live = halves(dataset("diabetes"), 0)
    for name in ("age", "bmi", "bp"):
        live[name] += reference[name].std()
    profile = ReferenceProfile.build(reference)
    default = detect_drift(profile, live)
    assert default.drifted_share == pytest.approx(0.3) and default.verdict == "no_drift"
    assert default.drift_share_threshold == 0.5
    assert detect_drift(profile, live, DriftSettings(drift_share=0.3)).verdict == "drift"


# --- sample-size awareness ----------------------------------------------------------------------


def test_too_small_a_window_is_insufficient_data_not_no_drift() -> None:
    reference, live = halves(dataset("breast_cancer"), 6)
    profile = ReferenceProfile.build(reference)
    small = live.iloc[:150].copy()
    small["mean radius"] += 3 * reference["mean radius"].std()  # even an obvious shift is not judged
    report = detect_drift(profile, small)
    assert report.verdict == "insufficient_data" and report.rows == 150
    assert {f.verdict for f in report.features} == {"insufficient_data"}
    assert report.features[0].reason == "insufficient data: 150 live values < min_samples 200"
    assert report.features[0].statistic is None and report.features[0].p_value is None
    # The guard counts the whole window, across chunks.
    chunks = [live.iloc[:100], live.iloc[100:150]]
    assert detect_drift(profile, chunks).verdict == "insufficient_data"
    assert detect_drift(profile, [live.iloc[:100], live.iloc[100:250]]).verdict == "no_drift"
    assert detect_drift(profile, small, DriftSettings(min_samples=100)).verdict == "no_drift"  # 1 of 30 drifted
    assert detect_drift(profile, []).verdict == "insufficient_data"


def test_a_mostly_null_feature_is_judged_by_its_null_rate() -> None:
    frame = dataset("breast_cancer").copy()
    sparse = np.random.default_rng(0).random(len(frame)) < 0.8  # 80% null in reference and live alike
    frame.loc[sparse, "worst area"] = np.nan
    reference, live = halves(frame, 7)
    live["mean area"] = np.nan  # all null in live: drift, though no value is left to compare
    report = detect_drift(ReferenceProfile.build(reference), live)
    found = {f.feature: f for f in report.features}
    assert found["worst area"].verdict == "insufficient_data" and found["worst area"].samples < 200
    assert found["mean area"].verdict == "drift" and found["mean area"].samples == 0
    assert found["mean area"].reason.startswith("drift: null rate 0.0% -> 100.0%")
    assert report.drifted_share == pytest.approx(1 / 29)  # of the 29 features that could be judged


def test_large_windows_ignore_trivial_shifts_that_p_values_flag() -> None:
    """200,000 rows: a 0.03-std shift is 'significant' (KS p ~ 1e-30) but not worth an alarm."""
    reference, live = draws(dataset("breast_cancer")[["mean radius", "mean texture"]], 200_000, 200_000, 8)
    live["mean radius"] += 0.03 * reference["mean radius"].std()
    profile = ReferenceProfile.build(reference)
    radius = detect_drift(profile, live).features[0]
    assert radius.method == "wasserstein" and radius.verdict == "no_drift", radius.reason
    assert radius.statistic == pytest.approx(0.03, abs=0.01) and radius.p_value < 1e-10
    assert detect_drift(profile, live, DriftSettings(numeric_method="ks")).features[0].verdict == "drift"


def test_thresholds_are_bonferroni_corrected_over_the_columns_checked() -> None:
    model, holdout, _ = breast_cancer_model()
    profile = ReferenceProfile.build(holdout, predictions=model.predict(holdout))
    live = holdout.assign(**{PREDICTION: model.predict(holdout)})
    corrected = detect_drift(profile, live)
    assert [f.threshold for f in [*corrected.features, corrected.prediction]] == pytest.approx([0.05 / 31] * 31)
    assert "(0.05 / 31 columns)" in corrected.features[0].reason
    plain = detect_drift(profile, live, DriftSettings(bonferroni=False, thresholds={"ks": 0.01}))
    assert plain.features[0].threshold == 0.01 and plain.prediction.threshold == 0.05


# --- the statistics against scipy ----------------------------------------------------------------


def approximation_cases():
    for name in ("breast_cancer", "diabetes", "wine"):
        frame = dataset(name)
        for seed in range(3):
            yield halves(frame, seed) if len(frame) >= 400 else draws(frame, 300, 300, seed)
            reference, live = draws(frame, 5000, 3000, seed)
            yield reference, live
            rng = np.random.default_rng(seed)  # each feature scaled and moved a little
            width = live.shape[1]
            yield reference, live * rng.uniform(0.8, 1.2, width) + rng.normal(0, 0.2, width) * frame.std()


def test_ks_and_wasserstein_approximations_match_scipy_on_the_raw_rows() -> None:
    worst_ks = worst_wasserstein = 0.0
    for reference, live in approximation_cases():
        report = detect_drift(ReferenceProfile.build(reference), live, DriftSettings(min_samples=1))
        for feature in report.features:
            a, b = reference[feature.feature].to_numpy(), live[feature.feature].to_numpy()
            exact = ks_2samp(a, b, method="asymp")
            worst_ks = max(worst_ks, abs(feature.effects["ks"] - exact.statistic))
            exact_wasserstein = wasserstein_distance(a, b) / a.std()
            worst_wasserstein = max(worst_wasserstein, abs(feature.effects["wasserstein"] - exact_wasserstein))
            if feature.method == "ks":
                assert feature.p_value == pytest.approx(exact.pvalue, rel=0.25, abs=0.01)
    print(f"\nlargest differences from scipy: KS {worst_ks:.4f}, Wasserstein/std {worst_wasserstein:.4f}")
    assert worst_ks <= 0.0015 and worst_wasserstein <= 0.01


def test_psi_jensen_shannon_and_chi_square_match_their_definitions() -> None:
    reference, live = draws(dataset("iris"), 3000, 1000, 9)
    live.loc[live.index[:100], "species"] = "hybrid"
    live["sepal length (cm)"] += 0.3
    report = detect_drift(ReferenceProfile.build(reference), live)
    for feature in report.features:
        r, q = np.asarray(feature.bins["reference"]), np.asarray(feature.bins["live"])
        assert feature.effects["jensenshannon"] == pytest.approx(jensenshannon(r, q, base=2), abs=1e-9)
        floor_r, floor_q = np.maximum(r, 1e-4), np.maximum(q, 1e-4)
        assert feature.effects["psi"] == pytest.approx(np.sum((floor_q - floor_r) * np.log(floor_q / floor_r)))
    species = next(f for f in report.features if f.feature == "species")
    counts = reference["species"].value_counts()
    table = [[counts.get(name, 0) for name in species.bins["categories"]],
             [int((live["species"] == name).sum()) for name in species.bins["categories"]]]
    chi2, p_value, _, _ = chi2_contingency(table, correction=False)
    assert species.effects["chi2"] == pytest.approx(chi2) and species.p_value == pytest.approx(p_value, abs=1e-300)


# --- streaming ----------------------------------------------------------------------------------


def test_streaming_chunks_give_the_one_shot_result() -> None:
    model, holdout, labels = breast_cancer_model()
    frame = holdout.assign(size=np.where(holdout["mean area"] > 700, "large", "small"))
    reference = ReferenceProfile.build(frame, predictions=model.predict(holdout))
    shifted = label_shifted(holdout, labels, 0.6, 3000, seed=10)
    live = shifted.assign(size=np.where(shifted["mean area"] > 600, "large", "small"),
                          **{PREDICTION: model.predict(shifted)})
    live.loc[live.index[::9], "mean texture"] = np.nan
    one_shot = detect_drift(reference, live).to_dict()
    bounds = [0, 1, 8, 108, 1000, 1999, 3000]
    streamed = detect_drift(reference, (live.iloc[a:b] for a, b in zip(bounds, bounds[1:]))).to_dict()
    assert _same(streamed, one_shot)
    assert one_shot["verdict"] == "drift" and one_shot["prediction"]["verdict"] == "drift"


def _same(a, b) -> bool:
    """Equal, floats up to rounding (sums added in another order)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        return all(_same(a[key], b[key]) for key in a)
    if isinstance(a, list):
        assert len(a) == len(b)
        return all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12)
        return True
    assert a == b
    return True


def test_streaming_across_many_blocks_keeps_counts_exact() -> None:
    reference, live = draws(dataset("wine"), 50_000, 300_000, 11)
    live["alcohol"] += 0.1
    profile = ReferenceProfile.build(reference)
    one_shot = detect_drift(profile, live)
    streamed = detect_drift(profile, (live.iloc[start:start + 70_001] for start in range(0, len(live), 70_001)))
    assert _same(streamed.to_dict(), one_shot.to_dict())
    assert one_shot.rows == 300_000 and one_shot.features[0].samples == 300_000


# --- inputs and output ---------------------------------------------------------------------------


def test_a_feature_missing_from_live_data_is_a_clear_error() -> None:
    reference, live = halves(dataset("breast_cancer"), 0)
    profile = ReferenceProfile.build(reference)
    with pytest.raises(DriftInputError,
                       match=r"live data \(chunk 0\) lacks the feature\(s\) 'mean radius', 'worst area'"):
        detect_drift(profile, live.drop(columns=["mean radius", "worst area"]))
    with pytest.raises(DriftInputError, match=r"\(chunk 1\) lacks the feature\(s\) 'mean radius' of the reference"):
        detect_drift(profile, [live, live.drop(columns=["mean radius"])])
    with pytest.raises(DriftInputError, match=r"live chunk 0 is a ndarray, not a pandas DataFrame"):
        detect_drift(profile, [live.to_numpy()])
    with pytest.raises(DriftInputError, match=r"column 'mean radius' is numeric but holds non-numbers"):
        detect_drift(profile, live.assign(**{"mean radius": "big"}))
    assert issubclass(DriftInputError, MlopsError)


def test_the_report_is_json_safe_and_every_reason_gives_value_and_threshold() -> None:
    frame = dataset("iris").assign(constant=1.0)
    reference, live = draws(frame, 2000, 400, 12)
    live["constant"] = 2.0
    report = detect_drift(ReferenceProfile.build(reference), live)
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    constant = next(f for f in data["features"] if f["feature"] == "constant")
    assert constant["verdict"] == "drift" and constant["effects"]["std_ratio"] is None  # NaN: reference std is 0
    assert constant["effects"]["wasserstein"] == pytest.approx(1.0)  # absolute when the reference is constant
    assert data["settings"]["thresholds"]["wasserstein"] == 0.1 and isinstance(data["features"][0]["null_rate"], list)
    for feature in report.features:
        assert f"{feature.threshold:.2g}" in feature.reason and feature.reason.split(":")[0] in ("drift", "no drift")
        assert math.isfinite(feature.effects["psi"])


def test_settings_are_validated_and_partial_thresholds_merged() -> None:
    assert DriftSettings(thresholds={"psi": 0.25}).thresholds == {**DriftSettings().thresholds, "psi": 0.25}
    with pytest.raises(MlopsError, match=r"unknown drift threshold\(s\) \['kl'\]"):
        DriftSettings(thresholds={"kl": 0.1})
    with pytest.raises(MlopsError, match=r"numeric_method must be one of"):
        DriftSettings(numeric_method="chi2")
    with pytest.raises(MlopsError, match=r"drift_share must be in \(0, 1\]"):
        DriftSettings(drift_share=0)
    with pytest.raises(MlopsError, match=r"the ks threshold is a significance level"):
        DriftSettings(thresholds={"ks": 5})
