"""Every version a run depends on, for `mlops versions` and the test-suite header."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path

_PYTHON_PACKAGES = ("mlops-helpers", "scikit-learn", "numpy", "pandas", "scipy", "joblib", "dvc", "pydantic", "click", "jinja2")
_TOOLS = {"git": ["git", "--version"]}


def collect_versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in _PYTHON_PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "not installed"
    for tool, command in _TOOLS.items():
        try:
            found[tool] = subprocess.run(command, capture_output=True, text=True, timeout=30).stdout.strip().split()[-1]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            found[tool] = "not found"
    found["prometheus"] = _prometheus_version()
    found["helm"] = _helm_version()
    found["chromium"] = _chromium_version()
    found.update(_kube_versions())
    return found


def _prometheus_version() -> str:
    """From the first line of `prometheus --version`: "prometheus, version 2.42.0+ds (branch: ...)"."""
    try:
        completed = subprocess.run(["prometheus", "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    lines = (completed.stdout or completed.stderr).strip().splitlines()
    if not lines:
        return "not found"
    match = re.search(r"version (\S+)", lines[0])
    return match[1] if match else lines[0].strip()


def _chromium_version() -> str:
    """The Debian package version scripts/services/chromium.sh recorded when it installed chromium."""
    recorded = Path(os.environ.get("MLOPS_CACHE_DIR") or "/var/cache/mlops") / "chromium" / "version"
    try:
        lines = recorded.read_text().splitlines()
    except OSError:
        return "not found"
    package = next((line.split()[-1] for line in lines if line.startswith("package=") and line.split()), None)
    return package or "not found"


# The test cluster's binaries (scripts/services/kube-build.sh): on PATH, or in the newest build under
# $MLOPS_CACHE_DIR/kube/<KUBERNETES_VERSION>/bin. Each `--version` answers in a fraction of a second.
_KUBE_BINARIES = {
    "kube-apiserver": r"Kubernetes (v\S+)",  # "Kubernetes v1.34.4"
    "etcd": r"etcd Version: (\S+)",  # "etcd Version: 3.6.16" (first line)
    "kwok": r"kwok version (\S+)",  # "kwok version v0.8.0 go1.26.8 (linux/amd64)"
}


def _kube_bin_dir() -> Path | None:
    cache = Path(os.environ.get("MLOPS_CACHE_DIR") or "/var/cache/mlops") / "kube"
    try:
        builds = [p for p in cache.glob("*/bin") if any((p / name).is_file() for name in _KUBE_BINARIES)]
    except OSError:
        return None
    return max(builds, key=lambda p: p.stat().st_mtime, default=None)


def _kube_versions() -> dict[str, str]:
    found = {}
    bin_dir = None
    for name, pattern in _KUBE_BINARIES.items():
        binary = shutil.which(name)
        if binary is None:
            bin_dir = bin_dir or _kube_bin_dir()
            candidate = bin_dir / name if bin_dir else None
            binary = str(candidate) if candidate and os.access(candidate, os.X_OK) else None
        if binary is None:
            found[name] = "not found"
            continue
        try:
            completed = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            found[name] = "not found"
            continue
        match = re.search(pattern, completed.stdout + completed.stderr)
        found[name] = match[1] if match else "unknown"
    return found


def _helm_version() -> str:
    """`helm version --short` ("v3.22.0+g..."), of MLOPS_HELM, helm on PATH or scripts/services/helm.sh's build."""
    from mlops_helpers.errors import MlopsError
    from mlops_helpers.kube.helm import find_helm

    try:
        completed = subprocess.run([find_helm(), "version", "--short"], capture_output=True, text=True, timeout=10)
    except (MlopsError, OSError, subprocess.TimeoutExpired):
        return "not found"
    return completed.stdout.strip().split("+")[0] or "not found"
