"""Every version a run depends on, for `mlops versions` and the test-suite header."""

from __future__ import annotations

import importlib.metadata
import platform
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
    return found
