"""`mlops init`: a working project from the user's own CSV or Parquet file, or from a data set that
scikit-learn ships.

The result is a git repository whose data is versioned by DVC (pushed to a local DVC remote),
with an inferred schema, an `mlops.yaml` whose comments say why each value was chosen
(starter_config.py) and a sample Jenkinsfile. Every check of the user's input (folder, file,
target, task) runs before anything is created.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from mlops_helpers.config import PROJECT_NAME_PATTERN
from mlops_helpers.data import datasets, versioning
from mlops_helpers.data.tables import PARQUET_SUFFIXES
from mlops_helpers.data.target import TargetSummary, require_column, summarise_target
from mlops_helpers.errors import MlopsError
from mlops_helpers.templating import render

DATA_SUFFIXES = (".csv", *PARQUET_SUFFIXES)


@dataclass(frozen=True)
class Source:
    """Where the project's data comes from: a bundled data set or the user's file."""

    label: str  # "patients.csv", "scikit-learn's wine data set"
    data_rel: str  # the data file inside the project
    frame: pd.DataFrame
    bundled: str | None = None  # the bundled data set's name
    file: Path | None = None  # the user's file, copied as is


@dataclass(frozen=True)
class InitResult:
    root: Path
    config_file: Path
    data_file: Path
    data_md5: str
    dvc_remote: str
    commit: str
    target: str
    task: str
    task_reason: str
    positive_label: Any  # binary targets: the class binary metrics score, as the data writes it

    def to_dict(self) -> dict[str, Any]:
        return {key: str(value) if isinstance(value, Path) else value for key, value in self.__dict__.items()}


def default_dvc_remote(project: str) -> Path:
    """Outside the project, so a clone (a Jenkins workspace on the same host) reaches it too."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "mlops" / "dvc-storage" / project


def bundled_source(dataset: str) -> Source:
    datasets.get_dataset(dataset)
    return Source(f"scikit-learn's {dataset} data set", f"data/{dataset}.csv", datasets.load_frame(dataset), bundled=dataset)


def file_source(path: Path) -> Source:
    """The user's CSV or Parquet file, read (and refused) before anything is created."""
    from mlops_helpers.data.tables import read_table

    if path.is_dir():
        raise MlopsError(f"--data: {path} is a folder, not a CSV or Parquet file")
    if path.suffix.lower() not in DATA_SUFFIXES:
        raise MlopsError(f"--data: {path}: use a CSV (.csv) or Parquet ({', '.join(PARQUET_SUFFIXES)}) file")
    if path.is_file() and not os.access(path, os.R_OK):
        raise MlopsError(f"--data: {path}: cannot read the file (permission denied)")
    try:
        frame = read_table(path)
    except MlopsError as exc:
        raise MlopsError(f"--data: {exc}") from None
    if frame.empty:
        raise MlopsError(f"--data: {path}: the table has a header but no rows")
    return Source(path.name, f"data/{path.name}", frame, file=path.resolve())


def summarise(source: Source, target: str | None, task: str | None) -> TargetSummary:
    """The target's task and classes; a bundled data set's label column is `target`."""
    if source.bundled:
        task = datasets.get_dataset(source.bundled).task
        summary = summarise_target(source.frame[datasets.TARGET_COLUMN], datasets.TARGET_COLUMN, task)
        return replace(summary, reason=f"{source.label} is a {task} data set")
    columns = [str(c) for c in source.frame.columns]
    if target is None:
        raise MlopsError(f"--target: required with --data: the column to predict (columns of {source.label}: {', '.join(columns)})")
    require_column(columns, target, "--target", source.label)
    return summarise_target(source.frame[target], target, task)


def init_project(root: Path, source: Source, target: TargetSummary, project: str | None = None,
                 dvc_remote: str | None = None) -> InitResult:
    root = root.resolve()
    if root.exists() and any(root.iterdir()):
        raise MlopsError(f"{root}: folder is not empty; `mlops init` only scaffolds into a new or empty folder")
    project = project or _project_name(root)
    if not re.fullmatch(PROJECT_NAME_PATTERN, project) or len(project) > 63:
        raise MlopsError(f"--name: {project!r} is not allowed: use lowercase letters, digits, '.', '_' or '-' (max 63)")
    remote = str(Path(dvc_remote).resolve()) if dvc_remote and "://" not in dvc_remote else dvc_remote
    remote = remote or str(default_dvc_remote(project))
    root.mkdir(parents=True, exist_ok=True)

    data_file = root / source.data_rel
    data_file.parent.mkdir(parents=True, exist_ok=True)
    if source.file:
        shutil.copyfile(source.file, data_file)  # byte for byte: the data version is the user's file
    else:
        source.frame.to_csv(data_file, index=False)
    _write_project_files(root, project, source, target, remote)
    _infer_schema(root)

    versioning.init_repo(root, remote)
    data = versioning.track(data_file, root)
    versioning.push(root)
    versioning.git(["add", "--all"], root)
    commit = versioning.commit(root, f"mlops init: {project} from {source.label}")
    return InitResult(root, root / "mlops.yaml", data_file, data.md5, remote, commit, target.name, target.task,
                      target.reason, target.positive)


def _project_name(root: Path) -> str:
    name = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in root.name.lower()).strip("-._")
    if not name:
        raise MlopsError(f"cannot derive a project name from {root.name!r}; pass --name")
    return name[:63]


def _write_project_files(root: Path, project: str, source: Source, target: TargetSummary, remote: str) -> None:
    from mlops_helpers.starter_config import config_context

    context = {
        "project": project,
        "data_path": source.data_rel,
        "dvc_remote": remote,
        **config_context(source.frame, target, source.label, bundled=source.bundled is not None),
    }
    for template, name in (("mlops.yaml.j2", "mlops.yaml"), ("Jenkinsfile.j2", "Jenkinsfile"), ("gitignore.j2", ".gitignore")):
        (root / name).write_text(render(f"project/{template}", context))


def _infer_schema(root: Path) -> None:
    from mlops_helpers.config import load_config
    from mlops_helpers.console import Reporter
    from mlops_helpers.pipeline import load_data, make_context, stage_infer_schema

    ctx = make_context(load_config(root / "mlops.yaml"), Reporter(quiet=True))
    stage_infer_schema(ctx, load_data(ctx))
