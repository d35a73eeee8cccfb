"""Real services for tests: a Docker engine, an OCI registry, the base image and Prometheus.

Session-scoped pytest fixtures around scripts/services/*.sh (see scripts/services/README.md):

- ``docker_engine``: a ``docker.DockerClient`` for the private engine (Debian docker.io, vfs, no bridge
  network: use ``network_mode="host"`` or ``"none"``). ``DOCKER_HOST`` is set in ``os.environ`` so
  subprocesses (the ``docker`` CLI, ``mlops``) talk to the same engine.
- ``oci_registry``: the address (``"127.0.0.1:5000"``) of a local docker-registry; push to
  ``f"{oci_registry}/name:tag"`` (Docker allows plain HTTP on 127.0.0.0/8).
- ``base_image``: the name of the base image (``"mlops-base:bookworm"``) present in the engine.
- ``prometheus_server``: a ``PrometheusServer`` (Debian prometheus on ``.url``, ``"http://127.0.0.1:9090"``,
  scraping every second); ``.add_targets(name, ["127.0.0.1:PORT"], {"job": "..."})`` makes it scrape a
  target (file_sd, picked up within about a second), ``.remove_targets(name)`` stops that. Use a job
  label unique to the test; a ``__metrics_path__`` label scrapes another path than ``/metrics``.
- ``kube_cluster``: a ``KubeCluster`` (scripts/services/kube-cluster.sh: etcd, kube-apiserver,
  kube-controller-manager, kube-scheduler built from source, kwok nodes, Gateway API CRDs) with
  ``.kubeconfig`` (a ``Path``, admin credentials), ``.server`` (``"https://127.0.0.1:6443"``),
  ``.start_seconds`` and ``.api_client()`` (a ``kubernetes.client.ApiClient``). Pods labelled
  ``mlops.dev/never-ready: "true"`` run but never become Ready; Pods annotated ``mlops.dev/stand-in-ip: IP``
  get that pod IP (a test serves what the container would on IP:containerPort). The first run builds everything from
  the Go module proxy (tens of minutes); later runs start a fresh cluster in well under a minute.

A component that cannot be started makes the test fail (never skip) with the script's own message.
The services are left running after the session (several xdist workers share them; a later run
reuses them in well under a second); ``scripts/services/*.sh stop`` stops them.

tests/conftest.py registers this module as a pytest plugin: a test asks for a fixture by naming it
as an argument (never by importing it), and gets the component's marker (docker, prometheus, cluster).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import docker
import pytest

if TYPE_CHECKING:
    import kubernetes.client

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts" / "services"

# First runs install Debian packages and debootstrap the base image; later runs take seconds.
START_TIMEOUT = 1800
# The first kube-cluster.sh start builds Kubernetes, etcd and kwok from source (about 25 min on 2 cores).
KUBE_START_TIMEOUT = 3600


def run_service_script(script: str, *args: str, env: dict[str, str] | None = None, timeout: float = START_TIMEOUT) -> str:
    """Run scripts/services/<script> and return its stdout; fail the calling test with its output otherwise."""
    command = ["bash", str(SCRIPTS / script), *args]
    shown = " ".join(["scripts/services/" + script, *args])
    try:
        completed = subprocess.run(
            command, cwd=REPO, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
        )
    except subprocess.TimeoutExpired as exc:
        output = "\n".join(x.decode() if isinstance(x, bytes) else x for x in (exc.stdout, exc.stderr) if x)
        pytest.fail(f"{shown} did not finish within {timeout:.0f}s:\n{_tail(output)}", pytrace=False)
    if completed.returncode != 0:
        pytest.fail(
            f"{shown} failed (exit {completed.returncode}); the test needs this service.\n"
            f"{_tail(completed.stderr)}\n{_tail(completed.stdout)}".rstrip(),
            pytrace=False,
        )
    return completed.stdout


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _last_line(output: str, what: str) -> str:
    lines = output.strip().splitlines()
    if not lines:
        pytest.fail(f"scripts/services: no {what} printed", pytrace=False)
    return lines[-1].strip()


def start_docker_engine(env: dict[str, str] | None = None) -> docker.DockerClient:
    """Start (or reuse) the engine, export DOCKER_HOST, and return a connected SDK client."""
    line = _last_line(run_service_script("docker.sh", "start", env=env), "DOCKER_HOST")
    prefix = "export DOCKER_HOST="
    if not line.startswith(prefix):
        pytest.fail(f"scripts/services/docker.sh start printed no DOCKER_HOST line, last line: {line!r}", pytrace=False)
    host = line[len(prefix):]
    os.environ["DOCKER_HOST"] = host
    try:
        client = docker.DockerClient(base_url=host, version="auto", timeout=600)
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(f"the Docker engine at {host} was started but the docker SDK cannot talk to it: {exc}", pytrace=False)
    return client


def start_oci_registry(env: dict[str, str] | None = None) -> str:
    """Start (or reuse) the registry and return its address, host:port."""
    return _last_line(run_service_script("registry.sh", "start", env=env), "registry address")


def ensure_base_image(client: docker.DockerClient, env: dict[str, str] | None = None) -> str:
    """Build, import or reuse the base image and return its name."""
    name = _last_line(run_service_script("base-image.sh", env=env), "image name")
    try:
        client.images.get(name)
    except docker.errors.ImageNotFound:
        pytest.fail(f"scripts/services/base-image.sh reported {name!r}, but the engine has no such image", pytrace=False)
    return name


def remove_images_built_since(started: float) -> int:
    """Remove the model images and untagged images (build stages) the engine created after
    `started` (a Unix time); return how many. The engine uses vfs, where a packaged model costs
    ~2 GB of disk. Call it once the whole run is over (the xdist controller), never while a
    worker may still use an image. No engine answering means nothing was built."""
    line = subprocess.run(["bash", str(SCRIPTS / "docker.sh"), "env"], capture_output=True, text=True).stdout.strip()
    try:
        client = docker.DockerClient(base_url=line.removeprefix("export DOCKER_HOST="), version="auto", timeout=120)
        client.ping()
    except docker.errors.DockerException:
        return 0
    removed = 0
    try:  # another run on the machine may remove an image while the list is being read
        images = client.images.list(filters={"dangling": True}) + client.images.list(filters={"label": "io.mlops.model.name"})
    except docker.errors.NotFound:
        images = []
    for image in images:
        # "2026-11-29T13:05:12.123456789Z": Python parses microseconds at most.
        created = datetime.fromisoformat(image.attrs["Created"].rstrip("Z").split(".")[0]).replace(tzinfo=UTC)
        if created.timestamp() >= started:
            try:
                client.images.remove(image.id, force=True)
                removed += 1
            except docker.errors.APIError:
                pass  # gone with another tag of the same image, or in use by a container
    client.close()
    return removed


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[docker.DockerClient]:
    client = start_docker_engine()
    yield client
    client.close()


@pytest.fixture(scope="session")
def oci_registry() -> str:
    return start_oci_registry()


@pytest.fixture(scope="session")
def base_image(docker_engine: docker.DockerClient) -> str:
    return ensure_base_image(docker_engine)


@dataclass
class PrometheusServer:
    """The Prometheus of scripts/services/prometheus.sh and the file_sd folder it reads its targets from."""

    url: str
    targets_dir: Path
    _written: set[Path] = field(default_factory=set, repr=False)

    def add_targets(self, name: str, targets: list[str], labels: dict[str, str]) -> Path:
        """Write targets_dir/<name>.json (atomically: a temporary file, then a rename) and return its path.

        `targets` are "host:port" strings; `labels` are attached to every one of them ("job" replaces
        the job name, "__metrics_path__" the scraped path). Writing the same name again replaces it.
        """
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"target file name {name!r}: use a plain name without '/' or a leading dot")
        path = self.targets_dir / f"{name}.json"
        content = json.dumps([{"targets": list(targets), "labels": dict(labels)}], indent=1) + "\n"
        # The temporary name does not match *.json, so Prometheus never reads a half-written file.
        handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self.targets_dir)
        try:
            with os.fdopen(handle, "w") as file:
                file.write(content)
            os.chmod(temporary, 0o644)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        self._written.add(path)
        return path

    def remove_targets(self, name: str) -> None:
        """Stop scraping what add_targets(name, ...) added (Prometheus drops it within about a second)."""
        path = self.targets_dir / f"{name}.json"
        path.unlink(missing_ok=True)
        self._written.discard(path)

    def remove_all(self) -> None:
        """Remove every target file this object wrote (other processes' files stay)."""
        for path in list(self._written):
            path.unlink(missing_ok=True)
        self._written.clear()


def start_prometheus(env: dict[str, str] | None = None) -> PrometheusServer:
    """Start (or reuse) Prometheus; check that it reads the targets folder this process writes to."""
    url = _last_line(run_service_script("prometheus.sh", "start", env=env), "Prometheus URL")
    cache = Path({**os.environ, **(env or {})}.get("MLOPS_CACHE_DIR") or "/var/cache/mlops")
    targets_dir = cache / "prometheus" / "targets"
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
        with opener.open(f"{url}/api/v1/status/config", timeout=10) as response:
            config = json.load(response)["data"]["yaml"]
    except (OSError, ValueError, KeyError) as exc:
        pytest.fail(f"Prometheus at {url} was started but GET /api/v1/status/config failed: {exc}", pytrace=False)
    if str(targets_dir) not in config or not targets_dir.is_dir():
        pytest.fail(f"the Prometheus at {url} does not read its targets from {targets_dir}:\n{config}", pytrace=False)
    return PrometheusServer(url, targets_dir)


@pytest.fixture(scope="session")
def prometheus_server() -> Iterator[PrometheusServer]:
    server = start_prometheus()
    yield server
    server.remove_all()


@dataclass(frozen=True)
class KubeCluster:
    """The cluster of scripts/services/kube-cluster.sh: an admin kubeconfig and the apiserver URL."""

    kubeconfig: Path
    server: str
    start_seconds: float = 0.0

    def api_client(self) -> kubernetes.client.ApiClient:
        """A new `kubernetes.client.ApiClient` authenticated as the cluster admin."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))


def start_kube_cluster(env: dict[str, str] | None = None, timeout: float = KUBE_START_TIMEOUT) -> KubeCluster:
    """Build (first time only) and start, or reuse, the cluster; return its kubeconfig and server."""
    started = time.monotonic()
    path = Path(_last_line(run_service_script("kube-cluster.sh", "start", env=env, timeout=timeout), "kubeconfig path"))
    seconds = time.monotonic() - started
    try:
        text = path.read_text()
    except OSError as exc:
        pytest.fail(f"scripts/services/kube-cluster.sh start printed {path}, which cannot be read: {exc}", pytrace=False)
    match = re.search(r"^\s*server:\s*(\S+)\s*$", text, re.MULTILINE)
    if not match:
        pytest.fail(f"no server in the kubeconfig {path}", pytrace=False)
    return KubeCluster(path, match[1], seconds)


@pytest.fixture(scope="session")
def kube_cluster() -> KubeCluster:
    return start_kube_cluster()
