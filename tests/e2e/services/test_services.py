"""The real services the image tests rely on: Docker engine, OCI registry, base image (scripts/services)."""

from __future__ import annotations

import hashlib
import http.server
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import docker
import pytest
import requests

from services import SCRIPTS, run_service_script, start_oci_registry

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


def test_base_image_runs_python_without_network(docker_engine: docker.DockerClient, base_image: str) -> None:
    output = docker_engine.containers.run(base_image, ["python3", "--version"], network_mode="none", remove=True)
    assert output.decode().startswith("Python 3."), output
    labels = docker_engine.images.get(base_image).labels
    assert labels["org.mlops.base.packages"] == "python3,python3-venv,ca-certificates"


def test_docker_cli_uses_the_same_engine_with_host_and_no_network(docker_engine: docker.DockerClient, base_image: str) -> None:
    """DOCKER_HOST is exported for subprocesses; bridge networking is off, host and none work."""
    cli = shutil.which("docker")
    assert cli, "no docker CLI on PATH"
    script = "import socket, venv; print('host', socket.gethostname())"
    host = subprocess.run(
        [cli, "run", "--rm", "--network", "host", base_image, "python3", "-c", script],
        capture_output=True, text=True, timeout=300,
    )
    assert host.returncode == 0, host.stderr
    assert host.stdout.strip() == f"host {socket.gethostname()}"
    none = subprocess.run(
        [cli, "run", "--rm", "--network", "none", base_image, "cat", "/proc/net/dev"],
        capture_output=True, text=True, timeout=300,
    )
    assert none.returncode == 0, none.stderr
    interfaces = {line.split(":")[0].strip() for line in none.stdout.splitlines()[2:]}
    assert interfaces == {"lo"}


def test_build_push_pull_roundtrip(
    docker_engine: docker.DockerClient, oci_registry: str, base_image: str, tmp_path: Path
) -> None:
    marker = uuid.uuid4().hex
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base_image}\n"
        f"RUN python3 -c \"open('/marker', 'w').write('{marker}')\"\n"
        'CMD ["python3", "-c", "print(open(\'/marker\').read())"]\n'
    )
    name, tag = "mlops-tests/roundtrip", marker[:12]
    repository = f"{oci_registry}/{name}"
    reference = f"{repository}:{tag}"
    image, _logs = docker_engine.images.build(path=str(tmp_path), tag=reference, network_mode="host", rm=True, forcerm=True)
    try:
        pushed_digest = None
        for chunk in docker_engine.images.push(repository, tag=tag, stream=True, decode=True):
            assert "error" not in chunk, f"push failed: {chunk.get('errorDetail', chunk)}"
            pushed_digest = chunk.get("aux", {}).get("Digest", pushed_digest)
        assert pushed_digest and pushed_digest.startswith("sha256:"), "the push reported no digest"

        manifest = requests.get(f"http://{oci_registry}/v2/{name}/manifests/{tag}", headers={"Accept": MANIFEST_V2}, timeout=30)
        assert manifest.status_code == 200, manifest.text
        assert manifest.headers["Content-Type"] == MANIFEST_V2
        assert manifest.headers["Docker-Content-Digest"] == pushed_digest
        assert "sha256:" + hashlib.sha256(manifest.content).hexdigest() == pushed_digest

        docker_engine.images.remove(reference)
        with pytest.raises(docker.errors.ImageNotFound):
            docker_engine.images.get(reference)
        pulled = docker_engine.images.pull(repository, tag=tag)
        assert f"{repository}@{pushed_digest}" in pulled.attrs["RepoDigests"]
        assert pulled.id == image.id

        output = docker_engine.containers.run(reference, network_mode="none", remove=True)
        assert output.decode().strip() == marker
    finally:
        try:
            docker_engine.images.remove(reference, force=True)
        except docker.errors.ImageNotFound:
            pass
        if pushed_digest:  # keep the cached registry small: drop the test manifest (blobs go at GC)
            requests.delete(f"http://{oci_registry}/v2/{name}/manifests/{pushed_digest}", timeout=30)


def test_start_is_idempotent_and_status_answers(docker_engine: docker.DockerClient, oci_registry: str, base_image: str) -> None:
    assert run_service_script("docker.sh", "status").startswith("running:")
    assert run_service_script("registry.sh", "status").strip() == f"running: {oci_registry}"
    assert run_service_script("docker.sh", "start").strip().splitlines()[-1] == f"export DOCKER_HOST={os.environ['DOCKER_HOST']}"
    assert run_service_script("registry.sh", "start").strip() == oci_registry
    assert run_service_script("base-image.sh").strip() == base_image


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_status_fails_when_not_running(tmp_path: Path) -> None:
    docker_status = subprocess.run(
        ["bash", str(SCRIPTS / "docker.sh"), "status"], capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "MLOPS_CACHE_DIR": str(tmp_path)},
    )
    assert docker_status.returncode == 1 and "not running" in docker_status.stdout
    registry_status = subprocess.run(
        ["bash", str(SCRIPTS / "registry.sh"), "status"], capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "MLOPS_REGISTRY_PORT": str(_free_port())},
    )
    assert registry_status.returncode == 1 and "not running" in registry_status.stdout


def test_fixture_fails_clearly_when_the_registry_port_is_taken(oci_registry: str, tmp_path: Path) -> None:
    """A service that cannot start fails the test (not a skip) and says why. (oci_registry: installed already.)"""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        with pytest.raises(pytest.fail.Exception, match=f"something else answers on 127.0.0.1:{port}"):
            start_oci_registry(env={"MLOPS_REGISTRY_PORT": str(port), "MLOPS_CACHE_DIR": str(tmp_path)})
    finally:
        server.shutdown()
        server.server_close()


def _load_image_created_at(client: docker.DockerClient, tag: str, created: str, labels: dict[str, str]) -> str:
    """`docker load` an image with one empty layer whose config says it was created at `created`."""
    import io
    import json
    import tarfile

    layer = io.BytesIO()
    tarfile.open(fileobj=layer, mode="w").close()
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": created, "config": {"Labels": labels},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer.getvalue()).hexdigest()]},
    }).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": ["layer/layer.tar"]}]).encode()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for name, data in ((config_name, config), ("layer/layer.tar", layer.getvalue()), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (image,) = client.images.load(archive.getvalue())
    return image.id


def test_docker_prune_removes_old_model_images_and_keeps_new_ones_and_the_base(
    docker_engine: docker.DockerClient, base_image: str
) -> None:
    marker = uuid.uuid4().hex[:12]
    old = _load_image_created_at(docker_engine, f"prune-test/old:{marker}", "2020-01-01T00:00:00Z",
                                 {"io.mlops.model.name": "prune-test", "marker": marker})
    fresh = _load_image_created_at(docker_engine, f"prune-test/fresh:{marker}",
                                   time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                   {"io.mlops.model.name": "prune-test", "marker": marker + "-fresh"})
    unlabelled = _load_image_created_at(docker_engine, f"prune-test/other:{marker}", "2020-01-01T00:00:00Z",
                                        {"marker": marker + "-other"})
    try:
        printed = run_service_script("docker.sh", "prune", env={"MLOPS_PRUNE_AGE": "1h"})
        assert printed == ""  # messages go to stderr; stdout stays clean for scripts
        remaining = {image.id for image in docker_engine.images.list()}
        assert old not in remaining
        assert {fresh, unlabelled} <= remaining  # younger than the age; not a model image
        docker_engine.images.get(base_image)
    finally:
        for image_id in (old, fresh, unlabelled):
            try:
                docker_engine.images.remove(image_id, force=True)
            except docker.errors.ImageNotFound:
                pass


def test_docker_prune_refuses_a_bad_age() -> None:
    completed = subprocess.run(["bash", str(SCRIPTS / "docker.sh"), "prune"], capture_output=True, text=True, timeout=60,
                               env={**os.environ, "MLOPS_PRUNE_AGE": "an hour"})
    assert completed.returncode == 2
    assert "MLOPS_PRUNE_AGE must be a duration such as 30m, 2h or 1h30m, got 'an hour'" in completed.stderr


def test_registry_prune_drops_untouched_repositories_then_their_blobs(
    docker_engine: docker.DockerClient, base_image: str, tmp_path: Path
) -> None:
    env = {"MLOPS_REGISTRY_PORT": str(_free_port()), "MLOPS_CACHE_DIR": str(tmp_path)}
    address = start_oci_registry(env=env)
    storage = tmp_path / "registry" / "storage"
    try:
        for name in ("old", "fresh"):
            reference = f"{address}/prune-test/{name}:1"
            docker_engine.images.get(base_image).tag(reference)
            try:
                for chunk in docker_engine.images.push(reference, stream=True, decode=True):
                    assert "error" not in chunk, chunk
            finally:
                docker_engine.images.remove(reference)
        repositories = storage / "docker/registry/v2/repositories/prune-test"
        two_hours_ago = time.time() - 7200
        for path in (repositories / "old").rglob("*"):
            os.utime(path, (two_hours_ago, two_hours_ago))

        run_service_script("registry.sh", "prune", env=env)
        catalog = requests.get(f"http://{address}/v2/_catalog", timeout=10).json()["repositories"]
        assert catalog == ["prune-test/fresh"]  # a file written within the hour: kept, and no GC yet
        blobs_before = sum(f.stat().st_size for f in (storage / "docker/registry/v2/blobs").rglob("*") if f.is_file())
        assert blobs_before > 10_000_000  # the base image's layer is still stored

        for path in storage.rglob("*"):
            os.utime(path, (two_hours_ago, two_hours_ago))
        printed = run_service_script("registry.sh", "prune", env=env)
        assert requests.get(f"http://{address}/v2/_catalog", timeout=10).json()["repositories"] == []
        blobs_after = sum(f.stat().st_size for f in (storage / "docker/registry/v2/blobs").rglob("*") if f.is_file())
        assert blobs_after < 1_000_000, "garbage-collect left the unreferenced layers"
        assert printed == ""  # messages go to stderr; stdout stays clean for scripts
    finally:
        run_service_script("registry.sh", "stop", env=env)


def test_images_built_during_the_run_are_removed_at_its_end_and_older_ones_stay(docker_engine: docker.DockerClient) -> None:
    """What pytest_sessionfinish does (tests/conftest.py), on images dated far apart so that no
    other test's images fall in the window: 2099 is "after the run started", 2020 before it."""
    from services import remove_images_built_since

    marker = uuid.uuid4().hex[:12]
    built = _load_image_created_at(docker_engine, f"cleanup-test/built:{marker}", "2099-01-01T00:00:00Z",
                                   {"io.mlops.model.name": "cleanup-test", "marker": marker})
    older = _load_image_created_at(docker_engine, f"cleanup-test/older:{marker}", "2020-01-01T00:00:00Z",
                                   {"io.mlops.model.name": "cleanup-test", "marker": marker + "-older"})
    try:
        assert remove_images_built_since(time.mktime((2098, 1, 1, 0, 0, 0, 0, 0, 0))) >= 1
        remaining = {image.id for image in docker_engine.images.list()}
        assert built not in remaining and older in remaining
    finally:
        for image_id in (built, older):
            try:
                docker_engine.images.remove(image_id, force=True)
            except docker.errors.ImageNotFound:
                pass
