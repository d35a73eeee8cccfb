"""cli/text.py, the human view of results: each reason printed once, a drift table whose statistic
sits beside its own threshold and whose p-value beside its own cut-off, registry versions told
apart. Given the dicts the modules really produce: a drift report of scikit-learn's data, a data
validation run through the CLI, estimators' own parameters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier

from mlops_helpers.cli import main
from mlops_helpers.cli.text import drift_table, failure_line, versions_table
from mlops_helpers.data.schema import infer_schema, save_schema
from mlops_helpers.monitoring.drift import DriftSettings, detect_drift
from mlops_helpers.monitoring.reference import ReferenceProfile


def wine_table() -> pd.DataFrame:
    """Wine with a text label and a categorical column, as a user's own file would have them."""
    data = load_wine(as_frame=True)
    frame = data.frame.rename(columns={"target": "cultivar"})
    frame["cultivar"] = frame["cultivar"].map(dict(enumerate(["barbera", "barolo", "grignolino"])))
    frame["cellar"] = np.random.default_rng(0).choice(["north: 'old'", "south", "east"], len(frame))
    return frame


def parse(text: str) -> list[dict[str, str]]:
    """The rows of a console.table (header, dashes, rows), cut at the header's column starts."""
    header, dashes, *rows = text.splitlines()
    starts = [0] + [i + 2 for i in range(len(dashes) - 1) if dashes[i:i + 2] == "  "]
    names = [header[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
    return [{name: row[a:b].strip() for name, a, b in zip(names, starts, [*starts[1:], None], strict=True)}
            for row in rows if row and not row.startswith(("threshold:", "p <"))]


# --- a failed check: the details once, then a one-line headline ----------------------------------


def test_a_failed_data_validation_prints_each_violation_once_and_no_tick(tmp_path: Path) -> None:
    frame = wine_table()
    frame.to_csv(tmp_path / "wine.csv", index=False)
    save_schema(infer_schema(frame, target="cultivar"), tmp_path / "schema.json")
    (tmp_path / "mlops.yaml").write_text(yaml.safe_dump(
        {"version": 1, "project": "own", "data": {"path": "wine.csv", "target": "cultivar", "schema": "schema.json"}}))
    batch = frame.tail(10).reset_index(drop=True)
    batch.loc[2, "alcohol"] = 25.0
    batch.loc[4, "magnesium"] = None
    batch.to_csv(tmp_path / "bad.csv", index=False)

    result = CliRunner().invoke(main, ["data", "validate", "--data", str(tmp_path / "bad.csv"),
                                       "-c", str(tmp_path / "mlops.yaml")])
    assert result.exit_code == 1, result.output
    violations = json.loads((tmp_path / "mlops-out/reports/data-validation.json").read_text())["violations"]
    assert violations
    both = result.stdout + result.stderr
    for violation in violations:
        assert both.count(violation["message"]) == 1, both
    assert "✓ Validating" not in result.stderr and "✗ Validating data against the schema" in result.stderr
    (failed,) = [line for line in result.stderr.splitlines() if line.startswith("FAILED:")]
    assert failed.startswith("FAILED: data validation failed: 10 rows,")


def test_a_gate_failure_headline_names_the_failed_gates_without_repeating_the_table() -> None:
    gates = [{"name": "accuracy threshold", "passed": False, "message": "accuracy 0.6389 is below the minimum 0.85"},
             {"name": "f1 threshold", "passed": True, "message": "f1 0.9 >= 0.8"}]
    line = failure_line("gate failed: accuracy 0.6389 is below the minimum 0.85", {"gates": gates})
    assert line == "1 of 2 gates failed: accuracy threshold"
    assert failure_line("infra validation failed: port closed", {"verified": False}) == "infra validation failed: port closed"


# --- the drift table: statistics and p-values each beside their own threshold --------------------


def drift_report(settings: DriftSettings) -> dict[str, Any]:
    frame = wine_table().drop(columns=["cultivar"])
    reference = frame.sample(frac=0.5, random_state=1)
    live = frame.drop(reference.index).assign(alcohol=lambda f: f["alcohol"] + 1.0)  # one shifted feature
    return detect_drift(ReferenceProfile.build(reference), live, settings).to_dict()


def test_a_tests_cut_off_is_in_the_p_value_columns_never_beside_the_statistic() -> None:
    drift = drift_report(DriftSettings(min_samples=20))  # small windows: KS and chi-square decide
    rows = {row["feature"]: row for row in parse(drift_table(drift))}
    for feature in drift["features"]:
        row = rows[feature["feature"]]
        assert feature["method"] in ("ks", "chi2")
        assert row["threshold"] == ""  # a KS statistic has no threshold here
        assert float(row["p cut-off"]) == pytest.approx(feature["threshold"], rel=1e-3)  # alpha / 14 columns
        assert float(row["p-value"]) == pytest.approx(feature["p_value"], rel=1e-3, abs=1e-300)
        assert float(row["statistic"]) == pytest.approx(feature["statistic"], rel=1e-3)
    assert rows["alcohol"]["verdict"] == "drift"


def test_a_distances_threshold_is_beside_it_and_the_confirming_tests_cut_off_beside_the_p_value() -> None:
    auto = drift_report(DriftSettings(min_samples=20, large_window=10))  # "large" windows: distances decide
    checked = len(auto["features"])
    for row, feature in zip(parse(drift_table(auto)), auto["features"], strict=True):
        assert feature["method"] in ("wasserstein", "jensenshannon")
        assert float(row["threshold"]) == pytest.approx(feature["threshold"])  # same units as the statistic
        test_alpha = DriftSettings().thresholds["chi2" if feature["kind"] == "categorical" else "ks"]
        assert float(row["p cut-off"]) == pytest.approx(test_alpha / checked, rel=1e-3)
        # What the table shows is what decided: beyond the threshold and under the cut-off is drift.
        decided = float(row["statistic"]) >= float(row["threshold"]) and float(row["p-value"]) < float(row["p cut-off"])
        assert (row["verdict"] == "drift") == decided, row
    explicit = drift_report(DriftSettings(min_samples=20, numeric_method="wasserstein"))
    numeric = [row for row, f in zip(parse(drift_table(explicit)), explicit["features"], strict=True)
               if f["kind"] != "categorical"]
    assert numeric and all(row["p cut-off"] == "" and row["threshold"] == "0.1" for row in numeric)  # alone decides


# --- registry versions: the primary metric and the parameters that tell them apart -----------------


def registered(version: int, params: dict[str, Any], accuracy: float, stages: list[str]) -> dict[str, Any]:
    """A version as ModelVersion.to_dict() gives it, with the estimator's own full parameter set."""
    return {"version": version, "stages": stages, "created_at": f"2026-01-0{version}T10:00:00+00:00",
            "metadata": {"estimator": "RandomForestClassifier",
                         "params": RandomForestClassifier(**params).get_params(deep=False)},
            "lineage": {"metrics": {"f1": 0.9, "log_loss": 0.2, "accuracy": accuracy}, "data": {"md5": "5afc23b9ff"}}}


def test_registry_versions_show_the_primary_metric_and_only_the_parameters_that_differ() -> None:
    versions = [registered(1, {"n_estimators": 200, "max_depth": 8}, 0.9561, ["production"]),
                registered(2, {"n_estimators": 300, "max_depth": 8}, 0.9649, ["staging"]),
                registered(3, {"n_estimators": 300, "max_depth": 4}, 0.9386, [])]
    rows = parse(versions_table(versions, "accuracy"))
    assert [row["metric"] for row in rows] == ["accuracy=0.9561", "accuracy=0.9649", "accuracy=0.9386"]
    assert [row["parameters that differ"] for row in rows] == [
        "max_depth=8 n_estimators=200", "max_depth=8 n_estimators=300", "max_depth=4 n_estimators=300"]
    assert "random_state" not in versions_table(versions, "accuracy")  # shared by all: left out
    single = parse(versions_table(versions[:1], None))
    assert single[0]["parameters that differ"] == "" and single[0]["metric"] == "f1=0.9000"  # no primary: the first
