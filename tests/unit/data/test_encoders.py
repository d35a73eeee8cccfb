"""The transformers that let a model take dates and booleans as the data (and /predict) hold them."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline

from mlops_helpers.data.encoders import BooleanEncoder, DatetimeFeatures


@pytest.fixture(scope="module")
def harvests() -> pd.DataFrame:
    """Wine with harvest times as a lab writes them (ISO text, some with an offset, some missing),
    a yes/no answer with gaps, and the cultivar by name."""
    bunch = load_wine(as_frame=True)
    rng = np.random.default_rng(3)
    rows = len(bunch.frame)
    times = pd.Timestamp("2023-09-01 06:00") + pd.to_timedelta(rng.integers(0, 700 * 24, rows), unit="h")
    frame = bunch.data[["alcohol", "color_intensity"]].copy()
    frame["harvested"] = pd.Series(times.strftime("%Y-%m-%dT%H:%M:%SZ")).mask(rng.random(rows) < 0.1)
    frame["organic"] = pd.Series(rng.choice(["yes", "no"], rows)).mask(rng.random(rows) < 0.1)
    frame["cultivar"] = bunch.target.map({0: "barolo", 1: "grignolino", 2: "barbera"})
    return frame


def test_dates_become_year_month_day_weekday_hour_and_timestamp() -> None:
    frame = pd.DataFrame({"seen": ["2024-03-01T14:30:00Z", None, "2024-03-03 23:15+02:00", "2024-02-29"]})
    expander = DatetimeFeatures().fit(frame)
    names = ["seen_year", "seen_month", "seen_day", "seen_day_of_week", "seen_hour", "seen_timestamp"]
    assert list(expander.get_feature_names_out()) == names
    out = expander.transform(frame)
    assert out.shape == (4, 6)
    assert np.isnan(out[1]).all()  # a missing date: NaN everywhere, for the imputer that follows
    expected = [pd.Timestamp("2024-03-01 14:30", tz="UTC"), pd.Timestamp("2024-03-03 21:15", tz="UTC"),  # offset: to UTC
                pd.Timestamp("2024-02-29", tz="UTC")]
    for row, moment in zip([0, 2, 3], expected, strict=True):
        assert list(out[row, :5]) == [moment.year, moment.month, moment.day, moment.weekday(), moment.hour]
        assert out[row, 5] == moment.timestamp()


def test_dates_without_times_get_no_hour_and_datetime_columns_match_their_text() -> None:
    text = pd.DataFrame({"day": ["2024-01-05", "2024-07-14", None]})
    expander = DatetimeFeatures().fit(text)
    assert list(expander.get_feature_names_out()) == ["day_year", "day_month", "day_day", "day_day_of_week", "day_timestamp"]
    typed = pd.DataFrame({"day": pd.to_datetime(text["day"])})  # what a Parquet file gives
    np.testing.assert_array_equal(expander.transform(typed), expander.transform(text))


def test_a_value_that_is_not_a_date_is_an_error_naming_it() -> None:
    expander = DatetimeFeatures().fit(pd.DataFrame({"day": ["2024-01-05", "2024-01-06"]}))
    with pytest.raises(ValueError, match=r"^column 'day': row 1: 'next monday' is not a date or time"):
        expander.transform(pd.DataFrame({"day": ["2024-01-07", "next monday"]}))
    with pytest.raises(ValueError, match="'2024-13-45'"):  # looks like a date, is not one
        expander.transform(pd.DataFrame({"day": ["2024-13-45"]}))


def test_booleans_in_every_spelling_become_one_and_zero() -> None:
    frame = pd.DataFrame({"organic": ["yes", "No", None, " YES", "no"], "sealed": [True, False, True, None, False]})
    encoder = BooleanEncoder().fit(frame)
    out = encoder.transform(frame)
    np.testing.assert_array_equal(out[:, 0], [1.0, 0.0, np.nan, 1.0, 0.0])
    np.testing.assert_array_equal(out[:, 1], [1.0, 0.0, 1.0, np.nan, 0.0])
    assert list(encoder.get_feature_names_out()) == ["organic", "sealed"]
    with pytest.raises(ValueError, match=r"column 'organic': row 0: 'maybe' is not true/false or yes/no"):
        encoder.transform(pd.DataFrame({"organic": ["maybe"], "sealed": [True]}))


def test_a_pipeline_with_both_trains_on_raw_values_and_survives_pickling(harvests: pd.DataFrame, tmp_path: Path) -> None:
    features, labels = harvests.drop(columns="cultivar"), harvests["cultivar"]
    preprocess = ColumnTransformer(
        [
            ("numeric", "passthrough", ["alcohol", "color_intensity"]),
            ("datetime", Pipeline([("expand", DatetimeFeatures()), ("impute", SimpleImputer(strategy="median"))]), ["harvested"]),
            ("boolean", Pipeline([("encode", BooleanEncoder()), ("impute", SimpleImputer(strategy="most_frequent"))]),
             ["organic"]),
        ],
        verbose_feature_names_out=False,
    )
    model = Pipeline([("preprocess", preprocess), ("model", RandomForestClassifier(n_estimators=20, random_state=0))])
    model.fit(features, labels)
    assert not np.isnan(preprocess.transform(features)).any()  # the gaps are imputed after expansion
    joblib.dump(model, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    asked = features.head(5).assign(harvested=["2025-06-01T08:00:00Z", None, "2024-10-10T10:10:10+01:00",
                                               "2024-01-01T00:00:00Z", "2023-12-31T23:00:00-05:00"])
    np.testing.assert_array_equal(loaded.predict(asked), model.predict(asked))
    assert set(loaded.predict(asked)) <= {"barolo", "grignolino", "barbera"}
