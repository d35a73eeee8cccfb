"""The reference profile: statistics on real data (scikit-learn's bundled data sets), kinds,
predictions, save/load round trip, and clear errors for a corrupt reference.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

from mlops_helpers.errors import MlopsError
from mlops_helpers.monitoring.drift import detect_drift
from mlops_helpers.monitoring.reference import PREDICTION, ReferenceProfile, ReferenceProfileError


def iris_with_species() -> pd.DataFrame:
    """Iris measurements plus the species as a string feature (categorical)."""
    data = load_iris(as_frame=True)
    frame = data.data.copy()
    frame["species"] = np.asarray(data.target_names)[data.target]
    return frame


def test_numeric_statistics_match_numpy_on_breast_cancer() -> None:
    frame = load_breast_cancer(as_frame=True).data
    profile = ReferenceProfile.build(frame)
    assert profile.rows == len(frame) == 569
    assert list(profile.features) == list(frame.columns)
    for name, feature in profile.features.items():
        values = frame[name].to_numpy()
        assert feature.kind == "numeric" and feature.count == 569 and feature.null_rate == 0.0
        assert feature.categories is None
        assert feature.mean == pytest.approx(values.mean()) and feature.std == pytest.approx(values.std())
        levels = np.linspace(0, 1, len(feature.quantiles))
        assert len(feature.quantiles) == 1001
        assert feature.quantiles == pytest.approx(np.quantile(values, levels, method="inverted_cdf"))
        # Bins: min, the unique 5%..95% quantiles, max; counts of (edge, next edge], the outer ones open.
        assert feature.edges[0] == values.min() and feature.edges[-1] == values.max()
        assert sum(feature.counts) == 569 and len(feature.counts) == len(feature.edges) - 1
        interior = np.asarray(feature.edges[1:-1])
        expected = np.bincount(np.searchsorted(interior, values, side="left"), minlength=len(interior) + 1)
        assert feature.counts == expected.tolist()
    # Continuous features get the full 20 quantile bins, about 5% of the rows each.
    radius = profile.features["mean radius"]
    assert len(radius.counts) == 20 and max(radius.counts) <= 0.06 * 569


def test_discrete_feature_gets_fewer_bins_and_every_value_separated() -> None:
    """diabetes' `sex` takes two values: two bins that separate them, not 20 empty ones."""
    frame = load_diabetes(as_frame=True).data
    sex = ReferenceProfile.build(frame).features["sex"]
    low, high = sorted(frame["sex"].unique())
    assert sex.edges == [low, low, high, high]
    assert sex.counts == [int((frame["sex"] == low).sum()), int((frame["sex"] == high).sum()), 0]


def test_categorical_columns_by_dtype_and_by_name() -> None:
    frame = iris_with_species()
    frame["is_long"] = frame["sepal length (cm)"] > 6.0
    frame["petal_class"] = pd.Categorical(np.where(frame["petal length (cm)"] > 4, "big", "small"))
    frame["code"] = (frame["petal width (cm)"] * 10).round().astype(int) % 3
    profile = ReferenceProfile.build(frame, categorical=["code"])
    kinds = {name: feature.kind for name, feature in profile.features.items()}
    assert kinds == {"sepal length (cm)": "numeric", "sepal width (cm)": "numeric", "petal length (cm)": "numeric",
                     "petal width (cm)": "numeric", "species": "categorical", "is_long": "categorical",
                     "petal_class": "categorical", "code": "categorical"}
    assert profile.features["species"].categories == {"setosa": 50, "versicolor": 50, "virginica": 50}
    assert profile.features["is_long"].categories == {"True": int((frame["sepal length (cm)"] > 6).sum()),
                                                      "False": int((frame["sepal length (cm)"] <= 6).sum())}
    assert set(profile.features["code"].categories) == {"0", "1", "2"}
    assert sum(profile.features["petal_class"].categories.values()) == 150


def test_nulls_and_infinities_count_as_missing() -> None:
    frame = load_diabetes(as_frame=True).data.copy()
    frame.loc[frame.index[:44], "bmi"] = np.nan
    frame.loc[frame.index[44:50], "bmi"] = np.inf
    frame["empty"] = np.nan
    frame["sex"] = frame["sex"].where(frame.index >= 100)  # a categorical with nulls (and float values)
    profile = ReferenceProfile.build(frame, categorical=["sex"])
    bmi = profile.features["bmi"]
    assert bmi.count == 442 - 50 and bmi.null_rate == pytest.approx(50 / 442)
    assert np.isfinite(bmi.quantiles).all() and bmi.mean == pytest.approx(frame["bmi"].iloc[50:].mean())
    empty = profile.features["empty"]
    assert (empty.count, empty.null_rate, empty.edges, empty.quantiles) == (0, 1.0, None, None)
    sex = profile.features["sex"]
    assert sex.count == 342 and sex.null_rate == pytest.approx(100 / 442) and sum(sex.categories.values()) == 342


def test_predictions_class_labels_are_categorical_regression_numeric() -> None:
    frame = load_breast_cancer(as_frame=True)
    labels = ReferenceProfile.build(frame.data, predictions=frame.target.to_numpy())
    assert labels.prediction.name == PREDICTION and labels.prediction.kind == "categorical"
    assert labels.prediction.categories == {"0": 212, "1": 357}
    diabetes = load_diabetes(as_frame=True)
    regression = ReferenceProfile.build(diabetes.data, predictions=diabetes.target.to_numpy() * 1.0)
    assert regression.prediction.kind == "numeric" and regression.prediction.count == 442
    forced = ReferenceProfile.build(frame.data, predictions=frame.target.to_numpy() * 1.0, categorical=[PREDICTION])
    assert forced.prediction.categories == {"0": 212, "1": 357}  # 1.0 -> "1", as the live labels are matched


def test_build_errors_name_the_problem() -> None:
    frame = load_iris(as_frame=True).data
    with pytest.raises(ReferenceProfileError, match=r"150 rows"):
        ReferenceProfile.build(frame, predictions=np.zeros(10))
    with pytest.raises(ReferenceProfileError, match=r"\['nope'\] are not in the frame"):
        ReferenceProfile.build(frame, categorical=["nope"])
    dated = frame.assign(when=pd.Timestamp("2026-01-01"))
    with pytest.raises(ReferenceProfileError, match=r"column 'when' has dtype datetime64"):
        ReferenceProfile.build(dated)
    with pytest.raises(MlopsError):  # the CLI reports it as a usage error (exit 2)
        ReferenceProfile.build(dated)


def test_save_load_round_trip_gives_the_same_profile_and_the_same_drift(tmp_path: Path) -> None:
    frame = iris_with_species()
    frame.loc[frame.index[::7], "sepal width (cm)"] = np.nan
    predictions = np.asarray(load_iris().target)
    profile = ReferenceProfile.build(frame, predictions=predictions)
    profile.save(tmp_path / "reference.json")
    loaded = ReferenceProfile.load(tmp_path / "reference.json")
    assert loaded == profile
    assert json.loads((tmp_path / "reference.json").read_text())["format"] == 1
    live = frame.sample(120, random_state=1).assign(**{PREDICTION: predictions[:120]})
    assert detect_drift(loaded, live).to_dict() == detect_drift(profile, live).to_dict()
    # A folder means the reference.json in it (the model version's folder).
    profile.save(tmp_path)
    assert ReferenceProfile.load(tmp_path) == profile
    assert [p.name for p in tmp_path.iterdir()] == ["reference.json"]  # no temporary file left


def corrupt(data: dict, path: list, value) -> dict:
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


@pytest.mark.parametrize("path, value, message", [
    (["format"], 2, r"format is 2, this version reads 1"),
    (["features"], KeyError, r"features is not a list"),
    (["rows"], -1, r"rows must be a non-negative integer"),
    (["features", 0, "kind"], "text", r"features\[0\]\.kind must be 'numeric' or 'categorical'"),
    (["features", 1, "counts"], [1, 2, 3], r"features\[1\]\.counts must be a list of len\(edges\) - 1"),
    (["features", 1, "edges"], [3.0, 2.0, 1.0], r"features\[1\]\.edges must be in ascending order"),
    (["features", 2, "quantiles"], ["a", "b"], r"features\[2\]\.quantiles must hold finite numbers only"),
    (["features", 0, "null_rate"], 1.5, r"features\[0\]\.null_rate must be within \[0, 1\]"),
    (["features", 0, "mean"], None, r"features\[0\]\.mean must be a finite number"),
    (["features", 4, "categories"], {"setosa": -1}, r"features\[4\]\.categories must hold positive integer counts"),
    (["features", 4, "categories"], {"setosa": 5}, r"features\[4\]\.categories must add up to count \(150\)"),
    (["prediction", "count"], 10**6, r"prediction\.count \(1000000\) exceeds the profile's rows \(150\)"),
])
def test_corrupt_reference_json_names_the_file_and_the_field(tmp_path: Path, path: list, value, message: str) -> None:
    profile = ReferenceProfile.build(iris_with_species(), predictions=load_iris().target)
    target = tmp_path / "reference.json"
    target.write_text(json.dumps(corrupt(profile.to_dict(), path, value)))
    with pytest.raises(ReferenceProfileError, match=message) as caught:
        ReferenceProfile.load(target)
    assert str(caught.value).startswith(f"{target}: ")


def test_unreadable_reference_json_names_the_file(tmp_path: Path) -> None:
    target = tmp_path / "reference.json"
    target.write_text('{"format": 1, "rows": 3, "features": [')  # cut off mid-write
    with pytest.raises(ReferenceProfileError, match=rf"^{target}: not valid JSON"):
        ReferenceProfile.load(target)
    missing = tmp_path / "missing.json"
    with pytest.raises(ReferenceProfileError, match=rf"^{missing}: cannot read the reference profile"):
        ReferenceProfile.load(tmp_path / "missing.json")
