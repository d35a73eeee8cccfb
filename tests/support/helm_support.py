"""helm for the tests, built by scripts/services/helm.sh, and a small project with a registry of
packaged versions (image annotations as `mlops package` writes them; no Docker needed).

A helm that cannot be built fails the tests that use it; it is never skipped.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HELM_SCRIPT = REPO / "scripts" / "services" / "helm.sh"
DIGESTS = {version: "sha256:" + f"{version:x}" * 64 for version in range(1, 10)}
REPOSITORY = "127.0.0.1:5000/churn"


def pinned_helm_version() -> str:
    for line in (REPO / "tools" / "versions.env").read_text().splitlines():
        if line.startswith("HELM_VERSION="):
            return line.split("=", 1)[1].split()[0]
    raise AssertionError("tools/versions.env has no HELM_VERSION")


@pytest.fixture(scope="session")
def helm() -> str:
    """Path of the pinned helm; the first run builds it with `go install` (a few minutes)."""
    try:
        completed = subprocess.run(["bash", str(HELM_SCRIPT), "install"], capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired:
        pytest.fail("scripts/services/helm.sh install did not finish within 30 minutes", pytrace=False)
    if completed.returncode != 0:
        pytest.fail(f"scripts/services/helm.sh install failed ({completed.returncode}):\n{completed.stderr[-3000:]}",
                    pytrace=False)
    path = completed.stdout.strip().splitlines()[-1] if completed.stdout.strip() else ""
    if not Path(path).is_file():
        pytest.fail(f"scripts/services/helm.sh install printed {path!r}, which is not a file", pytrace=False)
    return path


BASE_CONFIG = {
    "version": 1,
    "project": "churn",
    "data": {"path": "data/churn.csv", "target": "churned"},
    "training": {"estimator": "LogisticRegression"},
    "package": {"registry": "127.0.0.1:5000", "port": 8080, "workers": 2},
}


def write_config(root: Path, deploy: dict | None = None, **sections) -> Path:
    import yaml

    root.mkdir(parents=True, exist_ok=True)
    config = {**BASE_CONFIG, **sections, "deploy": {"target": "kubernetes", **(deploy or {})}}
    path = root / "mlops.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def register_packaged(root: Path, model: str, versions: int, production: int | None = None,
                      without_image: tuple[int, ...] = (), never_ready: tuple[int, ...] = ()) -> None:
    """`versions` registered versions of `model` in root/registry, each with the image record of
    `mlops package` (repository and a fixed digest), except those in `without_image`. Versions in
    `never_ready` get an image from a `never-ready` repository: the test cluster's kwok keeps
    their pods Running but never Ready, like an image that cannot start."""
    from mlops_helpers.checksums import write_sums
    from mlops_helpers.registry import open_registry

    store = open_registry(root / "registry")
    for number in range(1, versions + 1):
        artefact = root / f"artefact-{number}"
        artefact.mkdir(parents=True)
        (artefact / "model.joblib").write_bytes(f"not a real model {number}".encode())
        (artefact / "metadata.json").write_text(json.dumps({"name": model, "number": number}))
        write_sums(artefact)
        version = store.register(model, artefact, stage="staging")
        assert version.version == number
        if number not in without_image:
            repository = REPOSITORY.replace("churn", f"never-ready-{model}" if number in never_ready else model)
            store.annotate(model, number, image={
                "repository": repository, "tags": [f"{repository}:{number}"], "digest": DIGESTS[number],
                "id": "sha256:" + "0" * 64, "size_bytes": 1, "reference": f"{repository}@{DIGESTS[number]}",
                "ready_for_deployment": True})
    if production is not None:
        store.promote(model, production, "production")
