"""A data scientist's own table, start to finish (issue 13's acceptance), as they would type it:
`mlops init DIR --data FILE --target COLUMN`, `mlops run` (which trains, gates, registers and
deploys locally), POST /predict and /feedback on the router, `mlops monitor check`.

The files are shaped like users' files (tests/support/user_data.py): text labels, three classes,
a categorical column whose values hold quotes and a colon, missing values, a regression target,
Parquet, dates and IDs. The refusals of `mlops init` run first, without training.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

import user_data
from cli_support import CliResult, Project, run_mlops
from mlops_helpers.ports import free_port
from user_data import UserTable

LIVE_ROWS = 240  # above monitoring.min_samples (200), so the check can judge the window
BATCH = 40
LOG_WAIT_SECONDS = 30.0


# --- what the user does ---------------------------------------------------------------


@dataclass
class Deployed:
    project: Project
    table: UserTable
    init: dict
    run: dict
    port: int
    ports: tuple[str, ...]  # the --set flags that put the router on free ports

    def post(self, path: str, payload: dict) -> tuple[int, dict]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=json.dumps(payload).encode(),
                                         headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, {"error": error.read().decode(errors="replace")}

    def predict(self, rows: pd.DataFrame, query: str = "") -> dict:
        status, answer = self.post(f"/predict{query}", {"records": self.table.feature_rows(rows)})
        assert status == 200, answer
        return answer

    def live_traffic(self, seed: int = 1) -> list:
        """LIVE_ROWS rows of the user's own table, predicted, then fed back with the labels they wrote."""
        rows = self.table.frame.sample(n=LIVE_ROWS, replace=True, random_state=seed).reset_index(drop=True)
        predictions: list = []
        for start in range(0, LIVE_ROWS, BATCH):
            batch = rows.iloc[start:start + BATCH]
            answer = self.predict(batch)
            predictions += answer["predictions"]
            labels = self.table.target_values(batch)
            status, scored = self.post("/feedback", {"request_id": answer["request_id"], "labels": labels})
            assert status == 200 and scored["rows"] == len(labels), scored
        return predictions

    def monitor_check(self) -> CliResult:
        """`mlops monitor check` once the servers' prediction logs hold every row sent (they write
        from a background thread)."""
        deadline = time.monotonic() + LOG_WAIT_SECONDS
        while True:
            result = self.project.mlops("monitor", "check", "--output", "json", check=None)
            window = result.json().get("window", {}) if result.stdout else {}
            feedback = result.json().get("performance", {}).get("feedback_rows", 0) if result.stdout else 0
            if (window.get("rows", 0) >= LIVE_ROWS and feedback >= LIVE_ROWS) or time.monotonic() > deadline:
                return result
            time.sleep(0.5)


def init_project(tmp_path: Path, table: UserTable, *extra: str, check: int = 0) -> tuple[Project, CliResult]:
    root, remote = tmp_path / "project", tmp_path / "dvc-remote"
    result = run_mlops("init", str(root), "--data", str(table.path), "--target", table.target,
                       "--dvc-remote", str(remote), *extra, "--output", "json", cwd=tmp_path, check=check)
    return Project(root, remote), result


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[Callable[[UserTable], Deployed]]:
    """`deploy(table)`: init from the user's file and `mlops run`, which rolls v1 out on free ports."""
    started: list[Deployed] = []

    def deploy(table: UserTable) -> Deployed:
        project, init = init_project(tmp_path, table)
        port = free_port()
        ports = ("--set", f"deploy.local.port={port}", "--set", f"deploy.local.admin_port={free_port()}")
        done = Deployed(project, table, init.json(), {}, port, ports)
        started.append(done)
        done.run = project.mlops("run", *ports, "--output", "json").json()
        return done

    yield deploy
    for done in started:
        done.project.mlops("undeploy", *done.ports, check=None)


def assert_rolled_out(done: Deployed, task: str) -> None:
    run = done.run
    assert run["ok"] is True and run["task"] == task, run
    assert run["registered"]["version"] == 1
    assert run["deployment"]["outcome"] == "promoted" and run["deployment"]["stable"] == "1", run["deployment"]


def assert_monitored(done: Deployed) -> dict:
    result = done.monitor_check()
    verdict = result.json()
    assert result.code == 0 and verdict["status"] == "ok", (result.stderr, verdict)
    assert verdict["window"]["rows"] == LIVE_ROWS and verdict["performance"]["feedback_rows"] == LIVE_ROWS
    assert verdict["findings"]["drift"] == "clear"
    return verdict


# --- the refusals of `mlops init --data`: one line, exit 2, nothing created --------------


@pytest.fixture(scope="module")
def cancer_csv(tmp_path_factory: pytest.TempPathFactory) -> UserTable:
    return user_data.breast_cancer_text_labels(tmp_path_factory.mktemp("files") / "patients.csv")


def refused(tmp_path: Path, *args: str) -> str:
    result = run_mlops("init", "new-project", *args, cwd=tmp_path, check=2)
    assert not (tmp_path / "new-project").exists(), "a refused init created the folder"
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr.strip()


def test_a_misspelt_target_names_the_closest_columns_and_lists_them_all(tmp_path: Path, cancer_csv: UserTable) -> None:
    message = refused(tmp_path, "--data", str(cancer_csv.path), "--target", "diagnosys")
    assert message.startswith("error: --target: column 'diagnosys' is not in patients.csv (did you mean 'diagnosis'?)")
    assert all(column in message for column in cancer_csv.frame.columns)  # every column, none cut off
    no_target = refused(tmp_path, "--data", str(cancer_csv.path))
    assert "--target: required with --data" in no_target and "worst fractal dimension, referral, diagnosis" in no_target


def test_a_missing_folder_like_or_unsupported_file_is_refused(tmp_path: Path) -> None:
    missing = refused(tmp_path, "--data", str(tmp_path / "nope.csv"), "--target", "y")
    assert missing == f"error: --data: {tmp_path / 'nope.csv'}: data file not found"
    folder = tmp_path / "exports.csv"
    folder.mkdir()
    assert "is a folder, not a CSV or Parquet file" in refused(tmp_path, "--data", str(folder), "--target", "y")
    sheet = tmp_path / "book.xlsx"
    sheet.write_bytes(b"PK\x03\x04")
    assert "use a CSV (.csv) or Parquet" in refused(tmp_path, "--data", str(sheet), "--target", "y")
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 this is not parquet")
    assert "broken.parquet: not a readable Parquet file" in refused(tmp_path, "--data", str(broken), "--target", "y")


def test_an_empty_file_or_one_without_rows_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "empty.csv: data file is empty" in refused(tmp_path, "--data", str(empty), "--target", "y")
    header = tmp_path / "header.csv"
    header.write_text("a,b,y\n")
    assert "header.csv: the table has a header but no rows" in refused(tmp_path, "--data", str(header), "--target", "y")


def test_a_regression_task_on_text_labels_names_the_column(tmp_path: Path, cancer_csv: UserTable) -> None:
    message = refused(tmp_path, "--data", str(cancer_csv.path), "--target", "diagnosis", "--task", "regression")
    assert "--task regression: target column 'diagnosis' is not numeric" in message and "'malignant'" in message


def test_data_and_dataset_are_exclusive_and_a_constant_target_has_nothing_to_learn(tmp_path: Path,
                                                                                    cancer_csv: UserTable) -> None:
    both = refused(tmp_path, "--data", str(cancer_csv.path), "--target", "diagnosis", "--dataset", "wine")
    assert "--data and --dataset cannot be used together" in both
    assert "--target: only with --data" in refused(tmp_path, "--dataset", "wine", "--target", "target")
    constant = tmp_path / "constant.csv"
    constant.write_text("x,y\n1,yes\n2,yes\n3,yes\n")
    assert "column 'y' holds one value only ('yes')" in refused(tmp_path, "--data", str(constant), "--target", "y")


# --- start to finish -------------------------------------------------------------------


@pytest.mark.slow
def test_binary_text_labels_come_back_as_the_text_labels(tmp_path: Path, deployed) -> None:
    table = user_data.breast_cancer_text_labels(tmp_path / "patients.csv")
    done = deployed(table)
    assert done.init["task"] == "classification" and done.init["task_reason"] == "target 'diagnosis' has 2 text values"
    assert done.init["positive_label"] == "malignant"  # the rarer class, written into mlops.yaml
    config = (done.project.root / "mlops.yaml").read_text()
    assert yaml.safe_load(config)["training"]["positive_label"] == "malignant" and "the rarer class" in config
    # The file is the user's, byte for byte, and versioned by DVC.
    assert (done.project.root / "data" / "patients.csv").read_bytes() == table.path.read_bytes()
    assert (done.project.root / "data" / "patients.csv.dvc").is_file()
    assert_rolled_out(done, "classification")
    evaluation = json.loads((done.project.root / "mlops-out/reports/evaluation.json").read_text())
    assert "'malignant'" in evaluation["scoring"]

    predictions = done.live_traffic()
    assert set(predictions) <= {"malignant", "benign"} and len(set(predictions)) == 2
    verdict = assert_monitored(done)
    assert verdict["findings"]["accuracy"] == "clear" and verdict["performance"]["accuracy"] > 0.9
    # Rows whose referral holds quotes and a colon, with gaps, are answered too, with probabilities by label.
    quoted = table.frame[table.frame["referral"].fillna("").str.contains('"') & table.frame.isna().any(axis=1)].head(3)
    probabilities = done.predict(quoted, "?probabilities=true")["probabilities"]
    assert len(probabilities) == 3
    assert all(set(row) == {"malignant", "benign"} and abs(sum(row.values()) - 1) < 1e-6 for row in probabilities)


@pytest.mark.slow
def test_three_text_classes_with_a_categorical_feature_and_gaps(tmp_path: Path, deployed) -> None:
    table = user_data.wine_three_cultivars(tmp_path / "wine.csv")
    done = deployed(table)
    assert done.init["task_reason"] == "target 'cultivar' has 3 text values" and done.init["positive_label"] is None
    assert "average: macro" in (done.project.root / "mlops.yaml").read_text()
    assert_rolled_out(done, "classification")
    predictions = done.live_traffic(seed=2)
    assert set(predictions) == {"barolo", "grignolino", "barbera"}
    verdict = assert_monitored(done)
    assert verdict["findings"]["accuracy"] == "clear"
    probabilities = done.predict(table.frame.head(2), "?probabilities=true")["probabilities"]
    assert all(set(row) == {"barolo", "grignolino", "barbera"} for row in probabilities)


@pytest.mark.slow
def test_a_regression_csv(tmp_path: Path, deployed) -> None:
    table = user_data.diabetes_progression(tmp_path / "diabetes.csv")
    done = deployed(table)
    assert done.init["task"] == "regression"
    assert done.init["task_reason"].startswith("target 'progression' is numeric with ")
    assert_rolled_out(done, "regression")
    assert set(done.run["metrics"]) == {"rmse", "mae", "r2", "mape"} and done.run["metrics"]["r2"] > 0.2
    predictions = done.live_traffic(seed=3)
    assert all(isinstance(value, float) for value in predictions) and len(set(predictions)) > 10  # not a constant
    verdict = assert_monitored(done)
    assert verdict["performance"]["mean_abs_error"] < table.frame["progression"].std()


@pytest.mark.slow
def test_a_parquet_file(tmp_path: Path, deployed) -> None:
    table = user_data.iris_parquet(tmp_path / "flowers.parquet")
    done = deployed(table)
    assert done.init["task_reason"] == "target 'species' has 3 text values"
    # Kept as Parquet: the same bytes, read through pyarrow by every stage.
    assert (done.project.root / "data" / "flowers.parquet").read_bytes() == table.path.read_bytes()
    assert '"data/flowers.parquet"' in (done.project.root / "mlops.yaml").read_text()
    assert_rolled_out(done, "classification")
    predictions = done.live_traffic(seed=4)  # records carry the boolean `greenhouse` as JSON true/false
    assert set(predictions) <= {"setosa", "versicolor", "virginica"} and len(set(predictions)) == 3
    assert_monitored(done)


@pytest.mark.slow
def test_dates_and_an_id_column(tmp_path: Path) -> None:
    table = user_data.wine_with_dates_and_ids(tmp_path / "harvests.csv")
    project, init = init_project(tmp_path, table)
    assert init.json()["task"] == "classification"
    port = free_port()
    ports = ("--set", f"deploy.local.port={port}", "--set", f"deploy.local.admin_port={free_port()}")
    # The ID is refused as a feature, before anything is trained or registered, with the fix.
    first = project.mlops("run", *ports, check=2)
    error = first.stderr.strip().splitlines()[-1]
    assert "'sample_id'" in error and "training.preprocessing.drop" in error and "Traceback" not in first.stderr
    assert "registered models: none yet" in project.mlops("registry", "list", check=2).stderr
    # The user follows the message.
    config = project.root / "mlops.yaml"
    config.write_text(config.read_text().replace("    drop: []", "    drop: [sample_id]", 1))
    project.git("commit", "-qam", "drop the sample ID: it is not a feature")
    done = Deployed(project, table, init.json(), {}, port, ports)
    try:
        done.run = project.mlops("run", *ports, "--output", "json").json()
        assert_rolled_out(done, "classification")
        features = [feature["name"] for feature in json.loads((project.root / "mlops-out/model/metadata.json")
                                                               .read_text())["features"]]
        assert "harvested" in features and "sample_id" not in features
        predictions = done.live_traffic(seed=5)  # records carry the harvest date as the file writes it
        assert set(predictions) <= {1, 2, 3} and all(isinstance(value, int) for value in predictions)
        assert_monitored(done)
    finally:
        project.mlops("undeploy", *ports, check=None)
