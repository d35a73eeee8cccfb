"""`mlops init`: a working project from a data set that scikit-learn ships.

The result is a git repository whose data is versioned by DVC (pushed to a local DVC
remote), with an inferred schema, an `mlops.yaml` and a sample Jenkinsfile.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from mlops_helpers.config import PROJECT_NAME_PATTERN
from mlops_helpers.data import datasets, versioning
from mlops_helpers.errors import MlopsError
from mlops_helpers.templating import render

# Sensible starting points per task; every value is a normal mlops.yaml entry to edit.
_TASK_DEFAULTS = {
    "classification": {
        "estimator": "RandomForestClassifier",
        "params": {"n_estimators": 200, "max_depth": 8},
        "primary_metric": "accuracy",
        "gates": [{"metric": "accuracy", "bound": "min", "value": 0.85}, {"metric": "f1", "bound": "min", "value": 0.8}],
    },
    "regression": {
        "estimator": "GradientBoostingRegressor",
        "params": {"n_estimators": 150, "max_depth": 2, "learning_rate": 0.05},
        "primary_metric": "r2",
        "gates": [{"metric": "r2", "bound": "min", "value": 0.3}],
    },
}


@dataclass(frozen=True)
class InitResult:
    root: Path
    config_file: Path
    data_file: Path
    data_md5: str
    dvc_remote: str
    commit: str

    def to_dict(self) -> dict[str, str]:
        return {key: str(value) for key, value in self.__dict__.items()}


def default_dvc_remote(project: str) -> Path:
    """Outside the project, so a clone (a Jenkins workspace on the same host) reaches it too."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "mlops" / "dvc-storage" / project


def init_project(root: Path, dataset: str, project: str | None = None, dvc_remote: str | None = None) -> InitResult:
    spec = datasets.get_dataset(dataset)
    root = root.resolve()
    if root.exists() and any(root.iterdir()):
        raise MlopsError(f"{root}: folder is not empty; `mlops init` only scaffolds into a new or empty folder")
    project = project or _project_name(root)
    if not re.fullmatch(PROJECT_NAME_PATTERN, project) or len(project) > 63:
        raise MlopsError(f"--name: {project!r} is not allowed: use lowercase letters, digits, '.', '_' or '-' (max 63)")
    remote = str(Path(dvc_remote).resolve()) if dvc_remote and "://" not in dvc_remote else dvc_remote
    remote = remote or str(default_dvc_remote(project))
    root.mkdir(parents=True, exist_ok=True)

    data_rel = f"data/{dataset}.csv"
    datasets.write_csv(dataset, root / data_rel)
    _write_project_files(root, project, spec, data_rel, remote)
    _infer_schema(root)

    versioning.init_repo(root, remote)
    data = versioning.track(root / data_rel, root)
    versioning.push(root)
    versioning.git(["add", "--all"], root)
    commit = versioning.commit(root, f"mlops init: {project} from scikit-learn's {dataset} data set")
    return InitResult(root, root / "mlops.yaml", root / data_rel, data.md5, remote, commit)


def _project_name(root: Path) -> str:
    name = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in root.name.lower()).strip("-._")
    if not name:
        raise MlopsError(f"cannot derive a project name from {root.name!r}; pass --name")
    return name[:63]


def _write_project_files(root: Path, project: str, spec: datasets.BundledDataset, data_rel: str, remote: str) -> None:
    context = {
        "project": project,
        "data_path": data_rel,
        "target": datasets.TARGET_COLUMN,
        "dvc_remote": remote,
        **_TASK_DEFAULTS[spec.task],
    }
    for template, target in (("mlops.yaml.j2", "mlops.yaml"), ("Jenkinsfile.j2", "Jenkinsfile"), ("gitignore.j2", ".gitignore")):
        (root / target).write_text(render(f"project/{template}", context))


def _infer_schema(root: Path) -> None:
    from mlops_helpers.config import load_config
    from mlops_helpers.console import Reporter
    from mlops_helpers.pipeline import load_data, make_context, stage_infer_schema

    ctx = make_context(load_config(root / "mlops.yaml"), Reporter(quiet=True))
    stage_infer_schema(ctx, load_data(ctx))
