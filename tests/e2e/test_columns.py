"""Column kinds through the real CLI: a project from `mlops init --dataset breast_cancer` whose data
file is then replaced by a clinic's export (an ID, visit times, yes/no answers, gaps), as a user
who started from the bundled set does. The ID is refused with the fix, the dates become features
that the served model takes as text, a typo in a number column is an error even with
`validation.data: false`, and a 10-row batch is not failed for one null."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from cli_support import Project, make_project

pytestmark = pytest.mark.slow  # `mlops run`, with a model server started once

DATA = "data/breast_cancer.csv"


def clinic_export(path: Path) -> pd.DataFrame:
    bunch = load_breast_cancer(as_frame=True)
    rng = np.random.default_rng(21)
    rows = len(bunch.frame)
    frame = bunch.data.iloc[:, :10].copy()
    frame.insert(0, "patient_id", [f"P-{i:05d}" for i in rng.permutation(rows) + 1])
    visits = pd.Timestamp("2023-03-01 08:00") + pd.to_timedelta(rng.integers(0, 500 * 24, rows), unit="h")
    frame.insert(1, "visited", visits.strftime("%Y-%m-%dT%H:%M:%SZ"))
    frame["smoker"] = rng.choice(["yes", "no"], rows)
    frame.loc[rng.choice(rows, 22, replace=False), "mean area"] = np.nan  # a 3.9% null rate
    frame["target"] = bunch.target
    frame.to_csv(path, index=False)
    return frame


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def test_an_export_with_an_id_and_dates_from_refusal_to_a_served_model(tmp_path: Path) -> None:
    project: Project = make_project(tmp_path, "breast_cancer")
    frame = clinic_export(project.root / DATA)

    inferred = project.mlops("data", "infer-schema")
    assert "warning: column 'patient_id' looks like an ID or free text" in inferred.stderr
    assert "column 'visited': dates and times, expanded into year, month, day" in inferred.stderr
    kinds = {name: spec["kind"] for name, spec in json.loads((project.root / "data/schema.json").read_text())["columns"].items()}
    assert (kinds["patient_id"], kinds["visited"], kinds["smoker"]) == ("identifier", "datetime", "boolean")

    refused = project.mlops("train", check=2)
    assert last_line(refused.stderr) == (
        f"error: column 'patient_id' ({len(frame)} distinct values in {len(frame)} rows) looks like an ID or free "
        "text, not a feature: set training.preprocessing.drop: [patient_id] (or, to keep it as a category, set its "
        "kind to categorical in data/schema.json)"
    )
    assert "Traceback" not in refused.stderr

    config = project.root / "mlops.yaml"
    config.write_text(config.read_text().replace("    drop: []", "    drop: [patient_id]", 1))
    project.git("add", "--all")
    project.git("commit", "-qm", "the clinic's export; its patient ID is not a feature")
    run = project.mlops("run", "--deliver", "local", "--output", "json").json()
    assert run["ok"] and run["registered"]["version"] == 1
    assert run["delivery"]["verified"]  # the model server answered the hold-out rows, visit times as text
    features = {f["name"]: f for f in json.loads((project.root / "mlops-out/model/metadata.json").read_text())["features"]}
    assert "patient_id" not in features and features["visited"]["dtype"] in ("str", "object")
    holdout = pd.read_csv(project.root / "mlops-out/model/holdout.csv")
    assert holdout["visited"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all()

    typo = frame.astype({"mean texture": object})
    typo.loc[40, "mean texture"] = "twelve"
    typo.to_csv(project.root / DATA, index=False)
    broken = project.mlops("run", "--set", "validation.data=false", "--deliver", "none", check=2)
    assert last_line(broken.stderr) == (
        "error: column 'mean texture': data row 41 holds 'twelve', which is not a number, though data/schema.json "
        "makes the column numeric: fix the value, or the column's kind in the schema"
    )
    assert [v["version"] for v in project.mlops("registry", "list", "--output", "json").json()["versions"]] == [1]

    batch = frame.iloc[-10:].copy()
    batch.loc[batch.index[3], "mean area"] = np.nan  # 1 in 10, where the reference has 3.9%
    batch.to_csv(tmp_path / "batch.csv", index=False)
    checked = project.mlops("data", "validate", "--data", str(tmp_path / "batch.csv"), "--output", "json").json()
    assert checked["ok"] and checked["rows"] == 10
