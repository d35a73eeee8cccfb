"""Support for the rollout tests: one project with several registered versions, per-test
environments (own ports, own state folder), and the commands a user would type.

The versions are real models trained by `mlops train` and registered by `mlops register`:
- good, good2: random forests (the second with fewer trees), both ~95% accurate;
- twin: good trained again (same config and seed), so its predictions are good's;
- failing: passes the server's warm-up, then raises on every prediction (500s under real traffic);
- slow: takes 500 ms per model call once served;
- weak: DummyClassifier (always the majority class, ~63% accurate) for the A/B tests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from cli_support import MLOPS, CliResult, Project, make_project, run_mlops

FAULTY_MODELS = '''"""Models that train fine and misbehave once served (MLOPS_SERVE_ARTEFACT is set by `mlops serve`)."""
import os
import time

from sklearn.ensemble import RandomForestClassifier


class FailingClassifier(RandomForestClassifier):
    served_calls = 0

    def predict(self, X):
        # The server's warm-up call passes (so the version becomes ready); real traffic fails.
        if os.environ.get("MLOPS_SERVE_ARTEFACT"):
            FailingClassifier.served_calls += 1
            if FailingClassifier.served_calls > 1:
                raise RuntimeError("injected failure: this model crashes under real traffic")
        return super().predict(X)


class SlowClassifier(RandomForestClassifier):
    def predict(self, X):
        if os.environ.get("MLOPS_SERVE_ARTEFACT"):
            time.sleep(0.5)
        return super().predict(X)
'''

VARIANTS: dict[str, list[str]] = {
    "good": [],
    "twin": [],  # trained again from the same config and seed: the same predictions as good
    "good2": ["training.params.n_estimators=60"],
    "failing": ["training.estimator=faulty_models:FailingClassifier"],
    "slow": ["training.estimator=faulty_models:SlowClassifier"],
    "weak": ["training.estimator=DummyClassifier", "training.params={}"],
}


@dataclass
class RolloutProject:
    project: Project
    versions: dict[str, str]  # variant name -> registered version number
    holdout: pd.DataFrame  # features + target of the good model's hold-out rows
    target: str
    environments: list[Environment] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.project.root

    def bodies(self, count: int = 50) -> list[bytes]:
        rows = self.holdout.drop(columns=[self.target]).head(count).to_dict(orient="records")
        return [json.dumps({"records": [row]}).encode() for row in rows]

    def environment(self, name: str, deploy: dict[str, Any]) -> Environment:
        from mlops_helpers.ports import free_port

        config = yaml.safe_load((self.root / "mlops.yaml").read_text())
        port, admin = free_port(), free_port()
        config["deploy"] = {"on_run": False, "environment": name,
                            "local": {"port": port, "admin_port": admin, "replicas": 2, "ready_timeout": 60}, **deploy}
        path = self.root / f"mlops-{name}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        env = Environment(self, name, path, port, admin)
        self.environments.append(env)
        return env


@dataclass
class Environment:
    owner: RolloutProject
    name: str
    config: Path
    port: int
    admin_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def state_dir(self) -> Path:
        return self.owner.root / ".mlops" / "deploy" / self.name

    def mlops(self, *args: str, check: int | None = 0) -> CliResult:
        return run_mlops(*args, "-c", str(self.config), cwd=self.owner.root, check=check)

    def deploy(self, variant: str, *args: str, check: int | None = 0) -> CliResult:
        return self.mlops("deploy", "--version", self.owner.versions[variant], "--output", "json", *args, check=check)

    def wait_for_step(self, kind: str, after_revision: int, timeout: float = 60.0) -> dict[str, Any]:
        """Until the rollout newer than `after_revision` is at a step of `kind` (or stopped progressing)."""
        def reached(state: dict[str, Any]) -> bool:
            if state["revision"] <= after_revision:
                return False
            index, plan = state["step_index"], state["plan"]
            at_kind = index < len(plan) and plan[index]["type"] == kind and (kind != "pause" or bool(state["pause"]))
            return at_kind or state["status"] != "progressing"
        return self.wait_for(reached, timeout, what=f"a {kind} step")

    def revision(self) -> int:
        return self.state()["revision"] if (self.state_dir / "rollout.json").exists() else 0

    def deploy_in_background(self, variant: str, *args: str) -> subprocess.Popen:
        command = [MLOPS, "deploy", "-c", str(self.config), "--version", self.owner.versions[variant], "--output", "json", *args]
        return subprocess.Popen(command, cwd=self.owner.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)

    def status(self) -> dict[str, Any]:
        return self.mlops("rollout", "status", "--output", "json").json()

    def state(self) -> dict[str, Any]:
        return json.loads((self.state_dir / "rollout.json").read_text())

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in (self.state_dir / "events.jsonl").read_text().splitlines()]

    def wait_for(self, predicate, timeout: float = 60.0, what: str = "condition") -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (self.state_dir / "rollout.json").exists():
                state = self.state()
                if predicate(state):
                    return state
            time.sleep(0.05)
        raise AssertionError(f"{what} not reached within {timeout}s; state: {json.dumps(self.state(), indent=1)[:3000]}")

    def undeploy(self) -> None:
        if self.state_dir.exists():
            self.mlops("undeploy", check=None)


def build_project(tmp_path: Path) -> RolloutProject:
    project = make_project(tmp_path, "breast_cancer")
    (project.root / "faulty_models.py").write_text(FAULTY_MODELS)
    project.git("add", "faulty_models.py")
    project.git("commit", "-qm", "test models that misbehave when served")
    env = {"PYTHONPATH": str(project.root)}
    versions = {}
    for variant, overrides in VARIANTS.items():
        sets = [arg for override in overrides for arg in ("--set", override)]
        run_mlops("train", *sets, cwd=project.root, env=env)
        registered = run_mlops("register", "--stage", "none", "--output", "json", *sets, cwd=project.root, env=env).json()
        versions[variant] = str(registered["version"])
    holdout = pd.read_csv(next(project.root.joinpath("registry").rglob(f"versions/{versions['good']}/holdout.csv")))
    config = yaml.safe_load((project.root / "mlops.yaml").read_text())
    return RolloutProject(project, versions, holdout, config["data"]["target"])


def kill_group(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
