"""The five strategies, run for real: model servers as processes, the router, HTTP load.

Every rollout here runs under a load of 200+ requests/s from tests/support/loadgen.py, and the
assertions are about what callers saw (status codes, the `x-served-by` header of each
response) as much as about the rollout state.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from cli_support import run_mlops
from loadgen import LoadGenerator
from rollout_support import Environment, RolloutProject, build_project, kill_group
from serving_support import http_request

pytestmark = pytest.mark.slow  # six models trained and registered, then every strategy under load

RATE = 230  # requests per second during every rollout (the issue asks for at least 200; headroom for a busy machine)
# The median, not p99, tells a slow version (500 ms a call) from a good one on a loaded 2-core machine
# (a good one's median stays far under 300 ms even when the machine is busy).
FAST_ANALYSIS = {"interval": 1.0, "count": 2, "metrics": [{"name": "error_rate", "max": 0.05},
                                                          {"name": "latency_p50_ms", "max": 300}]}


@pytest.fixture(scope="module")
def rollout_project(tmp_path_factory: pytest.TempPathFactory):
    owner = build_project(tmp_path_factory.mktemp("rollout"))
    yield owner
    for env in owner.environments:
        env.undeploy()


def first_deploy(env: Environment, variant: str = "good") -> None:
    result = env.deploy(variant).json()
    assert result["status"] == "promoted" and result["stable"] == env.owner.versions[variant], result


def deploy_under_load(env: Environment, variant: str):
    """`mlops deploy` while the load generator runs from just before to just after it."""
    load = LoadGenerator(env.url, RATE, env.owner.bodies()).start()
    try:
        time.sleep(0.5)
        summary = env.deploy(variant).json()
        time.sleep(0.5)
    finally:
        outcome = load.stop()
    return summary, outcome


def served_share(timeline: list[tuple[float, str, int]], version: str, since: float = 0.0, until: float = float("inf")) -> float:
    window = [entry for entry in timeline if since <= entry[0] <= until]
    return sum(1 for entry in window if entry[1] == version) / max(len(window), 1)


# --- refused before anything starts -------------------------------------------------------


@pytest.mark.parametrize(("deploy", "message"), [
    ({"canary": {"steps": [{"set_weight": 50}, {"set_weight": 20}]}},
     "deploy.canary.steps.1.set_weight: 20 is not above the previous weight 50"),
    ({"canary": {"steps": [{"setWeight": 120}]}}, "deploy.canary.steps.0.setWeight: 120 is not <= 100"),
    ({"canary": {"steps": [{"set_weight": 10}, {"wait": 30}]}}, "deploy.canary.steps.1.wait: unknown key"),
    ({"analysis": {"metrics": [{"name": "latency_p42", "max": 3}]}},
     "deploy.analysis.metrics.0: metric 'latency_p42' is not a built-in metric"),
    ({"canary": {"steps": [{"analysis": {"metrics": ["accuracy"]}}]}},
     "deploy.canary.steps.0.analysis.metrics: 'accuracy' is not defined in deploy.analysis.metrics"),
    ({"strategy": "rainbow"}, "deploy.strategy: 'rainbow' is not one of"),
    ({"ramped": {"max_surge": 0, "max_unavailable": 0}}, "max_surge and max_unavailable cannot both be 0"),
    ({"analysis": {"metrics": [{"name": "error_rate", "successCondition": "import os"}]}},
     "condition 'import os' is not valid"),
])
def test_bad_deploy_config_is_refused_before_anything_starts(rollout_project: RolloutProject, deploy, message) -> None:
    env = rollout_project.environment(f"bad-{abs(hash(message)) % 10**6}", deploy)
    result = env.deploy("good", check=2)
    assert message in result.stderr, result.stderr
    assert not env.state_dir.exists(), "nothing may start for a refused config"


# --- canary -------------------------------------------------------------------------------


def test_canary_under_load_promotes_with_zero_failed_requests(rollout_project: RolloutProject) -> None:
    env = rollout_project.environment("canary-ok", {
        "strategy": "canary", "analysis": FAST_ANALYSIS,
        "canary": {"steps": [{"set_weight": 20}, {"pause": {"duration": 1.5}}, {"set_weight": 60}, {"analysis": {}}]}})
    first_deploy(env)
    load = LoadGenerator(env.url, RATE, rollout_project.bodies()).start()
    try:
        time.sleep(1.0)
        result = env.deploy("good2")
        time.sleep(1.0)
    finally:
        outcome = load.stop()
    summary = result.json()
    assert summary["status"] == "promoted" and summary["stable"] == rollout_project.versions["good2"], summary
    assert outcome.failed == 0, outcome.errors
    assert outcome.offered_rate >= 200, f"the load generator only issued {outcome.offered_rate:.0f} req/s"
    assert set(outcome.by_version) == {rollout_project.versions["good"], rollout_project.versions["good2"]}
    kinds = [event["event"] for event in env.events()]
    assert kinds.count("measurement") >= 4 and "promoted" in kinds
    # The registry alias named like the environment follows what serves 100%.
    aliases = json.loads((rollout_project.root / "registry" / "breast_cancer" / "aliases.json").read_text())
    assert str(aliases["canary-ok"]) == rollout_project.versions["good2"]


@pytest.mark.parametrize("variant", ["failing", "slow"])
def test_canary_with_a_bad_version_aborts_by_itself(rollout_project: RolloutProject, variant: str) -> None:
    interval = 2.0  # at 10% of 220 req/s: ~44 requests an interval, over the 20 that min_samples asks for
    # The slow version's latency is only seen when its requests complete (500 ms later), so on a busy
    # machine its first window can have fewer than 20 completions; 10 are plenty to see a 500 ms median.
    analysis = {**FAST_ANALYSIS, "interval": interval,
                "metrics": [{"name": "error_rate", "max": 0.05}, {"name": "latency_p50_ms", "max": 300, "min_samples": 10}]}
    env = rollout_project.environment(f"canary-{variant}", {
        "strategy": "canary",
        "analysis": analysis,
        "canary": {"steps": [{"set_weight": 10}, {"pause": {"duration": 60}}, {"set_weight": 50}]}})
    first_deploy(env)
    stable, bad = rollout_project.versions["good"], rollout_project.versions[variant]
    load = LoadGenerator(env.url, RATE, rollout_project.bodies()).start()
    try:
        result = env.deploy(variant, check=1)
        aborted_at = time.monotonic()
        time.sleep(1.5)
    finally:
        outcome = load.stop()
    summary = result.json()
    assert summary["status"] == "aborted", summary
    threshold = "error_rate of v{} = 1 breaks max 0.05" if variant == "failing" else "latency_p50_ms of v{} = "
    assert threshold.format(bad) in summary["reason"], summary
    assert variant == "failing" or "breaks max 300" in summary["reason"], summary
    events = env.events()
    weighted = next(e["time"] for e in events if e["event"] == "step" and e["type"] == "set_weight")
    aborted = next(e["time"] for e in events if e["event"] == "aborted")
    # Two intervals, plus the scrapes and state writes around the measurements (~0.1 s each).
    assert aborted - weighted <= 2 * interval + 0.5, f"abort took {aborted - weighted:.1f}s after traffic reached v{bad}"
    print(f"v{bad} ({variant}) aborted {aborted - weighted:.2f}s after it got traffic; "
          f"{served_share(outcome.timeline, bad):.3%} of requests reached it")
    timeline = outcome.timeline
    assert served_share(timeline, bad) < 0.10, f"{served_share(timeline, bad):.3f} of requests reached v{bad}"
    after = [entry for entry in timeline if entry[0] > aborted_at + 0.2]
    assert after and all(entry[1] == stable for entry in after), Counter(entry[1] for entry in after)
    status = env.status()
    assert status["weights"] == {stable: 100} and status["candidate"] is None


# --- blue/green ---------------------------------------------------------------------------


def test_bluegreen_switches_at_once_and_undo_within_the_keep_window_is_instant(rollout_project: RolloutProject) -> None:
    env = rollout_project.environment("bluegreen", {
        "strategy": "bluegreen", "bluegreen": {"auto_promote": False, "smoke_test": {"requests": 10}, "scaleDownDelay": 120}})
    first_deploy(env)
    blue, green = rollout_project.versions["good"], rollout_project.versions["good2"]
    load = LoadGenerator(env.url, RATE, rollout_project.bodies()).start()
    try:
        paused = env.deploy("good2", check=3).json()
        assert paused["status"] == "paused" and paused["weights"] == {blue: 100}, paused
        # While paused the new version answers only requests that ask for the preview.
        answer = http_request(env.port, "POST", "/predict", rollout_project.bodies(1)[0],
                              {"content-type": "application/json", "x-mlops-preview": "1"})
        assert answer.status == 200 and answer.headers["x-served-by"] == green
        time.sleep(1.0)
        switch_requested = time.monotonic()
        promoted = env.mlops("rollout", "promote", "--output", "json").json()
        switched = time.monotonic()
        assert promoted["status"] == "promoted" and promoted["stable"] == green, promoted
        time.sleep(1.0)
        undo_started = time.monotonic()
        undone = env.mlops("rollout", "undo", "--output", "json").json()
        undo_took = time.monotonic() - undo_started
        time.sleep(1.0)
    finally:
        outcome = load.stop()
    assert outcome.failed == 0, outcome.errors
    before = [entry for entry in outcome.timeline if entry[0] < switch_requested]
    between = [entry for entry in outcome.timeline if switched + 0.05 < entry[0] < undo_started]
    after = [entry for entry in outcome.timeline if entry[0] > undo_started + undo_took + 0.05]
    assert before and all(entry[1] == blue for entry in before), "a user request reached green before the switch"
    assert between and all(entry[1] == green for entry in between), "a user request reached blue after the switch"
    assert after and all(entry[1] == blue for entry in after), "undo did not bring every request back to blue"
    assert undone["status"] == "rolled_back" and undone["stable"] == blue, undone
    assert undo_took < 5.0, f"undo within the keep window took {undo_took:.1f}s (includes CLI start-up)"
    print(f"blue/green: {len(between)} answers from green between switch and undo, none from blue; "
          f"undo took {undo_took:.2f}s including CLI start-up")
    routed = [e for e in env.events() if e["event"] == "rolled_back"]
    assert routed, "the undo must be in the event log"


# --- ramped and recreate ------------------------------------------------------------------


def test_ramped_replaces_servers_in_batches_with_zero_failed_requests(rollout_project: RolloutProject) -> None:
    env = rollout_project.environment("ramped", {"strategy": "ramped", "ramped": {"maxSurge": 1, "maxUnavailable": 0}})
    first_deploy(env)
    summary, outcome = deploy_under_load(env, "good2")
    assert summary["status"] == "promoted", summary
    assert outcome.failed == 0, outcome.errors
    old, new = rollout_project.versions["good"], rollout_project.versions["good2"]
    assert outcome.by_version[old] > 0 and outcome.by_version[new] > 0
    state = env.state()
    assert len(state["stable"]["servers"]) == 2 and state["previous"]["servers"] == []


def test_recreate_downtime_is_measured_and_reported(rollout_project: RolloutProject) -> None:
    env = rollout_project.environment("recreate", {"strategy": "recreate"})
    first_deploy(env)
    summary, outcome = deploy_under_load(env, "good2")
    assert summary["status"] == "promoted", summary
    failures = [entry for entry in outcome.timeline if entry[2] >= 500 or entry[2] == 0]
    assert failures, "recreate stops the old version first: some requests must fail"
    downtime = failures[-1][0] - failures[0][0]
    events = {e["event"]: e for e in env.events()}
    assert "downtime_started" in events and "downtime" in events["promoted"], events["promoted"]
    print(f"recreate downtime seen by callers: {downtime:.2f}s, {len(failures)} failed requests; "
          f"engine reports {events['promoted']['downtime']:.2f}s")
    assert abs(events["promoted"]["downtime"] - downtime) < 1.5


# --- A/B ----------------------------------------------------------------------------------


def feedback_traffic(env: Environment, stop_after: float, header_share: float = 0.0) -> Counter:
    """Predict hold-out rows through the router and send each true label back as feedback."""
    import http.client
    import random

    owner = env.owner
    rows = owner.holdout.drop(columns=[owner.target]).to_dict(orient="records")
    labels = owner.holdout[owner.target].tolist()
    connection = http.client.HTTPConnection("127.0.0.1", env.port, timeout=30)
    served: Counter = Counter()
    rng = random.Random(7)
    deadline = time.monotonic() + stop_after
    while time.monotonic() < deadline and env.state().get("status") == "progressing":
        index = rng.randrange(len(rows))
        headers = {"content-type": "application/json"}
        if rng.random() < header_share:
            headers["x-mlops-variant"] = "b"
        connection.request("POST", "/predict", json.dumps({"records": [rows[index]]}), headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            continue
        served[response.getheader("x-served-by")] += 1
        connection.request("POST", "/feedback", json.dumps({"request_id": response.getheader("x-request-id"),
                                                            "labels": [labels[index]]}), headers)
        feedback = connection.getresponse()
        assert feedback.status == 200, feedback.read()
        feedback.read()
    connection.close()
    return served


def test_abtest_declares_the_more_accurate_version_the_winner(rollout_project: RolloutProject) -> None:
    env = rollout_project.environment("ab-winner", {
        "strategy": "abtest",
        "abtest": {"route": [{"header": "x-mlops-variant", "value": "b"}], "metric": "accuracy", "alpha": 0.01,
                   "min_samples": 100, "interval": 1.0, "max_duration": 40}})
    first_deploy(env, "weak")
    revision = env.revision()
    load = LoadGenerator(env.url, RATE, rollout_project.bodies()).start()  # plus 200+ req/s from other callers
    process = env.deploy_in_background("good")
    try:
        env.wait_for_step("abtest", revision)
        served = feedback_traffic(env, stop_after=60, header_share=0.5)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        kill_group(process)
        outcome = load.stop()
    assert process.returncode == 0, stderr
    assert outcome.failed == 0 and outcome.offered_rate >= 200, (outcome.errors, outcome.offered_rate)
    summary = json.loads(stdout)
    weak, good = rollout_project.versions["weak"], rollout_project.versions["good"]
    assert summary["status"] == "promoted" and summary["stable"] == good, summary
    assert served[weak] > 0 and served[good] > 0
    verdict = next(m for m in reversed(env.state()["analysis"]) if m["outcome"] == "winner")
    assert verdict["winner"] == good and verdict["p_value"] < verdict["alpha_per_look"], verdict
    assert verdict["b_rate"] > verdict["a_rate"] and "p=" in verdict["reason"]


def test_abtest_between_equal_versions_is_inconclusive_and_pauses(rollout_project: RolloutProject) -> None:
    # Identical models: any difference is sampling noise, so a "winner" is a false positive, which
    # the configured alpha bounds (0.001: this test would flake once in a thousand runs at most).
    env = rollout_project.environment("ab-equal", {
        "strategy": "abtest",
        "abtest": {"weight": 50, "metric": "accuracy", "alpha": 0.001, "min_samples": 50, "interval": 1.0,
                   "max_duration": 8}})
    first_deploy(env, "good")
    revision = env.revision()
    process = env.deploy_in_background("twin")
    try:
        env.wait_for_step("abtest", revision)
        feedback_traffic(env, stop_after=30)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        kill_group(process)
    assert process.returncode == 3, stderr
    summary = json.loads(stdout)
    assert summary["status"] == "paused" and "inconclusive" in summary["reason"], summary
    last = env.state()["analysis"][-1]
    assert last["verdict"] == "inconclusive" and last["a_trials"] >= 50 and last["b_trials"] >= 50, last
    assert "difference" in last["reason"] and "CI" in last["reason"]
    aborted = env.mlops("rollout", "abort", "--reason", "keep A", "--output", "json").json()
    assert aborted["status"] == "aborted" and aborted["weights"] == {rollout_project.versions["good"]: 100}


# --- crash, resume, steering from another shell -------------------------------------------


def _long_canary(rollout_project: RolloutProject, name: str) -> Environment:
    return rollout_project.environment(name, {
        "strategy": "canary", "analysis": FAST_ANALYSIS,
        "canary": {"backgroundAnalysis": False,
                   "steps": [{"set_weight": 25}, {"pause": {"duration": 4}}, {"set_weight": 50}, {"pause": {"duration": 2}}]}})


def _kill_engine_during_pause(env: Environment) -> dict:
    revision = env.revision()
    process = env.deploy_in_background("good2")
    try:
        state = env.wait_for_step("pause", revision)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    finally:
        kill_group(process)
    return state


def test_killed_engine_is_resumed_and_finishes(rollout_project: RolloutProject) -> None:
    env = _long_canary(rollout_project, "crash-resume")
    first_deploy(env)
    load = LoadGenerator(env.url, RATE, rollout_project.bodies()).start()
    try:
        _kill_engine_during_pause(env)
        status = env.status()
        assert status["status"] == "progressing" and status["engine_running"] is False, status
        assert status["weights"] == {rollout_project.versions["good"]: 75, rollout_project.versions["good2"]: 25}
        resumed = env.mlops("rollout", "resume", "--output", "json").json()
    finally:
        outcome = load.stop()
    assert resumed["status"] == "promoted" and resumed["stable"] == rollout_project.versions["good2"], resumed
    assert outcome.failed == 0, outcome.errors
    assert "resumed" in [e["event"] for e in env.events()]


def test_killed_engine_then_abort_restores_stable(rollout_project: RolloutProject) -> None:
    env = _long_canary(rollout_project, "crash-abort")
    first_deploy(env)
    _kill_engine_during_pause(env)
    started = time.monotonic()
    aborted = env.mlops("rollout", "abort", "--output", "json").json()
    took = time.monotonic() - started
    stable = rollout_project.versions["good"]
    assert aborted["status"] == "aborted" and aborted["weights"] == {stable: 100}, aborted
    answers = Counter(http_request(env.port, "POST", "/predict", body, {"content-type": "application/json"})
                      .headers["x-served-by"] for body in rollout_project.bodies(40))
    assert answers == Counter({stable: 40})
    candidate_servers = [s for s in json.loads((env.state_dir / "rollout.json").read_text())["stable"]["servers"]]
    assert len(candidate_servers) == 2
    print(f"abort after a killed engine took {took:.2f}s (including CLI start-up)")


def test_promote_and_abort_from_another_shell_while_the_engine_runs(rollout_project: RolloutProject) -> None:
    env = _long_canary(rollout_project, "steer")
    first_deploy(env)
    revision = env.revision()
    process = env.deploy_in_background("good2")
    try:
        env.wait_for_step("pause", revision)
        env.mlops("rollout", "promote", "--full", "--output", "json")
        stdout, stderr = process.communicate(timeout=60)
    finally:
        kill_group(process)
    assert process.returncode == 0, stderr
    assert json.loads(stdout)["stable"] == rollout_project.versions["good2"]
    # Again with abort: the running engine notices and stops with exit code 1.
    revision = env.revision()
    process = env.deploy_in_background("good")
    try:
        env.wait_for_step("pause", revision)
        env.mlops("rollout", "abort", "--reason", "changed my mind")
        stdout, stderr = process.communicate(timeout=60)
    finally:
        kill_group(process)
    assert process.returncode == 1, stderr
    assert json.loads(stdout)["reason"] == "changed my mind"
    assert env.status()["weights"] == {rollout_project.versions["good2"]: 100}
    history = env.mlops("rollout", "history", "--output", "json").json()["rollouts"]
    assert [(r["version"], r["status"]) for r in history] == [
        (rollout_project.versions["good"], "promoted"), (rollout_project.versions["good2"], "promoted"),
        (rollout_project.versions["good"], "aborted")]


# --- shadow traffic -----------------------------------------------------------------------


def test_mirror_copies_requests_to_the_new_version_without_answering_callers(rollout_project: RolloutProject) -> None:
    env = rollout_project.environment("mirror", {
        "strategy": "bluegreen", "mirror": {"percent": 100},
        "bluegreen": {"auto_promote": False, "smoke_test": None}})
    first_deploy(env)
    stable, shadow = rollout_project.versions["good"], rollout_project.versions["good2"]
    env.deploy("good2", check=3)
    load = LoadGenerator(env.url, RATE, rollout_project.bodies()).start()
    time.sleep(2.0)
    outcome = load.stop()
    assert outcome.failed == 0 and set(outcome.by_version) == {stable}, outcome.by_version
    time.sleep(0.5)
    lines = [json.loads(line) for line in (env.state_dir / "mirror.jsonl").read_text().splitlines()]
    assert len(lines) >= 0.9 * outcome.ok, (len(lines), outcome.ok)
    assert {line["mirror_version"] for line in lines} == {shadow} and {line["primary_version"] for line in lines} == {stable}
    agreeing = sum(line["mirror_body"]["predictions"] == line["primary_body"]["predictions"] for line in lines
                   if line["mirror_status"] == 200)
    assert agreeing / len(lines) > 0.8  # two good forests agree on most hold-out rows
    env.mlops("rollout", "abort")


# --- exit codes and guard rails -----------------------------------------------------------


def test_timeout_exits_4_and_leaves_the_rollout_to_resume_or_abort(rollout_project: RolloutProject) -> None:
    env = _long_canary(rollout_project, "timeout")
    assert env.mlops("rollout", "status", "--output", "json").json()["status"] == "none"
    first_deploy(env)
    timed_out = env.deploy("good2", "--timeout", "2", check=4).json()
    assert timed_out["status"] == "progressing" and timed_out["outcome"] == "timed_out", timed_out
    assert "timed_out" in [e["event"] for e in env.events()]
    busy = env.deploy("good", check=2)
    assert "a rollout is already in progress" in busy.stderr
    aborted = env.mlops("rollout", "abort", "--output", "json").json()
    assert aborted["status"] == "aborted" and aborted["weights"] == {rollout_project.versions["good"]: 100}
    nothing = env.mlops("rollout", "abort", check=2)
    assert "nothing to abort" in nothing.stderr


def test_a_second_environment_on_the_same_port_is_refused(rollout_project: RolloutProject) -> None:
    first = rollout_project.environment("port-owner", {"strategy": "recreate"})
    first_deploy(first)
    clash = rollout_project.environment("port-clash", {"strategy": "recreate"})
    config = clash.config.read_text().replace(f"port: {clash.port}", f"port: {first.port}")
    clash.config.write_text(config.replace(f"admin_port: {clash.admin_port}", f"admin_port: {first.admin_port}"))
    refused = clash.deploy("good", check=2)
    assert "is not this environment's router" in refused.stderr
    still = http_request(first.port, "POST", "/predict", rollout_project.bodies(1)[0], {"content-type": "application/json"})
    assert still.status == 200 and still.headers["x-served-by"] == rollout_project.versions["good"]


def test_mlops_run_deploys_with_the_scaffolded_config_and_pauses_without_traffic(tmp_path: Path) -> None:
    from cli_support import make_project
    from mlops_helpers.ports import free_port

    project = make_project(tmp_path, "wine", deploy_on_run=True)
    port, admin = free_port(), free_port()
    ports = ("--set", f"deploy.local.port={port}", "--set", f"deploy.local.admin_port={admin}",
             "--set", "deploy.analysis.interval=1s")
    try:
        first = project.mlops("run", *ports, "--output", "json").json()
        assert first["deployment"]["outcome"] == "promoted" and first["deployment"]["stable"] == "1", first["deployment"]
        answer = http_request(port, "POST", "/predict", json.dumps({"records": [first_row(project.root)]}),
                              {"content-type": "application/json"})
        assert answer.status == 200 and answer.headers["x-served-by"] == "1"
        # A second version with nobody calling the model: the canary's analysis has no data,
        # which is inconclusive, so the rollout pauses (exit 3) instead of passing.
        second = project.mlops("run", *ports, "--set", "training.params.n_estimators=50", "--output", "json", check=3)
        deployment = second.json()["deployment"]
        assert deployment["status"] == "paused" and "inconclusive" in deployment["reason"], deployment
        assert deployment["reason"].count("only 0 samples") == 1  # both metrics, one cause: said once
        assert deployment["weights"] == {"1": 90, "2": 10}
        aborted = project.mlops("rollout", "abort", *ports, "--output", "json").json()
        assert aborted["weights"] == {"1": 100}
        # After undeploy the status says so, names no serving version, and the next deploy starts afresh.
        project.mlops("undeploy", *ports)
        text = project.mlops("rollout", "status", *ports).stdout
        assert "not deployed" in text and "v1 stopped with `mlops undeploy`" in text and "serves" not in text, text
        status = project.mlops("rollout", "status", *ports, "--output", "json").json()
        assert status["status"] == "undeployed" and status["stable"] is None and status["weights"] == {}, status
        again = project.mlops("deploy", "--version", "1", *ports, "--output", "json").json()
        assert again["status"] == "promoted" and again["stable"] == "1", again
    finally:
        project.mlops("undeploy", *ports, check=None)


def first_row(root: Path) -> dict:
    import pandas as pd
    import yaml

    config = yaml.safe_load((root / "mlops.yaml").read_text())
    frame = pd.read_csv(root / config["data"]["path"]).drop(columns=[config["data"]["target"]])
    return frame.iloc[0].to_dict()


# --- analysis through a real Prometheus -----------------------------------------------------


def test_canary_analysis_through_a_real_prometheus(rollout_project: RolloutProject, prometheus_server) -> None:
    name = f"prom-{os.getpid()}"  # the env label: unique, as Prometheus is shared by the whole machine
    throughput = 'sum(rate(mlops_router_requests_total{env="{{env}}",version="{{version}}"}[{{interval}}]))'
    env = rollout_project.environment(name, {
        "strategy": "canary",
        "analysis": {"provider": "prometheus", "prometheus_url": prometheus_server.url, "interval": 3, "count": 2,
                     "metrics": [{"name": "error_rate", "max": 0.05}, {"name": "latency_p50_ms", "max": 400},
                                 {"name": "throughput", "query": throughput, "min": 5}]},
        "canary": {"background_analysis": False, "steps": [{"set_weight": 50}, {"analysis": {}}]}})
    first_deploy(env)
    # Prometheus reads the targets file the local backend keeps up to date (file_sd).
    link = prometheus_server.targets_dir / f"{name}.json"
    link.symlink_to(env.state_dir / "prometheus-targets.json")
    try:
        load = LoadGenerator(env.url, RATE, rollout_project.bodies()).start()
        try:
            promoted = env.deploy("good2").json()
            bad = env.deploy("failing", check=1).json()
        finally:
            outcome = load.stop()
    finally:
        link.unlink()
    assert promoted["status"] == "promoted", promoted
    passed = [e for e in env.events() if e["event"] == "measurement" and e["revision"] == promoted["revision"]]
    assert {e["metric"] for e in passed} == {"error_rate", "latency_p50_ms", "throughput"}
    assert all(e["outcome"] == "pass" and e["value"] is not None for e in passed), passed
    assert bad["status"] == "aborted" and "error_rate of v" in bad["reason"] and "breaks max 0.05" in bad["reason"], bad
    assert outcome.failed > 0  # the failing version's 500s reached callers until the abort


def test_kubernetes_target_without_a_cluster_is_an_error_not_a_local_deploy(rollout_project: RolloutProject) -> None:
    env = rollout_project.environment("kube-target", {"target": "kubernetes"})
    refused = run_mlops("deploy", "-c", str(env.config), "--version", "1", cwd=rollout_project.root, check=2,
                        env={"KUBECONFIG": str(rollout_project.root / "no-such-kubeconfig")})
    assert "cannot load the kubeconfig" in refused.stderr and "no-such-kubeconfig" in refused.stderr
    assert not env.state_dir.exists()
