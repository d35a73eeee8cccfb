"""The main job end to end through the real CLI, git and DVC."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml

from cli_support import Project

pytestmark = pytest.mark.slow  # `mlops run`, the whole pipeline, in every test


def test_classification_project_end_to_end(classification_project: Project) -> None:
    project = classification_project
    summary = project.mlops("run", "--output", "json").json()

    assert summary["ok"] is True
    assert summary["registered"] == {**summary["registered"], "model": "breast_cancer", "version": 1, "stage": "staging"}
    assert summary["metrics"]["accuracy"] > 0.9 and 0.9 < summary["metrics"]["roc_auc"] <= 1
    # Lineage: the exact code commit and DVC data version of this run.
    assert summary["lineage"]["git"]["commit"] == project.git("rev-parse", "HEAD")
    dvc_md5 = yaml.safe_load((project.root / "data/breast_cancer.csv.dvc").read_text())["outs"][0]["md5"]
    assert summary["lineage"]["data"]["md5"] == dvc_md5
    shown = project.mlops("registry", "show", "@staging", "--output", "json").json()
    assert shown["version"] == 1 and shown["lineage"]["data"]["md5"] == dvc_md5
    assert shown["lineage"]["data_version"] == dvc_md5
    metadata = json.loads((project.root / "mlops-out/model/metadata.json").read_text())
    assert {"sklearn", "numpy", "pandas", "python"} <= set(metadata["versions"])
    assert metadata["features"][0] == {"name": "mean radius", "dtype": "float64", "nullable": False}
    # Jenkins reads these reports.
    junit = ET.parse(project.root / "mlops-out/reports/evaluation.xml").getroot()
    assert junit.get("failures") == "0" and int(junit.get("tests")) >= 3


def test_regression_project_end_to_end(regression_project: Project) -> None:
    summary = regression_project.mlops("run", "--output", "json").json()
    assert summary["task"] == "regression"
    assert set(summary["metrics"]) == {"rmse", "mae", "r2", "mape"}
    assert summary["metrics"]["r2"] > 0.3
    assert summary["registered"]["version"] == 1


def test_same_data_config_and_seed_give_identical_predictions(classification_project: Project) -> None:
    project = classification_project
    project.mlops("train", "--out-dir", "first")
    project.mlops("train", "--out-dir", "second")
    holdout = pd.read_csv(project.root / "first/model/holdout.csv").drop(columns=["target"])
    first = joblib.load(project.root / "first/model/model.joblib")
    second = joblib.load(project.root / "second/model/model.joblib")
    np.testing.assert_array_equal(first.predict_proba(holdout), second.predict_proba(holdout))
    assert (project.root / "first/model/holdout.csv").read_bytes() == (project.root / "second/model/holdout.csv").read_bytes()


def test_changed_data_becomes_a_new_distinguishable_version(classification_project: Project) -> None:
    project = classification_project
    first = project.mlops("run", "--output", "json").json()
    data_file = project.root / "data/breast_cancer.csv"
    frame = pd.read_csv(data_file)
    frame.iloc[: len(frame) - 40].to_csv(data_file, index=False)  # new data: 40 rows fewer

    second = project.mlops("run", "--output", "json").json()

    assert second["lineage"]["data"]["md5"] != first["lineage"]["data"]["md5"]
    tracked = yaml.safe_load((project.root / "data/breast_cancer.csv.dvc").read_text())["outs"][0]["md5"]
    assert tracked == second["lineage"]["data"]["md5"]
    versions = project.mlops("registry", "list", "--output", "json").json()["versions"]
    assert [v["lineage"]["data"]["md5"] for v in versions] == [first["lineage"]["data"]["md5"], tracked]
    rows = json.loads((project.root / "mlops-out/model/metadata.json").read_text())["rows"]
    assert rows["train"] + rows["holdout"] == len(frame) - 40


def test_data_push_and_pull_restore_the_tracked_version(classification_project: Project) -> None:
    project = classification_project
    data_file = project.root / "data/breast_cancer.csv"
    status = project.mlops("data", "status", "--output", "json").json()
    assert status["data"]["tracked"] is True and status["up_to_date"] is True
    expected = status["data"]["md5"]
    data_file.unlink()
    # Without the local DVC cache, the data can only come back from the remote.
    shutil.rmtree(project.root / ".dvc/cache")
    pulled = project.mlops("data", "pull", "--output", "json").json()
    assert pulled["data"]["md5"] == expected


def test_threshold_gate_failure_exits_1_and_registers_nothing(classification_project: Project) -> None:
    project = classification_project
    failed = project.mlops("run", "--set", "validation.gates.0.min=0.999", "--output", "json", check=1)
    result = failed.json()
    assert result["ok"] is False and result["passed"] is False
    gate = next(g for g in result["gates"] if g["name"] == "accuracy threshold")
    assert gate["passed"] is False and gate["bound"] == 0.999
    assert "below the minimum 0.999" in failed.stderr and "short by" in failed.stderr
    junit = ET.parse(project.root / "mlops-out/reports/evaluation.xml").getroot()
    assert junit.get("failures") == "1"
    assert project.mlops("registry", "list", "--output", "json", check=2).json()["ok"] is False


def test_non_regression_gate_compares_with_production(classification_project: Project) -> None:
    project = classification_project
    project.mlops("run")
    project.mlops("registry", "promote", "@1", "--to", "production")
    worse = ("--set", "training.params.n_estimators=1", "--set", "training.params.max_depth=1",
             "--set", "validation.gates=[]", "--set", "validation.non_regression.tolerance=0")
    failed = project.mlops("run", *worse, "--output", "json", check=1)
    result = failed.json()
    gate = next(g for g in result["gates"] if g["kind"] == "non_regression")
    assert gate["passed"] is False
    assert result["production"]["version"] == 1
    assert gate["value"] < result["production"]["metrics"]["accuracy"]
    assert "worse than production v1" in failed.stderr
    # A candidate as good as production passes the same gate.
    assert project.mlops("run", "--output", "json").json()["registered"]["version"] == 2


def test_pull_rev_restores_the_data_version_of_an_earlier_commit(classification_project: Project) -> None:
    project = classification_project
    first_commit = project.git("rev-parse", "HEAD")
    first_md5 = project.mlops("data", "status", "--output", "json").json()["data"]["md5"]
    data_file = project.root / "data/breast_cancer.csv"
    pd.read_csv(data_file).iloc[:300].to_csv(data_file, index=False)
    project.mlops("data", "add")
    project.mlops("data", "push")
    project.git("commit", "-qm", "smaller data")
    assert project.mlops("data", "status", "--output", "json").json()["data"]["md5"] != first_md5

    pulled = project.mlops("data", "pull", "--rev", first_commit, "--output", "json").json()
    assert pulled["data"]["md5"] == first_md5
    assert len(pd.read_csv(data_file)) == 569
    assert "invalid reference: no-such-tag" in project.mlops("data", "pull", "--rev", "no-such-tag", check=2).stderr


def test_data_validate_reports_each_schema_drift_and_run_stops(classification_project: Project) -> None:
    project = classification_project
    frame = pd.read_csv(project.root / "data/breast_cancer.csv")
    bad = frame.drop(columns=["worst area"]).assign(extra=1)
    bad["mean radius"] = bad["mean radius"].astype(object)
    bad.loc[3, "mean radius"] = "twelve"
    bad.loc[[5, 6], "mean texture"] = 1e6
    bad.loc[7, "mean area"] = None
    bad.to_csv(project.root / "incoming.csv", index=False)

    failed = project.mlops("data", "validate", "--data", "incoming.csv", "--output", "json", check=1)
    found = {(v["column"], v["rule"]): v for v in failed.json()["violations"]}
    assert set(found) == {("worst area", "missing_column"), ("extra", "unexpected_column"), ("mean radius", "dtype"),
                          ("mean texture", "max"), ("mean area", "nulls")}
    assert found[("mean texture", "max")]["count"] == 2
    assert [e["row"] for e in found[("mean radius", "dtype")]["examples"]] == [3]
    junit = ET.parse(project.root / "mlops-out/reports/data-validation.xml").getroot()
    assert junit.get("failures") == "5"
    # The main job refuses to train on such data and registers nothing.
    bad.to_csv(project.root / "data/breast_cancer.csv", index=False)
    assert "missing_column" in project.mlops("run", "--output", "json", check=1).stdout
    assert not (project.root / "registry").exists()


def test_without_docker_the_main_job_serves_the_model_locally_and_checks_it(classification_project: Project) -> None:
    summary = classification_project.mlops("run", "--output", "json").json()
    delivery = summary["delivery"]
    assert delivery["mode"] == "local" and delivery["verified"] is True
    assert delivery["rows"] == summary_holdout_rows(classification_project)
    annotations = classification_project.mlops("registry", "show", "@1", "--output", "json").json()["annotations"]
    assert annotations["infra_validation"] == {**annotations["infra_validation"], "passed": True, "mismatches": 0, "mode": "local"}


def summary_holdout_rows(project: Project) -> int:
    return len(pd.read_csv(project.root / "mlops-out/model/holdout.csv"))
