"""`mlops jenkins trigger|status|logs` against recorded Jenkins REST exchanges (no live Jenkins).

tests/support/jenkins_replay.py serves tests/jenkins_recordings/*.json strictly: any request the
recording does not hold fails the test, and so does a recorded exchange the client never made.
"""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
from pathlib import Path

import click
import pytest
import requests
from click.testing import CliRunner, Result

from jenkins_replay import JenkinsRecorder, JenkinsReplay, closed_port_url, load_recording
from mlops_helpers.cli.jenkins import jenkins

pytestmark = pytest.mark.jenkins  # the recorded Jenkins REST exchanges

TOKEN = "11d7c0ffee5ecre7a9b8c7d6e5f4a3b2c1"  # what a Jenkins API token looks like; fake
ENV_VARS = ("JENKINS_URL", "JENKINS_USER", "JENKINS_API_TOKEN", "JENKINS_JOB", "MLOPS_OUTPUT",
            "MLOPS_JENKINS_POLL_INTERVAL", "JENKINS_API_EXTRA_HEADERS")
CONSOLE = load_recording("trigger_follow")["exchanges"][-1]["response"]["body_lines"]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def replay():
    servers: list[JenkinsReplay] = []

    def start(recording: str) -> JenkinsReplay:
        servers.append(JenkinsReplay(recording).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def run(url: str | None, *args: str, **env: str | None) -> Result:
    """`mlops jenkins ARGS` with the connection in the environment, as a data scientist sets it up."""
    base = {"JENKINS_URL": url, "JENKINS_USER": "ds", "JENKINS_API_TOKEN": TOKEN, "MLOPS_JENKINS_POLL_INTERVAL": "0"}
    return CliRunner().invoke(jenkins, list(args), env={**base, **env}, catch_exceptions=False)


def assert_token_hidden(result: Result, server: JenkinsReplay | None = None) -> None:
    assert TOKEN not in result.stdout and TOKEN not in result.stderr
    for request in server.requests if server else []:
        assert TOKEN not in request.path and TOKEN not in request.body
        assert TOKEN not in json.dumps({k: v for k, v in request.headers.items() if k.lower() != "authorization"})


# --- trigger -----------------------------------------------------------------------------


def test_trigger_with_parameters_waits_for_success(replay) -> None:
    server = replay("trigger_success")
    result = run(server.url, "trigger", "--job", "train-model", "--param", "DATASET=wine", "-p", "MAX_DEPTH=5", "-o", "json")

    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["ok"], out["job"], out["build"], out["result"]) == (True, "train-model", 17, "SUCCESS")
    assert out["url"] == f"{server.url}/job/train-model/17/"
    assert out["queue_item"] == 42 and out["building"] is False and out["duration_s"] == 95.4
    assert out["parameters"] == {"DATASET": "wine", "MAX_DEPTH": "5", "STAGE": "staging", "PUBLISH": False}
    # the parameters reached Jenkins, in the query string of one POST, with the crumb and session cookie
    (post,) = server.received("POST", "/job/train-model/buildWithParameters")
    assert post.query == [("DATASET", "wine"), ("MAX_DEPTH", "5")]
    assert post.header("Jenkins-Crumb") and post.header("Cookie").startswith("JSESSIONID.")
    scheme, _, credentials = post.header("Authorization").partition(" ")
    assert scheme == "Basic" and base64.b64decode(credentials).decode() == f"ds:{TOKEN}"
    # it polled the queue until the build number, then the build until it finished
    assert len(server.received("GET", "/queue/item/42/api/json")) == 3
    assert len(server.received("GET", "/job/train-model/17/api/json")) == 3
    assert "queued train-model (DATASET=wine, MAX_DEPTH=5) as queue item 42" in result.stderr
    assert "In the quiet period" in result.stderr and "Waiting for next available executor" in result.stderr
    assert f"started train-model #17: {server.url}/job/train-model/17/" in result.stderr
    assert_token_hidden(result, server)
    server.assert_clean()


def test_trigger_text_output(replay) -> None:
    server = replay("trigger_success")
    result = run(server.url, "trigger", "--job", "train-model", "-p", "DATASET=wine", "-p", "MAX_DEPTH=5")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"train-model #17 SUCCESS in 1m 35s: {server.url}/job/train-model/17/"
    server.assert_clean()


def test_failed_build_exits_1_and_defaults_are_sent(replay) -> None:
    server = replay("trigger_failure")
    result = run(server.url, "trigger", "--job", "train-model", "-o", "json")

    assert result.exit_code == 1, result.output
    out = json.loads(result.stdout)
    assert (out["ok"], out["build"], out["result"]) == (False, 18, "FAILURE")
    assert out["description"] == "gate accuracy failed: 0.89 < 0.95"
    assert "FAILED: train-model #18 FAILURE in 41s" in result.stderr
    # a parameterized job triggered without --param gets its defaults through buildWithParameters
    (post,) = server.received("POST", "/job/train-model/buildWithParameters")
    assert post.query == [("DATASET", "breast_cancer"), ("MAX_DEPTH", "8"), ("STAGE", "staging"), ("PUBLISH", "false")]
    server.assert_clean()


def test_follow_streams_each_piece_of_console_once(replay) -> None:
    server = replay("trigger_follow")
    result = run(server.url, "trigger", "--job", "ml/nightly-retrain", "--follow", "-o", "json")

    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)  # stdout stays machine-readable: the console goes to stderr
    assert (out["job"], out["build"], out["result"]) == ("ml/nightly-retrain", 5, "SUCCESS")
    console = [line for line in result.stderr.splitlines() if not line.startswith("  ")]  # minus progress notes
    assert console == CONSOLE  # every line once, in order
    assert result.stderr.count("Started by user Data Scientist") == 1
    assert "✓ Validating data (0.4s)" in result.stderr  # UTF-8 console text survives
    assert len(server.received("GET", "/job/ml/job/nightly-retrain/5/consoleText")) == 4
    server.assert_clean()


def test_follow_hands_over_only_new_text(replay) -> None:
    from mlops_helpers.jenkins import JenkinsClient

    server = replay("trigger_follow")
    client = JenkinsClient(server.url, "ds", TOKEN, poll_interval=0)
    job = client.job("ml/nightly-retrain")
    queue_id, sent = client.enqueue(job, {})
    assert (queue_id, sent) == (57, {})
    item = client.wait_for_start(job.name, queue_id)
    chunks: list[str] = []
    build = client.wait_for_build(job.name, item.build_number, console=chunks.append)

    assert build.result == "SUCCESS" and build.duration_ms == 14250
    lines = ["".join(line + "\n" for line in part) for part in (CONSOLE[:4], CONSOLE[4:11], CONSOLE[11:])]
    assert chunks == lines  # the empty first console printed nothing; each later poll only the new lines
    server.assert_clean()


def test_queue_item_cancelled_exits_1(replay) -> None:
    server = replay("queue_cancelled")
    result = run(server.url, "trigger", "--job", "ml/nightly-retrain", "-o", "json")
    assert result.exit_code == 1, result.output
    out = json.loads(result.stdout)
    assert (out["result"], out["build"], out["queue_item"]) == ("CANCELLED", None, 58)
    assert "queue item 58 of job 'ml/nightly-retrain' was cancelled before it started" in result.stderr
    assert "Waiting for next available executor on ‘gpu’" in result.stderr
    server.assert_clean()


def test_timeout_exits_2_with_what_was_last_seen(replay) -> None:
    server = replay("build_keeps_running")
    result = run(server.url, "trigger", "--job", "ml/nightly-retrain", "--timeout", "0.3", "--poll-interval", "0.02")
    assert result.exit_code == 2, result.output
    assert "timed out after" in result.stderr and "waiting for ml/nightly-retrain #6 to finish" in result.stderr
    assert "last seen: building=true, result=none yet" in result.stderr
    assert f"{server.url}/job/ml/job/nightly-retrain/6/" in result.stderr
    server.assert_clean()


def test_no_wait_returns_the_build_number(replay) -> None:
    server = replay("build_keeps_running")
    result = run(server.url, "trigger", "--job", "ml/nightly-retrain", "--no-wait", "-o", "json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["build"], out["building"], out["result"]) == (6, True, None)
    assert not server.received("GET", "/job/ml/job/nightly-retrain/6/api/json")
    server.assert_clean(allow_unused=True)


def test_unknown_parameter_is_refused_before_triggering(replay) -> None:
    server = replay("trigger_success")
    result = run(server.url, "trigger", "--job", "train-model", "-p", "DATA_SET=wine")
    assert result.exit_code == 2
    assert "job 'train-model' has no parameter 'DATA_SET' (its parameters: DATASET, MAX_DEPTH, PUBLISH, STAGE)" in result.stderr
    assert not server.received("POST", "/job/train-model/buildWithParameters")
    assert not server.unexpected


@pytest.mark.parametrize("args, message", [
    (["-p", "novalue"], "'novalue' is not KEY=VALUE"),
    (["-p", "A=1", "-p", "A=2"], "A given twice"),
    (["--follow", "--no-wait"], "--follow needs --wait"),
    (["--token", TOKEN], "No such option '--token'"),
])
def test_trigger_usage_errors(args: list[str], message: str) -> None:
    result = run("http://127.0.0.1:9", "trigger", "--job", "train-model", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert TOKEN not in result.stderr


# --- status and logs ---------------------------------------------------------------------


def test_status(replay) -> None:
    server = replay("status")
    result = run(server.url, "status", "--job", "train-model", "-o", "json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["build"], out["result"], out["building"], out["duration_s"]) == (17, "SUCCESS", False, 95.4)
    assert out["timestamp"] == "2024-06-10T09:39:06+00:00"
    assert out["parameters"] == {"DATASET": "wine", "MAX_DEPTH": "5", "STAGE": "staging", "PUBLISH": False}
    assert out["description"] == "wine, max_depth=5 → train-model v7 (staging)"
    assert out["causes"] == ["Started by user Data Scientist"]

    text = run(server.url, "status", "--job", "ml/nightly-retrain", "--build", "5")
    assert text.exit_code == 0, text.output
    assert "ml/nightly-retrain #5" in text.stdout and "UNSTABLE" in text.stdout and "14s" in text.stdout
    assert_token_hidden(text, server)
    server.assert_clean()


def test_status_tells_a_missing_job_from_a_job_without_builds(replay) -> None:
    server = replay("status_not_found")
    never_built = run(server.url, "status", "--job", "new-model")
    assert never_built.exit_code == 2
    assert f"error: job 'new-model' has no builds yet on {server.url}" in never_built.stderr
    missing = run(server.url, "status", "--job", "no-such-job")
    assert missing.exit_code == 2
    assert f"error: job 'no-such-job' not found on {server.url}" in missing.stderr
    server.assert_clean()


def test_status_rejects_a_bad_build_reference() -> None:
    result = run("http://127.0.0.1:9", "status", "--job", "train-model", "--build", "latest")
    assert result.exit_code == 2
    assert "'latest' is not a build number, 'last'" in result.stderr


def test_logs_whole_and_tail(replay) -> None:
    server = replay("logs")
    result = run(server.url, "logs", "--job", "ml/nightly-retrain")
    assert result.exit_code == 0, result.output
    assert result.stdout == "".join(line + "\n" for line in CONSOLE)

    tail = run(server.url, "logs", "--job", "ml/nightly-retrain", "--tail", "2", "-o", "json")
    assert tail.exit_code == 0, tail.output
    out = json.loads(tail.stdout)
    assert (out["build"], out["result"], out["console"]) == (5, "SUCCESS", "[Pipeline] End of Pipeline\nFinished: SUCCESS\n")
    server.assert_clean()


# --- connection and credential errors ----------------------------------------------------


def test_unknown_job_exits_2(replay) -> None:
    server = replay("unknown_job")
    result = run(server.url, "trigger", "--job", "no-such-job", "-p", "A=1")
    assert result.exit_code == 2
    assert f"error: job 'no-such-job' not found on {server.url}" in result.stderr
    server.assert_clean()


@pytest.mark.parametrize("command", [["trigger"], ["status"], ["logs", "--tail", "5"]])
def test_bad_credentials_exit_2(replay, command: list[str]) -> None:
    server = replay("bad_credentials")
    result = run(server.url, *command, "--job", "train-model", "-o", "json")
    assert result.exit_code == 2
    message = f"authentication failed for user 'ds' on {server.url} (check JENKINS_API_TOKEN): HTTP 401 Unauthorized"
    assert f"error: {message}" in result.stderr
    assert json.loads(result.stdout) == {"ok": False, "error": message}
    assert_token_hidden(result, server)
    server.assert_clean()


@pytest.mark.parametrize("command", [["trigger"], ["status"], ["logs"]])
def test_unreachable_jenkins_exits_2(command: list[str]) -> None:
    url = closed_port_url()
    result = run(url, *command, "--job", "train-model")
    assert result.exit_code == 2
    assert f"error: cannot reach Jenkins at {url} (Connection refused)" in result.stderr


def test_missing_url_names_the_env_var() -> None:
    result = run(None, "status", "--job", "train-model")
    assert result.exit_code == 2
    assert "the Jenkins URL is not set: pass --url or set JENKINS_URL" in result.stderr


@pytest.mark.parametrize("env, message", [
    ({"JENKINS_API_TOKEN": None}, "no API token for user 'ds': set JENKINS_API_TOKEN or pass --token-file"),
    ({"JENKINS_USER": None}, "JENKINS_USER is not set"),
    ({"JENKINS_URL": "jenkins.example.com"}, "must start with http:// or https://"),
    ({"JENKINS_URL": f"https://ds:{TOKEN}@jenkins.example.com"}, "must not contain credentials"),
])
def test_connection_settings_errors(env: dict[str, str | None], message: str) -> None:
    result = run("http://127.0.0.1:9", "status", "--job", "train-model", **env)
    assert result.exit_code == 2
    assert message in result.stderr
    assert TOKEN not in result.stderr


def test_token_never_appears_in_output_or_logs(replay, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # urllib3, requests and python-jenkins log at DEBUG
    for recording, args in [
        ("trigger_success", ["trigger", "--job", "train-model", "-p", "DATASET=wine", "-p", "MAX_DEPTH=5", "-o", "json"]),
        ("trigger_follow", ["trigger", "--job", "ml/nightly-retrain", "--follow"]),
        ("bad_credentials", ["status", "--job", "train-model"]),
        ("unknown_job", ["trigger", "--job", "no-such-job", "-p", "A=1", "-o", "json"]),
    ]:
        server = replay(recording)
        result = run(server.url, *args)
        assert result.exit_code in (0, 2), result.output
        assert_token_hidden(result, server)
        server.assert_clean()
    assert "/crumbIssuer/api/json" in caplog.text  # the logs were captured ...
    assert TOKEN not in caplog.text  # ... and hold no token
    assert base64.b64encode(f"ds:{TOKEN}".encode()).decode() not in caplog.text


def test_token_file(replay, tmp_path: Path) -> None:
    server = replay("status")
    token_file = tmp_path / "jenkins-token"
    token_file.write_text(TOKEN + "\n")
    result = run(server.url, "status", "--job", "train-model", "--token-file", str(token_file), JENKINS_API_TOKEN=None)
    assert result.exit_code == 0, result.output
    (crumb,) = server.received("GET", "/crumbIssuer/api/json")
    assert base64.b64decode(crumb.header("Authorization").split()[1]).decode() == f"ds:{TOKEN}"
    server.assert_clean(allow_unused=True)


# --- the replay server itself is strict -------------------------------------------------


def test_replay_flags_unrecorded_and_mismatched_requests(replay) -> None:
    server = replay("trigger_success")
    assert requests.get(f"{server.url}/job/other/api/json?depth=0", timeout=5).status_code == 500
    # the right path but without the crumb, session cookie and credentials the recording demands
    assert requests.post(f"{server.url}/job/train-model/buildWithParameters?DATASET=wine&MAX_DEPTH=5", timeout=5).status_code == 500
    # query parameters are part of the match
    assert requests.get(f"{server.url}/job/train-model/api/json?depth=1", auth=("ds", "x"), timeout=5).status_code == 500
    assert [r.problem.split(" (")[0] for r in server.unexpected] == [
        "no recorded exchange for this method, path and query", "header Authorization missing",
        "no recorded exchange for this method, path and query"]
    with pytest.raises(AssertionError, match="unexpected: GET /job/other"):
        server.assert_clean()


def test_replay_serves_sequences_then_repeats_only_when_marked(replay) -> None:
    server = replay("trigger_failure")
    headers = {"Jenkins-Crumb": load_recording("trigger_failure")["exchanges"][0]["response"]["json"]["crumb"],
               "Cookie": "JSESSIONID.3f2a1b4c=node01q9w8e7r6t5y4z3x2c1v0b9n8m7.node0"}
    url = f"{server.url}/job/train-model/18/api/json?depth=0"
    states = [requests.get(url, auth=("ds", "x"), headers=headers, timeout=5).json()["building"] for _ in range(3)]
    assert states == [True, False, False]
    job = f"{server.url}/job/train-model/api/json?depth=0"
    assert requests.get(job, auth=("ds", "x"), headers=headers, timeout=5).status_code == 200
    assert requests.get(job, auth=("ds", "x"), headers=headers, timeout=5).status_code == 500  # served once only
    assert "already used" in server.unexpected[-1].problem


def test_recorder_writes_a_replayable_recording_without_credentials(replay) -> None:
    upstream = replay("status")
    recorder = JenkinsRecorder(upstream.url).start()
    try:
        first = run(recorder.url, "status", "--job", "train-model", "-o", "json")
    finally:
        recorder.stop()
    assert first.exit_code == 0, first.output
    recording = recorder.recording("status via the recorder")
    text = json.dumps(recording)
    assert TOKEN not in text and base64.b64encode(f"ds:{TOKEN}".encode()).decode() not in text
    assert upstream.url not in text and "{{base_url}}job/train-model/17/" in text
    assert [ex["request"]["headers"].get("Authorization") for ex in recording["exchanges"]] == ["Basic *", "Basic *"]

    again = JenkinsReplay(recording).start()
    try:
        second = run(again.url, "status", "--job", "train-model", "-o", "json")
        assert second.exit_code == 0, second.output
        assert json.loads(second.stdout)["url"] == f"{again.url}/job/train-model/17/"
    finally:
        again.stop()
    assert {k: v for k, v in json.loads(second.stdout).items() if k != "url"} == \
        {k: v for k, v in json.loads(first.stdout).items() if k != "url"}
    again.assert_clean()


# --- wiring ------------------------------------------------------------------------------


def test_group_registers_on_a_cli_and_has_help() -> None:
    cli = click.Group("mlops")
    cli.add_command(jenkins)
    result = CliRunner().invoke(cli, ["jenkins", "--help"])
    assert result.exit_code == 0
    for name in ("trigger", "status", "logs"):
        assert name in result.output
        sub = CliRunner().invoke(cli, ["jenkins", name, "--help"])
        assert sub.exit_code == 0 and "JENKINS_URL" in sub.output and "--job" in sub.output
        assert "--token " not in sub.output and "--token-file" in sub.output


def test_importing_the_group_does_not_load_python_jenkins() -> None:
    probe = "import sys, mlops_helpers.cli.jenkins; print(sorted(m for m in ('jenkins', 'requests') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"
