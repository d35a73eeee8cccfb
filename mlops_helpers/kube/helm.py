"""helm itself: finding the binary and running it on the mlops-model chart with rendered values.

The values come from kube/values.py; here they are written to a temporary values file for
`helm template` (no cluster needed), `helm lint --strict` and the Kubernetes backend's
`helm upgrade --install` / `helm uninstall` (through `run`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from mlops_helpers.errors import MlopsError
from mlops_helpers.kube.values import chart_dir, release_name, values_yaml

HELM_ENV_VAR = "MLOPS_HELM"
HELM_TIMEOUT = 120  # seconds

T = TypeVar("T")


def find_helm(explicit: str | None = None) -> str:
    """--helm, else MLOPS_HELM, else helm on PATH, else what scripts/services/helm.sh built."""
    for candidate in (explicit, os.environ.get(HELM_ENV_VAR)):
        if candidate:
            if not (Path(candidate).is_file() and os.access(candidate, os.X_OK)):
                raise MlopsError(f"helm {candidate!r} is not an executable file")
            return candidate
    on_path = shutil.which("helm")
    if on_path:
        return on_path
    cache = Path(os.environ.get("MLOPS_CACHE_DIR") or "/var/cache/mlops") / "bin"
    built = sorted(cache.glob("helm-v3.*"))
    if built:
        return str(built[-1])
    raise MlopsError("helm not found: install it with scripts/services/helm.sh install, or set MLOPS_HELM")


def run(helm_path: str, args: list[str], what: str) -> str:
    """helm's stdout; MlopsError naming `what` with helm's report when it fails or hangs."""
    try:
        completed = subprocess.run([helm_path, *args], capture_output=True, text=True, timeout=HELM_TIMEOUT)
    except OSError as exc:
        raise MlopsError(f"cannot run helm {helm_path!r}: {exc}") from None
    except subprocess.TimeoutExpired:
        raise MlopsError(f"{what} took more than {HELM_TIMEOUT} s") from None
    if completed.returncode != 0:
        report = "\n".join(part.strip() for part in (completed.stdout, completed.stderr) if part.strip())
        raise MlopsError(f"{what} failed: {report[-3000:]}")
    return completed.stdout


def with_values_file(values: dict[str, Any], action: Callable[[str], T]) -> T:
    """`action(path)` with the values written to a temporary values.yaml (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="mlops-helm-") as folder:
        path = Path(folder) / "values.yaml"
        path.write_text(values_yaml(values))
        return action(str(path))


def render_manifests(values: dict[str, Any], helm_path: str, namespace: str | None = None,
                     chart: str | Path | None = None) -> str:
    """The chart's manifests for these values: `helm template` (no cluster needed)."""
    chart = str(chart or chart_dir())
    args = ["template", release_name(values), chart, "--namespace", namespace or "default"]
    return with_values_file(values, lambda path: run(helm_path, [*args, "--values", path], "helm template"))


def lint(values: dict[str, Any], helm_path: str, chart: str | Path | None = None) -> str:
    """`helm lint --strict` of the chart with these values; MlopsError with helm's report when it fails."""
    chart = str(chart or chart_dir())
    return with_values_file(values, lambda path: run(helm_path, ["lint", "--strict", chart, "--values", path],
                                                     "helm lint --strict"))
