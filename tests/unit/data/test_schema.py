"""Schema inference, storage and validation on real scikit-learn data sets."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_wine

from mlops_helpers.data.schema import (
    ValidationReport,
    infer_schema,
    load_schema,
    report_to_junit,
    save_schema,
    validate_frame,
)
from mlops_helpers.data.tables import read_table
from mlops_helpers.errors import MlopsError


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame


@pytest.fixture(scope="module")
def cancer_schema(cancer: pd.DataFrame) -> dict:
    return infer_schema(cancer, target="target")


@pytest.fixture(scope="module")
def wine() -> pd.DataFrame:
    return load_wine(as_frame=True).frame


@pytest.fixture
def shop() -> pd.DataFrame:
    """A small mixed frame: a category, a nullable float, a bool, a high-cardinality string."""
    rows = 40
    return pd.DataFrame(
        {
            "color": ["red", "green", "blue", "green"] * (rows // 4),
            "price": [np.nan if i % 10 == 0 else 1.5 + i for i in range(rows)],  # 10% nulls
            "in_stock": [i % 3 != 0 for i in range(rows)],
            "sku": [f"SKU-{i:04d}" for i in range(rows)],
            "quantity": list(range(rows)),
        }
    )


def rules(report: ValidationReport) -> list[tuple[str, str]]:
    return [(v.rule, v.column) for v in report.violations]


def only_violation(report: ValidationReport):
    assert not report.ok
    assert len(report.violations) == 1, report.summary()
    return report.violations[0]


# --------------------------------------------------------------------------- inference


def test_infer_schema_describes_breast_cancer(cancer: pd.DataFrame, cancer_schema: dict) -> None:
    assert cancer_schema["version"] == 1
    assert cancer_schema["target"] == "target"
    assert cancer_schema["row_count"] == 569
    assert cancer_schema["order"] == list(cancer.columns)
    radius = cancer_schema["columns"]["mean radius"]
    assert radius == {
        "dtype": "float",
        "kind": "numeric",
        "required": True,
        "nullable": False,
        "min": float(cancer["mean radius"].min()),
        "max": float(cancer["mean radius"].max()),
    }
    assert type(radius["min"]) is float
    target = cancer_schema["columns"]["target"]
    assert (target["dtype"], target["min"], target["max"]) == ("int", 0, 1)
    assert type(target["max"]) is int
    # Strict JSON: no numpy scalars, no NaN.
    assert json.loads(json.dumps(cancer_schema, allow_nan=False)) == cancer_schema


def test_infer_schema_categories_nulls_bool_and_strings(shop: pd.DataFrame) -> None:
    schema = infer_schema(shop, max_categories=5)
    columns = schema["columns"]
    assert columns["color"]["dtype"] == "category"
    assert columns["color"]["categories"] == ["blue", "green", "red"]
    assert columns["price"]["nullable"] is True
    assert columns["price"]["max_null_fraction"] == pytest.approx(0.1)
    assert "max_null_fraction" not in columns["quantity"]
    assert columns["in_stock"] == {"dtype": "bool", "kind": "boolean", "required": True, "nullable": False}
    assert (columns["sku"]["dtype"], columns["sku"]["kind"]) == ("string", "categorical")  # 40 values > max_categories
    assert "categories" not in columns["sku"]
    assert infer_schema(shop, max_categories=50)["columns"]["sku"]["dtype"] == "category"


def test_infer_schema_rejects_unknown_target_and_empty_frame(cancer: pd.DataFrame) -> None:
    with pytest.raises(MlopsError, match="'label'"):
        infer_schema(cancer, target="label")
    with pytest.raises(MlopsError, match="no rows"):
        infer_schema(cancer.iloc[:0])


# --------------------------------------------------------------------------- reference data passes


@pytest.mark.parametrize("name", ["cancer", "wine", "shop"])
def test_reference_validates_against_its_own_schema(name: str, request: pytest.FixtureRequest) -> None:
    frame = request.getfixturevalue(name)
    report = validate_frame(frame, infer_schema(frame))
    assert report.ok, report.summary()
    assert report.violations == []
    assert report.rows == len(frame)
    assert report.summary() == f"data validation passed: {len(frame)} rows, no violations"


def test_a_sample_of_the_reference_passes(cancer: pd.DataFrame, cancer_schema: dict) -> None:
    sample = cancer.sample(50, random_state=0).reset_index(drop=True)
    assert validate_frame(sample, cancer_schema).ok


def test_float_column_accepts_integers(wine: pd.DataFrame) -> None:
    schema = infer_schema(wine, target="target")
    assert schema["columns"]["magnesium"]["dtype"] == "float"
    as_ints = wine.assign(magnesium=wine["magnesium"].astype("int64"))
    assert validate_frame(as_ints, schema).ok


# --------------------------------------------------------------------------- drift is caught


def test_new_column_is_unexpected(cancer: pd.DataFrame, cancer_schema: dict) -> None:
    violation = only_violation(validate_frame(cancer.assign(patient_id=range(len(cancer))), cancer_schema))
    assert (violation.rule, violation.column, violation.count) == ("unexpected_column", "patient_id", 1)
    assert "'patient_id'" in violation.message


def test_missing_column_is_reported(cancer: pd.DataFrame, cancer_schema: dict) -> None:
    violation = only_violation(validate_frame(cancer.drop(columns=["worst area"]), cancer_schema))
    assert (violation.rule, violation.column, violation.count) == ("missing_column", "worst area", 1)
    assert "'worst area'" in violation.message and "missing" in violation.message


def test_missing_target_is_allowed_only_for_prediction_data(cancer: pd.DataFrame, cancer_schema: dict) -> None:
    features = cancer.drop(columns=["target"])
    assert rules(validate_frame(features, cancer_schema)) == [("missing_column", "target")]
    assert validate_frame(features, cancer_schema, allow_missing_target=True).ok
    # Only the target may be absent: other columns are still required.
    report = validate_frame(features.drop(columns=["mean area"]), cancer_schema, allow_missing_target=True)
    assert rules(report) == [("missing_column", "mean area")]


def test_values_above_max_counted_with_example_rows(cancer: pd.DataFrame, cancer_schema: dict) -> None:
    drifted = cancer.copy()
    drifted.loc[[5, 9, 400], "mean radius"] = drifted.loc[[5, 9, 400], "mean radius"] * 10
    violation = only_violation(validate_frame(drifted, cancer_schema))
    assert (violation.rule, violation.column, violation.count) == ("max", "mean radius", 3)
    assert [example["row"] for example in violation.examples] == [5, 9, 400]
    assert violation.examples[0]["value"] == pytest.approx(cancer.loc[5, "mean radius"] * 10)
    expected = f"column 'mean radius': 3 values above max 28.11 (e.g. row 5: {violation.examples[0]['value']})"
    assert violation.message == expected


def test_values_below_min(cancer: pd.DataFrame, cancer_schema: dict) -> None:
    drifted = cancer.copy()
    drifted.loc[12, "mean texture"] = -25.0  # a sign slip: more than half the range (9.71 to 39.28) below it
    violation = only_violation(validate_frame(drifted, cancer_schema))
    assert (violation.rule, violation.column, violation.count) == ("min", "mean texture", 1)
    assert violation.examples == [{"row": 12, "value": -25.0}]
    assert "1 value below min" in violation.message and "'mean texture'" in violation.message


def test_examples_are_capped_at_five(cancer: pd.DataFrame, cancer_schema: dict) -> None:
    drifted = cancer.assign(**{"mean area": cancer["mean area"] + 10_000})
    violation = only_violation(validate_frame(drifted, cancer_schema))
    assert violation.count == len(cancer)
    assert [example["row"] for example in violation.examples] == [0, 1, 2, 3, 4]


def test_strings_in_a_float_column_are_a_dtype_violation(cancer: pd.DataFrame, cancer_schema: dict) -> None:
    drifted = cancer.astype({"mean smoothness": object})
    drifted.loc[2, "mean smoothness"] = "n/a"
    drifted.loc[7, "mean smoothness"] = "0,1"  # decimal comma
    violation = only_violation(validate_frame(drifted, cancer_schema))
    assert (violation.rule, violation.column, violation.count) == ("dtype", "mean smoothness", 2)
    assert violation.examples == [{"row": 2, "value": "n/a"}, {"row": 7, "value": "0,1"}]
    assert violation.message == "column 'mean smoothness': 2 values not coercible to float (e.g. row 2: 'n/a')"


def test_int_column_rejects_non_integral_floats(wine: pd.DataFrame) -> None:
    schema = infer_schema(wine, target="target")
    drifted = wine.astype({"target": "float64"})
    assert validate_frame(drifted, schema).ok  # 1.0 is still an integer label
    drifted.loc[[3, 30], "target"] = [1.5, 0.25]
    violation = only_violation(validate_frame(drifted, schema))
    assert (violation.rule, violation.column, violation.count) == ("dtype", "target", 2)
    assert [example["value"] for example in violation.examples] == [1.5, 0.25]
    assert "not coercible to int" in violation.message


def test_nulls_in_a_non_nullable_column(cancer: pd.DataFrame, cancer_schema: dict) -> None:
    drifted = cancer.copy()
    drifted.loc[[0, 50, 51], "worst symmetry"] = np.nan
    violation = only_violation(validate_frame(drifted, cancer_schema))
    assert (violation.rule, violation.column, violation.count) == ("nulls", "worst symmetry", 3)
    assert violation.examples == [{"row": 0, "value": None}, {"row": 50, "value": None}, {"row": 51, "value": None}]
    assert violation.message.startswith("column 'worst symmetry': 3 null values")


def test_nullable_column_flags_nulls_only_beyond_chance(shop: pd.DataFrame) -> None:
    schema = infer_schema(shop)  # price: 10% nulls, so 15% is allowed, and more only when chance gives it
    noisy = shop.copy()
    noisy.loc[[1, 2, 3, 4, 5, 6, 7, 8], "price"] = np.nan  # 12 of 40 = 30%: 15% gives that once in 100
    assert validate_frame(noisy, schema).ok
    noisy.loc[[9, 11, 12, 13, 14, 15], "price"] = np.nan  # 18 of 40 = 45%: 6 times in a million
    violation = only_violation(validate_frame(noisy, schema))
    assert (violation.rule, violation.column, violation.count) == ("nulls", "price", 18)
    assert [example["row"] for example in violation.examples] == [0, 1, 2, 3, 4]
    assert "45.0% of 40 rows" in violation.message and "allowed 15.0%" in violation.message
    assert "p = " in violation.message


def test_nullable_column_without_a_reference_rate_takes_any_nulls(shop: pd.DataFrame) -> None:
    schema = infer_schema(shop)
    del schema["columns"]["price"]["max_null_fraction"]  # a hand-written "nullable": true
    assert validate_frame(shop.assign(price=np.nan), schema).ok


@pytest.fixture(scope="module")
def gappy_cancer(cancer: pd.DataFrame) -> pd.DataFrame:
    """Breast cancer with 22 of 569 `mean area` values missing: a reference null rate of 3.9%."""
    gappy = cancer.copy()
    gappy.loc[np.random.default_rng(5).choice(len(gappy), 22, replace=False), "mean area"] = np.nan
    return gappy


def batch_with_nulls(reference: pd.DataFrame, rows: int, nulls: int, seed: int = 0) -> pd.DataFrame:
    batch = reference.dropna().sample(rows, replace=rows > len(reference), random_state=seed).reset_index(drop=True)
    batch.loc[np.random.default_rng(seed).choice(rows, nulls, replace=False), "mean area"] = np.nan
    return batch


def test_a_small_batch_is_not_failed_for_a_null_the_reference_rate_explains(gappy_cancer: pd.DataFrame) -> None:
    schema = infer_schema(gappy_cancer, target="target")
    assert schema["columns"]["mean area"]["max_null_fraction"] == pytest.approx(0.039, abs=5e-4)
    assert validate_frame(batch_with_nulls(gappy_cancer, 10, 1), schema).ok  # 10%, but 1 in 10 is common at 3.9%
    violation = only_violation(validate_frame(batch_with_nulls(gappy_cancer, 10, 6), schema))
    assert (violation.rule, violation.column, violation.count) == ("nulls", "mean area", 6)
    assert "60.0% of 10 rows" in violation.message and "allowed 5.8% (1.5 × the reference 3.9%)" in violation.message


def test_a_large_batch_is_held_to_the_tolerance(gappy_cancer: pd.DataFrame) -> None:
    schema = infer_schema(gappy_cancer, target="target")
    assert validate_frame(batch_with_nulls(gappy_cancer, 10_000, 450), schema).ok  # 4.5%: within 1.5 × 3.9%
    violation = only_violation(validate_frame(batch_with_nulls(gappy_cancer, 10_000, 800), schema))
    assert (violation.rule, violation.count) == ("nulls", 800)
    assert "8.0% of 10000 rows" in violation.message


def test_a_value_just_past_the_range_is_chance_in_a_small_batch_but_a_far_one_is_not(cancer: pd.DataFrame,
                                                                                     cancer_schema: dict) -> None:
    batch = cancer.tail(10).reset_index(drop=True)
    top = cancer_schema["columns"]["mean radius"]["max"]
    assert validate_frame(batch.assign(**{"mean radius": batch["mean radius"].where(batch.index != 2, top + 0.5)}),
                          cancer_schema).ok
    far = batch.assign(**{"mean radius": batch["mean radius"].where(batch.index != 2, 250.0)})  # mm for cm
    violation = only_violation(validate_frame(far, cancer_schema))
    assert violation.message == "column 'mean radius': 1 value above max 28.11 (e.g. row 2: 250.0)"


def test_a_large_batch_from_the_same_distribution_passes_the_range_and_a_shifted_one_fails() -> None:
    rng = np.random.default_rng(2)
    reference = pd.DataFrame({"weight": rng.normal(70, 12, 569)})
    schema = infer_schema(reference)
    same = pd.DataFrame({"weight": rng.normal(70, 12, 10_000)})
    outside = int((same["weight"] > schema["columns"]["weight"]["max"]).sum())
    assert outside > 0  # values past the reference's extremes: expected with 10,000 rows against 569
    assert validate_frame(same, schema).ok
    shifted = pd.DataFrame({"weight": rng.normal(90, 12, 10_000)})  # 20 kg heavier: a new population
    violation = only_violation(validate_frame(shifted, schema))
    assert violation.rule == "max" and "more than chance puts past the range of 569 reference values" in violation.message


def test_int_columns_and_hand_written_bounds_are_hard(wine: pd.DataFrame) -> None:
    schema = infer_schema(wine, target="target")
    violation = only_violation(validate_frame(wine.assign(target=wine["target"].where(wine.index != 5, 3)), schema))
    assert (violation.rule, violation.column, violation.examples) == ("max", "target", [{"row": 5, "value": 3.0}])
    del schema["row_count"]
    top = schema["columns"]["alcohol"]["max"]
    nudged = wine.assign(alcohol=wine["alcohol"].where(wine.index != 9, top + 0.01))
    assert rules(validate_frame(nudged, schema)) == [("max", "alcohol")]


def test_dates_and_yes_no_answers_are_type_checked() -> None:
    reference = pd.DataFrame({"seen": ["2024-03-01", "2024-03-02 10:00", None] * 10, "smoker": ["yes", "no", None] * 10})
    schema = infer_schema(reference)
    assert (schema["columns"]["seen"]["dtype"], schema["columns"]["smoker"]["dtype"]) == ("datetime", "bool")
    batch = pd.DataFrame({"seen": ["2024-04-01T09:00:00Z", "soon", None], "smoker": ["No", "YES", "often"]})
    report = validate_frame(batch, schema)
    assert [(v.rule, v.column, v.examples) for v in report.violations] == [
        ("dtype", "seen", [{"row": 1, "value": "soon"}]),
        ("dtype", "smoker", [{"row": 2, "value": "often"}]),
    ]


def test_unknown_category(shop: pd.DataFrame) -> None:
    schema = infer_schema(shop)
    drifted = shop.copy()
    drifted.loc[[6, 33], "color"] = ["purple", "Red"]  # case matters: 'Red' is not 'red'
    violation = only_violation(validate_frame(drifted, schema))
    assert (violation.rule, violation.column, violation.count) == ("category", "color", 2)
    assert violation.examples == [{"row": 6, "value": "purple"}, {"row": 33, "value": "Red"}]
    assert "'color'" in violation.message and "'purple'" in violation.message


def test_bool_column_rejects_other_values(shop: pd.DataFrame) -> None:
    schema = infer_schema(shop)
    drifted = shop.astype({"in_stock": object})
    drifted.loc[4, "in_stock"] = "maybe"
    violation = only_violation(validate_frame(drifted, schema))
    assert (violation.rule, violation.column, violation.count) == ("dtype", "in_stock", 1)


def test_many_drifts_are_all_reported(cancer: pd.DataFrame, cancer_schema: dict) -> None:
    drifted = cancer.drop(columns=["mean area"]).assign(extra=1.0).astype({"mean radius": object})
    drifted.loc[1, "mean radius"] = "oops"
    drifted.loc[2, "mean radius"] = 1000.0
    drifted.loc[3, "mean radius"] = None
    report = validate_frame(drifted, cancer_schema)
    assert sorted(rules(report)) == [
        ("dtype", "mean radius"),
        ("max", "mean radius"),
        ("missing_column", "mean area"),
        ("nulls", "mean radius"),
        ("unexpected_column", "extra"),
    ]
    as_dict = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert as_dict["ok"] is False and as_dict["rows"] == len(cancer)
    assert len(as_dict["violations"]) == 5
    assert all(set(v) == {"column", "rule", "count", "message", "examples"} for v in as_dict["violations"])
    summary = report.summary()
    assert summary.splitlines()[0] == f"data validation failed: {len(cancer)} rows, 5 violations"
    assert "column 'extra'" in summary and "column 'mean area'" in summary


def test_rows_are_positions_in_the_csv_file(tmp_path: Path, cancer: pd.DataFrame) -> None:
    reference = tmp_path / "reference.csv"
    cancer.to_csv(reference, index=False)
    schema = infer_schema(read_table(reference), target="target")
    drifted = cancer.astype({"mean perimeter": object})
    drifted.loc[42, "mean perimeter"] = "missing"
    incoming = tmp_path / "incoming.csv"
    drifted.to_csv(incoming, index=False)
    violation = only_violation(validate_frame(read_table(incoming), schema))
    assert (violation.rule, violation.column) == ("dtype", "mean perimeter")
    assert violation.examples == [{"row": 42, "value": "missing"}]


# --------------------------------------------------------------------------- reading tables


def test_read_table_reads_a_csv(tmp_path: Path, wine: pd.DataFrame) -> None:
    path = tmp_path / "wine.csv"
    wine.to_csv(path, index=False)
    frame = read_table(path)
    assert list(frame.columns) == list(wine.columns)
    assert frame.shape == wine.shape


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty"),
        (b"\n\n\n", "no columns"),
        (b"a,b\n1,2\n3,4,5,6\n", "not a parseable CSV"),
        (b"a,b\n\xff\xfe\x00\x81,\x9c\n", "not a UTF-8"),
    ],
    ids=["empty", "blank-lines", "ragged", "binary"],
)
def test_read_table_bad_files_name_the_file(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "broken.csv"
    path.write_bytes(content)
    with pytest.raises(MlopsError) as caught:
        read_table(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert problem in str(caught.value)


def test_read_table_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MlopsError, match="not found") as caught:
        read_table(tmp_path / "nope.csv")
    assert "nope.csv" in str(caught.value)


def test_read_table_reads_parquet_with_dates_text_labels_and_nulls(tmp_path: Path, cancer: pd.DataFrame) -> None:
    frame = cancer.iloc[:50, :3].assign(
        visit=pd.date_range("2024-01-01", periods=50, freq="D"),
        diagnosis=np.where(cancer["target"].iloc[:50] == 1, "benign", "malignant"),
    )
    frame.loc[[3, 7], "mean radius"] = np.nan
    path = tmp_path / "patients.parquet"
    frame.to_parquet(path)
    read = read_table(path)
    assert list(read.columns) == list(frame.columns)
    assert read["mean radius"].isna().sum() == 2
    assert pd.api.types.is_datetime64_any_dtype(read["visit"])
    assert infer_schema(read, target="diagnosis")["columns"]["visit"]["kind"] == "datetime"


def test_read_table_broken_parquet_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(MlopsError, match="not a readable Parquet file") as caught:
        read_table(path)
    assert "data.parquet" in str(caught.value)


# --------------------------------------------------------------------------- schema files


def test_schema_save_load_round_trip(tmp_path: Path, shop: pd.DataFrame) -> None:
    schema = infer_schema(shop, target="quantity")
    path = save_schema(schema, tmp_path / "data" / "schema.json")  # parent is created
    assert load_schema(path) == schema
    assert load_schema(path)["order"] == list(shop.columns)  # column order survives sorted keys
    text = path.read_text()
    assert text.endswith("}\n")
    save_schema(load_schema(path), path)
    assert path.read_text() == text  # stable: re-saving does not create a diff


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "top level must be an object"),
        ('{"version": 2, "columns": {"a": {"dtype": "int"}}}', "version"),
        ('{"version": 1, "columns": {}}', "columns"),
        ('{"version": 1, "columns": {"a": {"dtype": "integer"}}}', "columns.a.dtype"),
        ('{"version": 1, "columns": {"a": {"dtype": "category"}}}', "columns.a.categories"),
        ('{"version": 1, "columns": {"a": {"dtype": "int", "kind": "number"}}}', "columns.a.kind"),
        ('{"version": 1, "order": ["a", "b"], "columns": {"a": {"dtype": "int"}}}', "order"),
        ('{"version": 1, "target": "y", "columns": {"a": {"dtype": "int"}}}', "target"),
    ],
    ids=["not-json", "list", "version", "no-columns", "bad-dtype", "no-categories", "bad-kind", "order", "target"],
)
def test_corrupt_schema_file_gives_a_clear_error(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "schema.json"
    path.write_text(content)
    with pytest.raises(MlopsError) as caught:
        load_schema(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert problem in str(caught.value)


def test_missing_schema_file(tmp_path: Path) -> None:
    with pytest.raises(MlopsError, match="schema file not found") as caught:
        load_schema(tmp_path / "schema.json")
    assert "schema.json" in str(caught.value)


# --------------------------------------------------------------------------- JUnit


def test_report_to_junit_one_case_per_column(tmp_path: Path, cancer: pd.DataFrame, cancer_schema: dict) -> None:
    drifted = cancer.drop(columns=["mean area"]).assign(extra=0)
    drifted.loc[[1, 2], "mean radius"] = 99.0
    drifted.loc[3, "worst symmetry"] = np.nan
    report = validate_frame(drifted, cancer_schema)
    path = report_to_junit(report, tmp_path / "reports" / "data.xml")

    suite = ET.parse(path).getroot()
    cases = suite.findall("testcase")
    assert suite.get("name") == "data-validation"
    assert len(cases) == len(cancer.columns) + 1  # every schema column, plus `table`
    failed = {case.get("classname"): case.find("failure") for case in cases if case.find("failure") is not None}
    assert suite.get("failures") == "4"
    assert set(failed) == {"data.mean area", "data.mean radius", "data.worst symmetry", "data"}
    assert "2 values above max" in failed["data.mean radius"].get("message")
    assert "'extra'" in failed["data"].get("message")
    assert [case.get("name") for case in cases if case.get("classname") == "data"] == ["table"]


def test_report_to_junit_all_passing(tmp_path: Path, wine: pd.DataFrame) -> None:
    report = validate_frame(wine, infer_schema(wine))
    suite = ET.parse(report_to_junit(report, tmp_path / "ok.xml", suite_name="wine")).getroot()
    assert (suite.get("name"), suite.get("tests"), suite.get("failures")) == ("wine", str(wine.shape[1] + 1), "0")

