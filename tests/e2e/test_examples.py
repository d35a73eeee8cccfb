"""The example configs work as documented: copied into a fresh project, they train and register."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cli_support import make_project

pytestmark = pytest.mark.slow  # `mlops run` of each example

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_wine_gradient_boosting_example_runs(tmp_path: Path) -> None:
    project = make_project(tmp_path, "wine")
    shutil.copy(EXAMPLES / "wine-gradient-boosting/mlops.yaml", project.root / "mlops.yaml")
    summary = project.mlops("run", "--output", "json").json()
    assert summary["registered"]["model"] == "wine-hgb"
    assert [g["name"] for g in summary["gates"]] == [
        "accuracy threshold", "log_loss threshold", "f1 non-regression", "accuracy non-regression"
    ]
    assert all(g["passed"] for g in summary["gates"])
