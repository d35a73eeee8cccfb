"""Code and data versions: the real `git` and `dvc` command-line tools.

A training run records the git commit of the code and the DVC hash (md5 of the file's
content, as DVC 3 computes it) of the data it used, so any model traces back to both.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from mlops_helpers.errors import MlopsError

# DVC phones home unless told not to; these machines (and many CI agents) have no internet.
_QUIET_DVC_ENV = {"DVC_NO_ANALYTICS": "1", "DVC_NO_UPDATER": "1"}
DEFAULT_REMOTE_NAME = "storage"
_FALLBACK_IDENTITY = {
    "GIT_AUTHOR_NAME": "mlops",
    "GIT_AUTHOR_EMAIL": "mlops@localhost",
    "GIT_COMMITTER_NAME": "mlops",
    "GIT_COMMITTER_EMAIL": "mlops@localhost",
}


@dataclass(frozen=True)
class DataVersion:
    path: str  # relative to the project root
    md5: str  # content hash of the file as it is now: the data version
    size: int
    tracked_md5: str | None  # hash recorded in the .dvc file, None when not tracked
    dvc_file: str | None

    @property
    def tracked(self) -> bool:
        return self.tracked_md5 == self.md5

    def to_dict(self) -> dict:
        return {**asdict(self), "tracked": self.tracked}


@dataclass(frozen=True)
class GitInfo:
    commit: str | None  # None outside a git work tree or before the first commit
    branch: str | None
    dirty: bool

    def to_dict(self) -> dict:
        return asdict(self)


def _run(command: list[str], cwd: Path, what: str, env: dict[str, str] | None = None) -> str:
    try:
        completed = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})}
        )
    except FileNotFoundError:
        raise MlopsError(f"{what}: '{command[0]}' is not installed or not on PATH") from None
    if completed.returncode != 0:
        detail = (completed.stderr or completed.stdout).strip()
        raise MlopsError(f"{what} failed (exit {completed.returncode}): {detail}")
    return completed.stdout


def git(args: list[str], cwd: Path) -> str:
    return _run(["git", *args], cwd, f"git {args[0]}", env=_identity_env(cwd))


def dvc(args: list[str], cwd: Path) -> str:
    return _run([sys.executable, "-m", "dvc", *args], cwd, f"dvc {args[0]}", env=_QUIET_DVC_ENV)


def _identity_env(cwd: Path) -> dict[str, str]:
    """Commits need an identity; use the user's own when configured, a neutral one otherwise."""
    probe = subprocess.run(["git", "config", "user.email"], cwd=cwd, capture_output=True, text=True)
    return {} if probe.stdout.strip() else _FALLBACK_IDENTITY


def md5_file(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def git_info(folder: Path) -> GitInfo:
    if shutil.which("git") is None:
        return GitInfo(commit=None, branch=None, dirty=False)
    inside = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=folder, capture_output=True, text=True)
    if inside.returncode != 0:
        return GitInfo(commit=None, branch=None, dirty=False)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True)
    branch = subprocess.run(["git", "branch", "--show-current"], cwd=folder, capture_output=True, text=True)
    status = git(["status", "--porcelain", "--untracked-files=no"], folder)
    return GitInfo(
        commit=head.stdout.strip() if head.returncode == 0 else None,
        branch=branch.stdout.strip() or None,
        dirty=bool(status.strip()),
    )


def data_version(data_path: Path, root: Path) -> DataVersion:
    if not data_path.is_file():
        raise MlopsError(f"data.path: {data_path} does not exist (run `mlops data pull` to fetch it from the DVC remote)")
    dvc_file = data_path.with_name(data_path.name + ".dvc")
    tracked_md5 = _tracked_md5(dvc_file) if dvc_file.is_file() else None
    return DataVersion(
        path=os.path.relpath(data_path, root),
        md5=md5_file(data_path),
        size=data_path.stat().st_size,
        tracked_md5=tracked_md5,
        dvc_file=os.path.relpath(dvc_file, root) if dvc_file.is_file() else None,
    )


def _tracked_md5(dvc_file: Path) -> str | None:
    try:
        outs = yaml.safe_load(dvc_file.read_text()).get("outs") or []
        return outs[0].get("md5")
    except (yaml.YAMLError, AttributeError, IndexError) as exc:
        raise MlopsError(f"{dvc_file}: not a valid DVC file ({exc})") from exc


def is_dvc_repo(root: Path) -> bool:
    return (root / ".dvc").is_dir()


def init_repo(root: Path, remote_url: str) -> None:
    """git init + dvc init with a default remote; safe to call on an existing git repo."""
    if not (root / ".git").exists():
        git(["init", "--quiet", "--initial-branch=main"], root)
    if not is_dvc_repo(root):
        dvc(["init", "--quiet"], root)
    dvc(["config", "core.analytics", "false"], root)
    set_remote(root, remote_url)


def set_remote(root: Path, remote_url: str) -> None:
    """Make `remote_url` DVC's default remote, so mlops.yaml's data.dvc_remote is what is used."""
    dvc(["remote", "add", "--default", "--force", DEFAULT_REMOTE_NAME, remote_url], root)


def track(data_path: Path, root: Path) -> DataVersion:
    """Snapshot the data file as a new DVC version and stage its .dvc file in git."""
    require_dvc_repo(root)
    dvc(["add", "--quiet", str(data_path)], root)
    version = data_version(data_path, root)
    git(["add", "--", version.dvc_file, os.path.relpath(data_path.parent / ".gitignore", root)], root)
    return version


def require_dvc_repo(root: Path) -> None:
    if not is_dvc_repo(root):
        raise MlopsError(f"{root}: not a DVC repository (run `mlops init` or `dvc init`)")


def status(root: Path, remote_url: str | None = None) -> dict:
    """Local changes (workspace vs .dvc files) and remote sync state, from `dvc status`."""
    _prepare(root, remote_url)
    local = json.loads(dvc(["status", "--json"], root) or "{}")
    remote = json.loads(dvc(["status", "--cloud", "--json"], root) or "{}")
    return {"workspace": local, "remote": remote, "up_to_date": not local and not remote}


def push(root: Path, remote_url: str | None = None) -> str:
    _prepare(root, remote_url)
    return dvc(["push"], root).strip()


def pull(root: Path, remote_url: str | None = None, data_path: Path | None = None, rev: str | None = None) -> str:
    """Fetch the data version that the checked-out .dvc files name, from the remote.

    With `rev`, first take the data file's .dvc from that git revision: the data exactly as
    it was at that commit or tag (how Jenkins retrains on an earlier data version).
    """
    _prepare(root, remote_url)
    if rev:
        if data_path is None:
            raise MlopsError("--rev needs the data file whose version to restore")
        dvc_file = os.path.relpath(data_path.with_name(data_path.name + ".dvc"), root)
        git(["checkout", rev, "--", dvc_file], root)
    return dvc(["pull"], root).strip()


def _prepare(root: Path, remote_url: str | None) -> None:
    require_dvc_repo(root)
    if remote_url:
        set_remote(root, remote_url)


def commit(root: Path, message: str) -> str:
    git(["commit", "--quiet", "-m", message], root)
    return git(["rev-parse", "HEAD"], root).strip()
