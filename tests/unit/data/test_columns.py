"""Column kinds on tables shaped like users' files, and what training does with them: IDs refused,
types held to the schema (even with `validation.data: false`), constant columns warned about,
targets that cannot be learnt refused. Every error is one line naming the column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_breast_cancer

from mlops_helpers.config import load_config
from mlops_helpers.console import Reporter
from mlops_helpers.data import columns
from mlops_helpers.data.schema import infer_schema, save_schema, validate_frame
from mlops_helpers.data.tables import read_table
from mlops_helpers.errors import MlopsError
from mlops_helpers.pipeline import make_context, stage_infer_schema
from mlops_helpers.training import build_pipeline, split_features, train

SCHEMA = "data/schema.json"


@pytest.fixture(scope="module")
def patients() -> pd.DataFrame:
    """Breast cancer measurements as a clinic's export: an ID, visit times with gaps, yes/no and
    true/false answers with gaps, a referral text with quotes and a colon, free-text notes, one
    clinic for everybody, and the diagnosis in words."""
    bunch = load_breast_cancer(as_frame=True)
    rng = np.random.default_rng(13)
    rows = len(bunch.frame)
    frame = bunch.data.iloc[:, :4].copy()
    frame.loc[rng.choice(rows, 22, replace=False), "mean area"] = np.nan
    frame["patient_id"] = [f"P-{i:05d}" for i in rng.permutation(rows)]
    visits = pd.Timestamp("2023-01-02") + pd.to_timedelta(rng.integers(0, 600 * 24, rows), unit="h")
    frame["visit"] = pd.Series(visits.strftime("%Y-%m-%d %H:%M")).mask(rng.random(rows) < 0.05)
    frame["smoker"] = pd.Series(rng.choice(["yes", "no", "Yes"], rows)).mask(rng.random(rows) < 0.05)
    frame["insured"] = pd.Series(rng.random(rows) < 0.7, dtype=object).mask(rng.random(rows) < 0.05)
    frame["referral"] = rng.choice(['Dr. O\'Brien: "urgent"', 'Clinic "North": walk-in', "St. Mary's: routine"], rows)
    frame["notes"] = [f"seen on day {day}, follow-up {rng.integers(1, 9)}" for day in rng.permutation(rows)]
    frame["clinic"] = "North"
    frame["diagnosis"] = [str(bunch.target_names[t]) for t in bunch.target]
    return frame


def write_project(root: Path, target: str = "diagnosis", drop: tuple[str, ...] = (), schema_of: pd.DataFrame | None = None,
                  validate_data: bool = True):
    """An mlops.yaml in `root` (and, from `schema_of`, the schema `mlops data infer-schema` writes)."""
    config = {"version": 1, "project": "clinic",
              "data": {"path": "data/patients.csv", "target": target, "schema": SCHEMA},
              "training": {"preprocessing": {"drop": list(drop)}, "params": {"n_estimators": 20}},
              "validation": {"data": validate_data}}
    (root / "mlops.yaml").write_text(yaml.safe_dump(config))
    if schema_of is not None:
        save_schema(infer_schema(schema_of, target=target), root / SCHEMA)
    return load_config(root / "mlops.yaml")


# --------------------------------------------------------------------------- detection


def test_each_column_of_a_user_table_gets_its_kind(patients: pd.DataFrame) -> None:
    kinds = {name: columns.detect(name, patients[name]).kind for name in patients.columns}
    assert kinds == {
        "mean radius": "numeric", "mean texture": "numeric", "mean perimeter": "numeric", "mean area": "numeric",
        "patient_id": "identifier", "visit": "datetime", "smoker": "boolean", "insured": "boolean",
        "referral": "categorical", "notes": "identifier", "clinic": "categorical", "diagnosis": "categorical",
    }


def test_the_schema_records_kinds_and_dtypes(patients: pd.DataFrame) -> None:
    specs = infer_schema(patients, target="diagnosis")["columns"]
    assert {name: (spec["dtype"], spec["kind"]) for name, spec in specs.items() if name != "mean radius"} == {
        "mean texture": ("float", "numeric"), "mean perimeter": ("float", "numeric"), "mean area": ("float", "numeric"),
        "patient_id": ("string", "identifier"), "visit": ("datetime", "datetime"), "smoker": ("bool", "boolean"),
        "insured": ("bool", "boolean"), "referral": ("category", "categorical"), "notes": ("string", "identifier"),
        "clinic": ("category", "categorical"), "diagnosis": ("category", "categorical"),
    }
    assert validate_frame(patients, infer_schema(patients, target="diagnosis")).ok


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["TRUE", "False", "true", None], "boolean"),
        (["yes", "no", "YES "], "boolean"),
        (["y", "n", "y"], "categorical"),  # too often a code of something else
        (["true", "false", "maybe"], "categorical"),
        (["yes", "false"], "categorical"),  # two vocabularies: not one boolean
        (["1", "0", "1"], "numeric"),
    ],
    ids=["true-false", "yes-no", "y-n", "three-values", "mixed-pairs", "digits"],
)
def test_booleans_are_detected_conservatively(values: list, kind: str) -> None:
    assert columns.detect("answer", pd.Series(values * 10)).kind == kind


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["2024-03-01", "2024-03-02", None], "datetime"),
        (["2024-03-01T14:30:00Z", "2024-03-01 09:15+02:00", "2024/03/04"], "datetime"),
        (["05/03/2024", "06/03/2024", "07/03/2024"], "categorical"),  # day or month first? not guessed
        (["March 2024", "April 2024", "May 2024"], "categorical"),
    ],
    ids=["iso-dates", "iso-times-offsets", "ambiguous-order", "month-names"],
)
def test_only_unambiguous_dates_are_datetimes(values: list, kind: str) -> None:
    assert columns.detect("when", pd.Series(values * 10)).kind == kind


def test_identifiers_by_name_or_by_many_distinct_values() -> None:
    rows = 5000
    rng = np.random.default_rng(0)
    unique = pd.Series(rng.permutation(rows))
    assert columns.detect("CustomerID", unique).kind == "identifier"
    assert columns.detect("order id", unique.astype(str)).kind == "identifier"
    assert columns.detect("Unnamed: 0", pd.Series(range(rows))).kind == "identifier"  # an index written out
    assert columns.detect("paid", unique * 1.5).kind == "numeric"
    assert columns.detect("grid", unique).kind == "numeric"
    assert columns.detect("clinic_id", pd.Series(rng.integers(0, 30, rows))).kind == "numeric"  # repeats: a code
    towns = pd.Series([f"town {i}" for i in rng.integers(0, 60, rows)])
    assert columns.detect("town", towns).kind == "categorical"  # 60 values over 5000 rows: a category
    comments = pd.Series([f"comment {i}" for i in rng.integers(0, 4000, rows)])
    assert columns.detect("comment", comments).kind == "identifier"  # free text


def test_a_numbers_column_with_a_typo_stays_numeric_and_the_typo_is_reported(patients: pd.DataFrame) -> None:
    typo = patients.astype({"mean radius": object})
    typo.loc[12, "mean radius"] = "twelve"
    detected = columns.detect("mean radius", typo["mean radius"])
    assert (detected.kind, detected.dtype) == ("numeric", "float")
    report = validate_frame(typo, infer_schema(typo, target="diagnosis"))
    assert [(v.rule, v.column, v.examples) for v in report.violations] == [
        ("dtype", "mean radius", [{"row": 12, "value": "twelve"}])
    ]


# --------------------------------------------------------------------------- training


def test_an_id_column_is_refused_with_the_drop_list_to_write(tmp_path: Path, patients: pd.DataFrame) -> None:
    config = write_project(tmp_path, drop=("notes",), schema_of=patients)
    with pytest.raises(MlopsError) as caught:
        split_features(config, patients)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"column 'patient_id' ({len(patients)} distinct values in {len(patients)} rows) "
                              "looks like an ID or free text")
    assert "training.preprocessing.drop: [notes, patient_id]" in message


def test_every_refused_column_is_named_at_once(tmp_path: Path, patients: pd.DataFrame) -> None:
    config = write_project(tmp_path, schema_of=patients)
    with pytest.raises(MlopsError, match=r"columns 'patient_id' \(.*\), 'notes' \(.*\) look like IDs") as caught:
        split_features(config, patients)
    assert "training.preprocessing.drop: [patient_id, notes]" in str(caught.value)


def test_after_the_drop_every_kind_trains_and_predicts_from_raw_values(tmp_path: Path, patients: pd.DataFrame) -> None:
    config = write_project(tmp_path, drop=("patient_id", "notes"), schema_of=patients)
    features, target = split_features(config, patients)
    assert "patient_id" not in features and "notes" not in features and list(target.unique()) == ["malignant", "benign"]
    assert features["insured"].dtype == "float64"  # booleans with gaps: 1.0 / 0.0 / null, as a CSV gives them back
    pipeline = build_pipeline(config, features).fit(features, target)
    names = list(pipeline.named_steps["preprocess"].get_feature_names_out())
    assert [n for n in names if n.startswith("visit_")] == [
        "visit_year", "visit_month", "visit_day", "visit_day_of_week", "visit_hour", "visit_timestamp"]
    assert {"smoker", "insured", "clinic_North"} <= set(names)
    asked = features.head(3).assign(visit=["2024-05-01T10:00:00Z", None, "2024-05-02 08:00"], smoker=["no", None, "YES"])
    assert set(pipeline.predict(asked)) <= {"malignant", "benign"}


def test_a_kind_set_in_the_schema_wins_over_the_data(tmp_path: Path, patients: pd.DataFrame) -> None:
    config = write_project(tmp_path, drop=("patient_id",), schema_of=patients)
    schema_path = tmp_path / SCHEMA
    schema = yaml.safe_load(schema_path.read_text())  # JSON is YAML
    schema["columns"]["notes"]["kind"] = "categorical"  # the user's call: keep the notes as categories
    save_schema(schema, schema_path)
    features, _ = split_features(config, patients)
    pipeline = build_pipeline(config, features)
    branches = {name: cols for name, _, cols in pipeline.named_steps["preprocess"].transformers}
    assert "notes" in branches["categorical"]


def test_a_value_that_breaks_the_schema_type_is_an_error_even_without_data_validation(
    tmp_path: Path, patients: pd.DataFrame
) -> None:
    config = write_project(tmp_path, drop=("patient_id", "notes"), schema_of=patients, validate_data=False)
    typo = patients.astype({"mean texture": object})
    typo.loc[[40, 41, 90], "mean texture"] = ["twelve", "n/a?", "1,5"]
    with pytest.raises(MlopsError) as caught:  # `mlops run` skips the schema check here: training holds the line
        train(config, typo, tmp_path / "model", {})
    assert str(caught.value) == (
        "column 'mean texture': data row 41 holds 'twelve', which is not a number (3 such rows: 41, 42, 91), "
        f"though {SCHEMA} makes the column numeric: fix the value, or the column's kind in the schema"
    )
    assert not (tmp_path / "model").exists()


def test_without_a_schema_the_kinds_come_from_the_data(tmp_path: Path, patients: pd.DataFrame) -> None:
    config = write_project(tmp_path, drop=("patient_id", "notes"))
    typo = patients.astype({"visit": object})
    typo.loc[7, "visit"] = "last tuesday"
    with pytest.raises(MlopsError, match=r"^column 'visit': data row 8 holds 'last tuesday', which is not a date"):
        split_features(config, typo)
    features, _ = split_features(config, patients)
    assert features["mean area"].dtype == "float64"


def test_a_missing_target_or_drop_column_says_did_you_mean(tmp_path: Path, patients: pd.DataFrame) -> None:
    with pytest.raises(MlopsError, match=r"data.target: column 'diagnosys' .*did you mean 'diagnosis'") as caught:
        split_features(write_project(tmp_path, target="diagnosys"), patients)
    assert "clinic, diagnosis" in str(caught.value)  # the whole column list, not the first ten
    with pytest.raises(MlopsError, match=r"training.preprocessing.drop.0: column 'patient-id'"):
        split_features(write_project(tmp_path, drop=("patient-id",)), patients)


def test_constant_columns_are_warned_about_and_kept(tmp_path: Path, patients: pd.DataFrame,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    config = write_project(tmp_path, drop=("patient_id",))
    ctx = make_context(config, Reporter())
    stage_infer_schema(ctx, patients)
    err = capsys.readouterr().err
    assert ("warning: column 'clinic' holds the same value ('North') in every row: it cannot help the model; "
            "kept as a feature (training.preprocessing.drop removes it)") in err
    assert "warning: column 'notes' looks like an ID or free text" in err
    assert "warning: column 'patient_id'" not in err  # already dropped
    assert "column 'visit': dates and times, expanded into year, month" in err
    features, _ = split_features(load_config(tmp_path / "mlops.yaml", ["training.preprocessing.drop=[patient_id, notes]"]),
                                 patients)
    assert "clinic" in features
    gaps = pd.DataFrame({"site": ["A", None, "A"], "empty": [None, None, None], "x": [1, 2, 3]})
    assert columns.constant_columns(gaps) == [
        "column 'site' holds one value ('A') or nothing in every row: it cannot help the model; kept as a feature "
        "(training.preprocessing.drop removes it)",
        "column 'empty' holds no value in any row: it cannot help the model; kept as a feature "
        "(training.preprocessing.drop removes it)",
    ]


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (["benign"] * 30, "data.target: column 'diagnosis' has a single class ('benign', all 30 rows); "
                          "a classifier needs at least two"),
        (["benign"] * 15 + ["malignant"] * 14 + ["unclear"], "data.target: class 'unclear' has one row only in column "
                                                             "'diagnosis'; each class needs at least 2"),
        (["benign"] * 15 + ["malignant"] * 13 + [None, None], "data.target: column 'diagnosis' is empty in 2 rows "
                                                              "(data rows 29, 30); fill them or remove those rows"),
    ],
    ids=["single-class", "one-row-class", "empty-labels"],
)
def test_a_target_that_cannot_be_learnt_is_refused(tmp_path: Path, patients: pd.DataFrame, labels: list, message: str) -> None:
    config = write_project(tmp_path, drop=("patient_id", "notes"))
    frame = patients.head(len(labels)).assign(diagnosis=labels)
    with pytest.raises(MlopsError) as caught:
        split_features(config, frame)
    assert str(caught.value).startswith(message)


def test_a_continuous_target_given_to_a_classifier_is_told_so() -> None:
    values = pd.Series(np.linspace(0, 1, 40))
    with pytest.raises(MlopsError, match=r"40 classes .* have one row only .*\(a regression target\? use a regressor\)"):
        columns.check_target(values, "score", "classification")
    columns.check_target(values, "score", "regression")  # every value once is what regression targets do


def test_parquet_datetimes_reach_the_model_as_the_api_sends_them(tmp_path: Path, patients: pd.DataFrame) -> None:
    """A Parquet file keeps datetimes (here with a time zone); the features hold them as ISO text,
    which is what /predict receives and what holdout.csv keeps."""
    frame = patients.drop(columns=["notes"]).assign(visit=pd.to_datetime(patients["visit"]).dt.tz_localize("Europe/Paris"))
    path = tmp_path / "patients.parquet"
    frame.to_parquet(path)
    read = read_table(path)
    config = write_project(tmp_path, drop=("patient_id",), schema_of=read)
    features, target = split_features(config, read)
    visits = features["visit"].dropna()
    assert visits.str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}").all()
    assert pd.to_datetime(visits.iloc[0], utc=True) == read["visit"].dropna().iloc[0]
    assert features["visit"].isna().sum() == read["visit"].isna().sum()
    model = build_pipeline(config, features).fit(features, target)
    assert set(model.predict(features.head(4))) <= {"malignant", "benign"}
