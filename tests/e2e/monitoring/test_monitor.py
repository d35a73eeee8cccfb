"""`mlops monitor check|watch|report` on a real project: a model trained by `mlops run`, served by
`mlops serve` with a prediction log, traffic from the data set it was trained on (and shifted
copies of it), ground truth fed back through `/feedback`.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from cli_support import Project, make_project, run_mlops
from serving_support import running_server

TARGET = "target"


@dataclass
class Monitored:
    project: Project
    data: pd.DataFrame  # the training data (features + target)

    @property
    def features(self) -> list[str]:
        return [column for column in self.data.columns if column != TARGET]

    def log_folder(self, name: str) -> Path:
        return self.project.root / "logs" / name

    def serve_traffic(self, name: str, frame: pd.DataFrame, feedback: pd.Series | None = None,
                      batch: int = 20) -> Path:
        """Serve production with a prediction log in logs/<name>, send `frame` (and labels as feedback)."""
        folder = self.log_folder(name)
        with running_server("--model", "@production", "--prediction-log", str(folder / "predictions.jsonl"),
                            cwd=self.project.root) as server:
            for start in range(0, len(frame), batch):
                rows = frame.iloc[start:start + batch]
                response = server.predict({"records": json.loads(rows[self.features].to_json(orient="records"))})
                assert response.status == 200, response
                if feedback is not None:
                    request_id = json.loads(response.body)["request_id"]
                    labels = feedback.iloc[start:start + batch].tolist()
                    answer = _post(f"http://127.0.0.1:{server.port}/feedback", {"request_id": request_id, "labels": labels})
                    assert answer["rows"] == len(labels)
        return folder

    def check(self, folder: Path, *extra: str, code: int) -> dict:
        return run_mlops("monitor", "check", "--log", str(folder), "--output", "json", *extra,
                         cwd=self.project.root, check=code).json()


def _post(url: str, payload: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Monitored]:
    project = make_project(tmp_path_factory.mktemp("monitor"), "breast_cancer")
    project.mlops("run")
    project.mlops("registry", "promote", "@1", "--to", "production")
    data = pd.read_csv(project.root / "data" / "breast_cancer.csv")
    yield Monitored(project, data)


def sample(data: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    return data.sample(n=rows, replace=True, random_state=seed).reset_index(drop=True)


def test_training_writes_the_reference_with_the_model(monitored: Monitored) -> None:
    registered = monitored.project.mlops("registry", "show", "@1", "--output", "json").json()
    reference = json.loads((Path(registered["path"]) / "reference.json").read_text())
    assert [feature["name"] for feature in reference["features"]] == monitored.features
    assert reference["prediction"]["kind"] == "categorical"
    assert "reference.json" in (Path(registered["path"]) / "SHA256SUMS").read_text()


def test_unshifted_traffic_is_ok_and_shifted_traffic_asks_for_retraining(monitored: Monitored) -> None:
    live = sample(monitored.data, 600, seed=1)
    folder = monitored.serve_traffic("unshifted", live, feedback=live[TARGET])
    ok = monitored.check(folder, code=0)
    assert ok["status"] == "ok" and ok["retrain"] is False and ok["reasons"] == []
    assert ok["window"]["rows"] == 600 and ok["findings"] == {"drift": "clear", "accuracy": "clear", "data_change": "clear"}
    assert ok["performance"]["feedback_rows"] == 600 and ok["performance"]["accuracy"] > 0.9

    shifted = sample(monitored.data, 600, seed=2)
    stds = monitored.data[monitored.features].std()
    shifted[monitored.features] = shifted[monitored.features] + stds  # every feature one std up
    folder = monitored.serve_traffic("shifted", shifted)
    verdict = monitored.check(folder, code=1)
    assert verdict["status"] == "retrain" and verdict["findings"]["drift"] == "fired"
    assert verdict["reasons"][0].startswith("data drift: ") and verdict["drift"]["drifted_share"] >= 0.5
    assert verdict["findings"]["accuracy"] == "insufficient_data"  # no feedback this time
    drifted = {feature["feature"] for feature in verdict["drift"]["features"] if feature["verdict"] == "drift"}
    assert len(drifted) >= len(monitored.features) // 2


def test_falling_live_accuracy_asks_for_retraining(monitored: Monitored) -> None:
    live = sample(monitored.data, 300, seed=3)
    folder = monitored.serve_traffic("wrong-labels", live, feedback=1 - live[TARGET])  # the world changed its mind
    verdict = monitored.check(folder, code=1)
    assert verdict["findings"]["accuracy"] == "fired" and verdict["findings"]["drift"] == "clear"
    assert verdict["performance"]["accuracy"] < 0.2
    assert any(reason.startswith("live accuracy ") for reason in verdict["reasons"])


def test_too_small_a_window_is_insufficient_data_not_ok(monitored: Monitored) -> None:
    folder = monitored.serve_traffic("tiny", sample(monitored.data, 40, seed=4))
    verdict = monitored.check(folder, code=3)
    assert verdict["status"] == "insufficient_data" and verdict["drift"]["verdict"] == "insufficient_data"
    assert all(feature["verdict"] == "insufficient_data" for feature in verdict["drift"]["features"])


def test_bad_log_lines_are_skipped_and_a_foreign_log_is_refused(monitored: Monitored, tmp_path: Path) -> None:
    source = monitored.serve_traffic("torn", sample(monitored.data, 300, seed=5))
    folder = tmp_path / "torn"
    shutil.copytree(source, folder)
    log = next(folder.glob("*.jsonl"))
    with open(log, "a") as handle:
        handle.write('{"time": 1, "inputs": [1, 2]}\n{"torn line')
    verdict = monitored.check(folder, code=0)
    assert verdict["window"]["rows"] == 300 and verdict["window"]["skipped_lines"] >= 1
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "predictions.1.jsonl").write_text(json.dumps(
        {"time": __import__("time").time(), "request_id": "r1", "inputs": {"other": [1.0]}, "predictions": [0]}) + "\n")
    failed = run_mlops("monitor", "check", "--log", str(foreign), cwd=monitored.project.root, check=2)
    assert "has no column" in failed.stderr and "another model version" in failed.stderr


def test_new_data_version_is_a_trigger(monitored: Monitored, tmp_path: Path) -> None:
    folder = monitored.serve_traffic("data-change", sample(monitored.data, 300, seed=6))
    data_file = monitored.project.root / "data" / "breast_cancer.csv"
    original = data_file.read_bytes()
    try:
        data_file.write_bytes(original + original.split(b"\n", 1)[1][:2000].rsplit(b"\n", 1)[0] + b"\n")
        verdict = monitored.check(folder, code=1)
        assert verdict["findings"]["data_change"] == "fired"
        assert any(reason.startswith("new data version: data/breast_cancer.csv") for reason in verdict["reasons"])
        # Only the configured triggers count.
        calm = monitored.check(folder, "--set", "monitoring.trigger.when=[drift]", code=0)
        assert calm["findings"]["data_change"] == "off" and calm["reasons"] == []
    finally:
        data_file.write_bytes(original)


def test_trigger_cooldown_and_deduplication(monitored: Monitored) -> None:
    shifted = sample(monitored.data, 400, seed=7)
    shifted[monitored.features] = shifted[monitored.features] * 1.5
    folder = monitored.serve_traffic("trigger", shifted)
    state = "--set", "monitoring.state_dir=.mlops/monitor-trigger-test"
    first = monitored.check(folder, "--act", *state, code=1)
    assert first["trigger"]["fired"] is True and first["trigger"]["action"] == "none"
    again = monitored.check(folder, "--act", *state, code=1)
    assert again["trigger"]["fired"] is False and "already triggered for this finding" in again["trigger"]["reason"]
    # A different finding (drift + accuracy) is a new key, but the cool-down holds it back.
    wrong = monitored.serve_traffic("trigger-accuracy", shifted, feedback=1 - shifted[TARGET])
    other = monitored.check(wrong, "--act", *state, code=1)
    assert other["trigger"]["fired"] is False and "cooling down until" in other["trigger"]["reason"]
    # Without a cool-down it fires, once.
    fired = monitored.check(wrong, "--act", *state, "--set", "monitoring.trigger.cooldown=0", code=1)
    assert fired["trigger"]["fired"] is True and fired["trigger"]["key"] != first["trigger"]["key"]


def test_report_is_written_with_a_plot_per_feature(monitored: Monitored) -> None:
    folder = monitored.serve_traffic("report", sample(monitored.data, 300, seed=8))
    out = monitored.project.root / "mlops-out" / "monitor.html"
    result = run_mlops("monitor", "report", "--log", str(folder), "--out", str(out), "--output", "json",
                       cwd=monitored.project.root).json()
    html = out.read_text()
    assert result["report"] == str(out) and html.count("<svg") >= len(monitored.features)
    assert "http://" not in html and "https://" not in html


def test_text_summary_names_each_feature(monitored: Monitored) -> None:
    folder = monitored.serve_traffic("text", sample(monitored.data, 300, seed=9))
    result = run_mlops("monitor", "check", "--log", str(folder), cwd=monitored.project.root, check=0)
    assert result.stdout.startswith("breast_cancer v1 in production: OK")
    for feature in monitored.features[:5]:
        assert feature in result.stdout


def test_unknown_version_is_refused_clearly(monitored: Monitored) -> None:
    failed = run_mlops("monitor", "check", "--version", "99", cwd=monitored.project.root, check=2)
    assert "99" in failed.stderr and failed.stdout == ""


@pytest.mark.jenkins  # the recorded Jenkins REST exchanges (JenkinsReplay), not a fixture
def test_jenkins_action_queues_the_pipeline_with_its_parameters(monitored: Monitored) -> None:
    """Against the recorded Jenkins REST contract (tests/jenkins_recordings; no Jenkins runs here)."""
    from jenkins_replay import JenkinsReplay

    shifted = sample(monitored.data, 300, seed=10)
    shifted[monitored.features] = shifted[monitored.features] * 1.5
    folder = monitored.serve_traffic("jenkins", shifted)
    server = JenkinsReplay("monitor_trigger").start()
    try:
        jenkins = json.dumps({"url": server.url, "job": "train-model", "parameters": {"DATASET": "wine", "MAX_DEPTH": "5"}})
        result = run_mlops("monitor", "check", "--log", str(folder), "--act", "--output", "json",
                           "--set", "monitoring.state_dir=.mlops/monitor-jenkins-test",
                           "--set", "monitoring.trigger.action=jenkins", "--set", f"monitoring.trigger.jenkins={jenkins}",
                           cwd=monitored.project.root, check=1, env={"JENKINS_USER": "ds", "JENKINS_API_TOKEN": "s3cret"})
        trigger = result.json()["trigger"]
        assert trigger["fired"] is True and trigger["action"] == "jenkins"
        assert trigger["outcome"]["queue_id"] == 42 and trigger["outcome"]["job"] == "train-model"
        assert trigger["outcome"]["parameters"] == {"DATASET": "wine", "MAX_DEPTH": "5"}
        (post,) = server.received("POST", "/job/train-model/buildWithParameters")
        assert post.query == [("DATASET", "wine"), ("MAX_DEPTH", "5")]
        assert "s3cret" not in result.stdout and "s3cret" not in result.stderr
        server.assert_clean()
    finally:
        server.stop()


def test_unreachable_jenkins_is_reported_and_not_recorded(monitored: Monitored) -> None:
    """A failed action leaves no trigger record, so the next check tries again."""
    from jenkins_replay import closed_port_url

    shifted = sample(monitored.data, 300, seed=11)
    shifted[monitored.features] = shifted[monitored.features] * 1.5
    folder = monitored.serve_traffic("jenkins-down", shifted)
    jenkins = json.dumps({"url": closed_port_url(), "job": "train-model"})
    state = monitored.project.root / ".mlops" / "monitor-jenkins-down"
    result = run_mlops("monitor", "check", "--log", str(folder), "--act", "--output", "json",
                       "--set", f"monitoring.state_dir={state}", "--set", "monitoring.trigger.action=jenkins",
                       "--set", f"monitoring.trigger.jenkins={jenkins}", cwd=monitored.project.root, check=1)
    verdict = result.json()
    assert verdict["status"] == "retrain" and verdict["trigger"]["fired"] is False  # the verdict is kept
    assert "cannot reach Jenkins" in verdict["trigger"]["error"] and "action failed" in result.stderr
    assert not (state / "production" / "triggers.jsonl").exists()


def test_watch_checks_on_an_interval_and_acts_once(monitored: Monitored) -> None:
    shifted = sample(monitored.data, 300, seed=12)
    shifted[monitored.features] = shifted[monitored.features] * 1.5
    folder = monitored.serve_traffic("watch", shifted)
    state = "--set", "monitoring.state_dir=.mlops/monitor-watch-test"
    result = run_mlops("monitor", "watch", "--log", str(folder), "--interval", "0.2", "--checks", "3", "--output", "json",
                       *state, cwd=monitored.project.root)
    summary = result.json()
    assert summary["checks"] == 3 and summary["last"]["status"] == "retrain"
    lines = [line for line in result.stderr.splitlines() if " v1: retrain" in line]
    assert len(lines) == 3 and "trigger: data drift" in lines[0]
    assert all("already triggered for this finding" in line for line in lines[1:])
