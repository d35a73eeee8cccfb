"""From a `retrain` verdict to a new training run, without retrain storms.

Two guards, both kept in `<state_dir>/<env>/triggers.jsonl` under a file lock (two watchers on one
project never both fire):
- a **cool-down**: after a trigger, no other one until `trigger.cooldown` has passed;
- a **de-duplication key**: model version + the triggers that fired + the data's md5. A finding
  that already caused a run (the same drift on the same version and data) never causes another;
  a new version, new data or a different finding does.

Actions: `none` records the advice only; `run` runs `mlops run` in the project (train, gate,
register, and deploy when `deploy.on_run`); `jenkins` builds the configured pipeline through the
Jenkins API (python-jenkins) with the configured parameters.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mlops_helpers.config import MlopsConfig
from mlops_helpers.jsonlines import read_json_lines
from mlops_helpers.monitoring.check import CheckResult

TRIGGERS_FILE = "triggers.jsonl"


@dataclass
class TriggerDecision:
    fired: bool
    action: str
    key: str | None
    reason: str  # why it fired or why not
    outcome: dict[str, Any]
    time: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def dedup_key(result: CheckResult) -> str:
    fired = sorted(trigger for trigger, state in result.findings.items() if state == "fired")
    basis = {"model": result.model, "version": result.version, "fired": fired, "data": result.data.get("current_md5")}
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:16]


def trigger_history(config: MlopsConfig, environment: str) -> list[dict[str, Any]]:
    return read_json_lines(_folder(config, environment) / TRIGGERS_FILE)


def decide_and_act(config: MlopsConfig, result: CheckResult, config_path: Path) -> TriggerDecision:
    """Fire the configured action when the check says retrain and neither guard holds it back."""
    from filelock import FileLock

    policy = config.monitoring.trigger
    now = time.time()
    if not result.retrain:
        return TriggerDecision(False, policy.action, None, f"nothing to do: the check is {result.status}", {}, now)
    key = dedup_key(result)
    folder = _folder(config, result.environment)
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / "triggers.lock")):
        earlier = [record for record in trigger_history(config, result.environment) if record.get("fired")]
        held = _held_back(earlier, key, policy.cooldown, now)
        if held:
            return TriggerDecision(False, policy.action, key, held, {}, now)
        outcome = _act(config, result, config_path)
        decision = TriggerDecision(True, policy.action, key, "; ".join(result.reasons), outcome, now)
        with open(folder / TRIGGERS_FILE, "a") as handle:
            handle.write(json.dumps({**decision.to_dict(), "version": result.version}) + "\n")
    return decision


def _held_back(earlier: list[dict[str, Any]], key: str, cooldown: float, now: float) -> str | None:
    same = next((record for record in reversed(earlier) if record.get("key") == key), None)
    if same is not None:
        return (f"already triggered for this finding at {_iso(same['time'])} (key {key}): "
                "waiting for a new version, new data or another finding")
    if earlier and now - earlier[-1]["time"] < cooldown:
        return f"cooling down until {_iso(earlier[-1]['time'] + cooldown)} (last trigger {_iso(earlier[-1]['time'])})"
    return None


def _act(config: MlopsConfig, result: CheckResult, config_path: Path) -> dict[str, Any]:
    policy = config.monitoring.trigger
    if policy.action == "none":
        return {"advice": "retrain", "note": "trigger.action is none: nothing was started"}
    if policy.action == "run":
        return _run_locally(config_path)
    return _build_in_jenkins(policy.jenkins, result)


def _run_locally(config_path: Path) -> dict[str, Any]:
    """`mlops run` in the project; its progress goes to our stderr, its JSON summary is kept."""
    started = time.time()
    completed = subprocess.run([sys.executable, "-m", "mlops_helpers", "run", "--config", str(config_path),
                                "--output", "json"], cwd=config_path.parent, stdout=subprocess.PIPE, text=True)
    try:
        summary = json.loads(completed.stdout) if completed.stdout.strip() else {}
    except ValueError:
        summary = {"stdout": completed.stdout[-2000:]}
    return {"command": "mlops run", "exit_code": completed.returncode, "seconds": round(time.time() - started, 2),
            "summary": summary}


def _build_in_jenkins(jenkins, result: CheckResult) -> dict[str, Any]:
    from mlops_helpers.jenkins import JenkinsClient

    client = JenkinsClient(jenkins.url, os.environ.get(jenkins.user_env), os.environ.get(jenkins.token_env))
    job = client.job(jenkins.job)
    queue_id, sent = client.enqueue(job, jenkins.parameters)
    return {"jenkins": client.url, "job": jenkins.job, "queue_id": queue_id, "parameters": sent,
            "reasons": result.reasons}


def _folder(config: MlopsConfig, environment: str) -> Path:
    return config.resolve(config.monitoring.state_dir) / environment


def _iso(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))
