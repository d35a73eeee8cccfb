"""Packaging against the real Docker engine and OCI registry started by scripts/services/."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from cli_support import Project, make_project


@pytest.fixture(scope="module")
def packaged_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    project = make_project(tmp_path_factory.mktemp("package"), "breast_cancer")
    project.mlops("run")
    return project


def test_dry_run_renders_the_dockerfile_with_the_given_base_image(packaged_project: Project) -> None:
    dockerfile = packaged_project.mlops("package", "--dry-run", "--base-image", "example/base:1", "--output", "json").json()["dockerfile"]
    assert dockerfile.count("FROM example/base:1") == 2  # build stage and runtime stage
    assert "USER 10001:10001" in dockerfile and "HEALTHCHECK" in dockerfile and "/healthz" in dockerfile
    assert 'io.mlops.model.version="1"' in dockerfile
    metadata = json.loads((packaged_project.root / "mlops-out/model/metadata.json").read_text())
    assert f'io.mlops.data.version="{metadata["data"]["md5"]}"' in dockerfile
    assert f"scikit-learn=={metadata['versions']['sklearn']}" in dockerfile
    # Default base image is the one a real user would use.
    assert "FROM python:3.11-slim AS build" in packaged_project.mlops("package", "--dry-run").stdout


def test_a_template_in_the_users_folder_overrides_the_built_in(packaged_project: Project, tmp_path: Path) -> None:
    (tmp_path / "package").mkdir()
    (tmp_path / "package/Dockerfile.j2").write_text("FROM {{ base_image }}\n# company policy for {{ model.name }}\n")
    out = packaged_project.mlops("package", "--dry-run", "--templates", str(tmp_path)).stdout
    assert out == "FROM python:3.11-slim\n# company policy for breast_cancer\n\n"


def test_package_push_pull_run_gives_the_in_process_predictions(
    packaged_project: Project, docker_engine, oci_registry: str, base_image: str
) -> None:
    project = packaged_project
    result = project.mlops("package", "--base-image", base_image, "--registry", oci_registry, "--output", "json",
                           docker=True).json()

    assert result["verified"] is True and result["pushed"] is True
    repository = f"{oci_registry}/breast_cancer"
    assert result["image"] == repository and result["tags"][0] == f"{repository}:1"
    # The digest recorded in the model registry is the registry's own manifest digest.
    manifest = urllib.request.Request(f"http://{oci_registry}/v2/breast_cancer/manifests/1", method="HEAD",
                                      headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    with urllib.request.urlopen(manifest) as response:
        registry_digest = response.headers["Docker-Content-Digest"]
    assert result["digest"] == registry_digest
    annotations = project.mlops("registry", "show", "@1", "--output", "json").json()["annotations"]
    assert annotations["image"]["digest"] == registry_digest
    assert annotations["image"]["ready_for_deployment"] is True
    assert annotations["infra_validation"]["passed"] is True and annotations["infra_validation"]["mismatches"] == 0
    print(f"image size: {result['size_bytes'] / 1e6:.0f} MB")

    # Pull it back by digest (after removing every local copy) and serve the whole hold-out set.
    for tag in result["tags"]:
        docker_engine.images.remove(tag, force=True)
    image = docker_engine.images.pull(f"{repository}@{registry_digest}")
    labels = image.labels
    assert labels["io.mlops.model.version"] == "1" and labels["io.mlops.model.name"] == "breast_cancer"
    assert image.attrs["Config"]["User"] == "10001:10001"
    port = _free_port()
    container = docker_engine.containers.run(image.id, command=["--port", str(port)], network_mode="host", detach=True)
    try:
        _wait_ready(port)
        holdout = pd.read_csv(project.root / "registry/breast_cancer/versions/1/holdout.csv")
        features = holdout.drop(columns=["target"])
        body = json.dumps({"records": json.loads(features.to_json(orient="records"))}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/predict", data=body, headers={"content-type": "application/json"})
        with urllib.request.urlopen(request) as response:
            served = json.loads(response.read())
            assert response.headers["x-model-version"] == "1"
    finally:
        container.remove(force=True)
    expected = joblib.load(project.root / "registry/breast_cancer/versions/1/model.joblib").predict(features)
    np.testing.assert_array_equal(np.asarray(served["predictions"]), expected)
    assert len(expected) == len(holdout) > 100


def test_an_image_that_does_not_serve_fails_infra_validation_and_is_not_pushed(
    packaged_project: Project, docker_engine, oci_registry: str, base_image: str, tmp_path: Path
) -> None:
    project = packaged_project
    broken = (project.root.parent / "broken-templates" / "package")
    broken.mkdir(parents=True, exist_ok=True)
    from mlops_helpers.templating import builtin_templates_dir

    original = (builtin_templates_dir() / "package/Dockerfile.j2").read_text()
    # The server crashes on start: the model file it is told to load does not exist.
    (broken / "Dockerfile.j2").write_text(original.replace('"--artefact", "/model"', '"--artefact", "/nowhere"'))
    failed = project.mlops("package", "--base-image", base_image, "--registry", oci_registry,
                           "--templates", str(broken.parent), "--output", "json", check=1, docker=True)
    assert "the server exited before it was ready" in failed.stderr and "/nowhere" in failed.stderr
    annotations = project.mlops("registry", "show", "@1", "--output", "json").json()["annotations"]
    assert annotations["infra_validation"]["passed"] is False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_ready(port: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"container on port {port} not ready after {timeout}s")


def test_main_job_packages_the_new_version_when_docker_answers(
    tmp_path: Path, docker_engine, oci_registry: str, base_image: str
) -> None:
    project = make_project(tmp_path, "wine")
    summary = project.mlops("run", "--set", f"package.base_image={base_image}", "--set", f"package.registry={oci_registry}",
                            "--set", "package.image=wine-main-job", "--output", "json", docker=True).json()
    delivery = summary["delivery"]
    assert delivery["mode"] == "image" and delivery["verified"] is True and delivery["pushed"] is True
    assert delivery["tags"][0] == f"{oci_registry}/wine-main-job:1"
    shown = project.mlops("registry", "show", "@staging", "--output", "json").json()
    assert shown["annotations"]["image"]["digest"] == delivery["digest"]
