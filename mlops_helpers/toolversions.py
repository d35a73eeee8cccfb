"""Every version a run depends on, for `mlops versions` and the test-suite header."""

from __future__ import annotations

import importlib.metadata
import platform
import re
import subprocess

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
