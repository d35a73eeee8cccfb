"""CLI contract through the installed `mlops` command: fast help, field-named config errors (exit 2),
integrity checks. (Help pages and module imports in-process: tests/unit/cli/test_cli.py.)"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cli_support import MLOPS, Project, run_mlops


def test_help_does_not_import_heavy_libraries() -> None:
    # `mlops --help` must stay fast: scikit-learn, pandas and DVC load only inside commands.
    probe = "import sys; from mlops_helpers import cli; print(' '.join(sorted(m for m in ('sklearn', 'pandas', 'dvc', 'pydantic', 'numpy') if m in sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""
    assert subprocess.run([MLOPS, "--help"], capture_output=True, text=True).returncode == 0


BAD_VALUES = [
    ("training.params.n_estimators=-3", "mlops.yaml: training.params.n_estimators: -3 is not valid: must be an int in the range [1, inf)"),
    ("training.params.max_depht=3", "mlops.yaml: training.params.max_depht: not a parameter of RandomForestClassifier"),
    ("training.estimator=RandomForrest", "mlops.yaml: training.estimator: 'RandomForrest' is not a scikit-learn estimator"),
    ("training.estimator=nosuchpkg.Model", "mlops.yaml: training.estimator: 'nosuchpkg.Model' cannot be imported"),
    ("training.test_size=1.5", "mlops.yaml: training.test_size: 1.5 is not < 1"),
    ("training.seed=-1", "mlops.yaml: training.seed: -1 is not >= 0"),
    ("training.task=regression", "mlops.yaml: training.task: 'regression' does not match RandomForestClassifier"),
    ("training.colour=red", "mlops.yaml: training.colour: unknown key"),
    ("training.preprocessing.numeric=zscore", "mlops.yaml: training.preprocessing.numeric: 'zscore' is not one of"),
    ("validation.gates.0.metric=rmse", "mlops.yaml: validation.gates.0.metric: 'rmse' is not a classification metric"),
    ("validation.gates.0.metric=acc", "mlops.yaml: validation.gates.0.metric: 'acc' is not one of"),
    ("validation.gates=[{metric: f1}]", "mlops.yaml: validation.gates.0: gate on 'f1' needs 'min' or 'max'"),
    ("validation.non_regression.tolerance=-0.1", "mlops.yaml: validation.non_regression.tolerance: -0.1 is not >= 0"),
    ("project=Bad Name", "mlops.yaml: project: 'Bad Name' is not allowed"),
    ("data.target=", "mlops.yaml: data.target: None"),
    ("registry.uri=s3://bucket/models", "mlops.yaml: registry.uri: 's3://bucket/models' is not supported"),
    ("version=2", "mlops.yaml: version: 2 is not one of: 1"),
]


@pytest.fixture(scope="module")
def shared_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    from cli_support import make_project

    return make_project(tmp_path_factory.mktemp("cli"), "breast_cancer")


@pytest.mark.parametrize(("override", "message"), BAD_VALUES, ids=[o for o, _ in BAD_VALUES])
def test_bad_config_values_name_the_field(shared_project: Project, override: str, message: str) -> None:
    result = shared_project.mlops("config", "check", "--set", override, check=2)
    assert message in result.stderr


def test_config_file_problems_are_named(tmp_path: Path) -> None:
    missing = run_mlops("config", "check", cwd=tmp_path, check=2)
    assert "mlops.yaml: config file not found" in missing.stderr
    (tmp_path / "mlops.yaml").write_text("project: x\ndata: [unclosed\n")
    assert "not valid YAML" in run_mlops("config", "check", cwd=tmp_path, check=2).stderr
    (tmp_path / "mlops.yaml").write_text("- just\n- a list\n")
    assert "the top level must be a mapping" in run_mlops("config", "check", cwd=tmp_path, check=2).stderr
    (tmp_path / "mlops.yaml").write_text("project: x\n")
    assert "mlops.yaml: data: required key is missing" in run_mlops("config", "check", cwd=tmp_path, check=2).stderr


def test_malformed_override_is_a_usage_error(shared_project: Project) -> None:
    assert "expected KEY.PATH=VALUE" in shared_project.mlops("config", "check", "--set", "training.seed", check=2).stderr
    assert "has no item 7" in shared_project.mlops("config", "check", "--set", "validation.gates.7.min=1", check=2).stderr


def test_init_refuses_a_non_empty_folder_and_unknown_dataset(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    assert "folder is not empty" in run_mlops("init", "busy", cwd=tmp_path, check=2).stderr
    assert (tmp_path / "busy" / "keep.txt").read_text() == "mine"
    assert "not a bundled data set" in run_mlops("init", "new", "--dataset", "mnist", cwd=tmp_path, check=2).stderr


def test_corrupted_artefact_is_refused(classification_project: Project) -> None:
    project = classification_project
    project.mlops("run")
    registered = project.root / "registry/breast_cancer/versions/1/model.joblib"
    registered.chmod(0o644)
    registered.write_bytes(registered.read_bytes()[:-100])  # truncated
    result = project.mlops("registry", "show", "@1", check=2)
    assert "model.joblib: checksum mismatch" in result.stderr
    # A tampered training artefact is refused before it is unpickled.
    artefact = project.root / "mlops-out/model/model.joblib"
    artefact.write_bytes(artefact.read_bytes().replace(b"sklearn", b"sklearm", 1))
    assert "checksum mismatch" in project.mlops("evaluate", check=2).stderr
    assert "checksum mismatch" in project.mlops("register", check=2).stderr


def test_concurrent_cli_registrations_all_land(classification_project: Project) -> None:
    project = classification_project
    project.mlops("train")
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: project.mlops("register", "--output", "json", "--stage", "none"), range(8)))
    versions = sorted(r.json()["version"] for r in results)
    assert versions == list(range(1, 9))
    listed = project.mlops("registry", "list", "--output", "json").json()["versions"]
    assert [v["version"] for v in listed] == versions
    for number in versions:
        project.mlops("registry", "show", f"@{number}")  # each verifies its checksums


def test_promote_and_rollback_through_the_cli(classification_project: Project) -> None:
    project = classification_project
    project.mlops("run")
    project.mlops("run", "--set", "training.params.n_estimators=50")
    project.mlops("registry", "promote", "@1", "--to", "production")
    project.mlops("registry", "promote", "@2", "--to", "production")
    assert project.mlops("registry", "show", "@production", "--output", "json").json()["version"] == 2
    assert project.mlops("registry", "show", "@archived", "--output", "json").json()["version"] == 1
    project.mlops("registry", "rollback")
    assert project.mlops("registry", "show", "@production", "--output", "json").json()["version"] == 1
    events = [e["event"] for e in project.mlops("registry", "history", "--output", "json").json()["events"]]
    assert events.count("registered") == 2 and "rolled_back" in events
    assert "version 9" in project.mlops("registry", "promote", "@9", "--to", "production", check=2).stderr
