"""Real services for tests: a Docker engine, an OCI registry and the base image.

Session-scoped pytest fixtures around scripts/services/*.sh (see scripts/services/README.md):

- ``docker_engine``: a ``docker.DockerClient`` for the private engine (Debian docker.io, vfs, no bridge
  network: use ``network_mode="host"`` or ``"none"``). ``DOCKER_HOST`` is set in ``os.environ`` so
  subprocesses (the ``docker`` CLI, ``mlops``) talk to the same engine.
- ``oci_registry``: the address (``"127.0.0.1:5000"``) of a local docker-registry; push to
  ``f"{oci_registry}/name:tag"`` (Docker allows plain HTTP on 127.0.0.0/8).
- ``base_image``: the name of the base image (``"mlops-base:bookworm"``) present in the engine.

A component that cannot be started makes the test fail (never skip) with the script's own message.
The services are left running after the session (several xdist workers share them; a later run
reuses them in well under a second); ``scripts/services/*.sh stop`` stops them.

Use them from conftest.py with::

    from services import base_image, docker_engine, oci_registry  # noqa: F401
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "scripts" / "services"

# First runs install Debian packages and debootstrap the base image; later runs take seconds.
START_TIMEOUT = 1800


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
