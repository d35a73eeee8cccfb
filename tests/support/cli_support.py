"""The real `mlops` CLI, real git and DVC, in temporary folders: run the installed command as a user
would, and projects made by `mlops init` (the fixtures `classification_project`, `regression_project`).

Registered as a pytest plugin by tests/conftest.py; test modules import the helpers they call
(`from cli_support import run_mlops`), never the fixtures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

MLOPS = str(Path(sys.executable).with_name("mlops"))


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict:
        return json.loads(self.stdout)


def run_mlops(*args: str, cwd: Path, check: int | None = 0, env: dict[str, str] | None = None, docker: bool = False) -> CliResult:
    """Run the installed `mlops` command as a user would; assert the exit code unless check=None.

    Without `docker=True` the command runs as on a laptop without a Docker engine, so a test
    does not depend on whether another test in the same worker started one.
    """
    base = {key: value for key, value in os.environ.items() if docker or key != "DOCKER_HOST"}
    completed = subprocess.run([MLOPS, *args], cwd=cwd, capture_output=True, text=True, env={**base, **(env or {})}, timeout=900)
    result = CliResult(completed.returncode, completed.stdout, completed.stderr)
    if check is not None:
        assert result.code == check, f"mlops {' '.join(args)} exited {result.code}, expected {check}:\n{result.stderr}\n{result.stdout}"
    return result


@dataclass
class Project:
    root: Path
    remote: Path

    def mlops(self, *args: str, check: int | None = 0, docker: bool = False) -> CliResult:
        return run_mlops(*args, cwd=self.root, check=check, docker=docker)

    def git(self, *args: str) -> str:
        return subprocess.run(["git", *args], cwd=self.root, capture_output=True, text=True, check=True).stdout.strip()


def make_project(tmp_path: Path, dataset: str, deploy_on_run: bool = False) -> Project:
    """A project from `mlops init`; unless asked, `mlops run` does not deploy (no router on port 8000)."""
    root, remote = tmp_path / dataset, tmp_path / f"{dataset}-remote"
    run_mlops("init", str(root), "--dataset", dataset, "--dvc-remote", str(remote), cwd=tmp_path)
    project = Project(root, remote)
    if not deploy_on_run:
        config = root / "mlops.yaml"
        config.write_text(config.read_text().replace("  on_run: true", "  on_run: false", 1))
        project.git("commit", "-qam", "test: no deployment on mlops run")
    return project


@pytest.fixture
def classification_project(tmp_path: Path) -> Project:
    return make_project(tmp_path, "breast_cancer")


@pytest.fixture
def regression_project(tmp_path: Path) -> Project:
    return make_project(tmp_path, "diabetes")
