"""`mlops package`: a registered model version into a container image, verified and pushed.

1. render templates/package/Dockerfile.j2 (a platform engineer can override it);
2. build context: the version's artefact, and a wheelhouse of the model's exact runtime
   dependencies downloaded on the host (pip inside a build often cannot reach an index, and
   offline wheels pin the image to the training environment);
3. build with the docker SDK, tag with the model version and git commit;
4. infra validation (infra_validation.py): run the image on the hold-out rows;
5. push, and record image, digest and verdict on the registry version.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mlops_helpers.console import Reporter
from mlops_helpers.errors import CheckFailed, MlopsError
from mlops_helpers.infra_validation import ContainerServer, validate
from mlops_helpers.ports import free_port
from mlops_helpers.templating import render

# Import name in metadata["versions"] -> distribution to install.
MODEL_LIBRARIES = {"sklearn": "scikit-learn", "numpy": "numpy", "pandas": "pandas", "scipy": "scipy", "joblib": "joblib"}
# What `mlops serve` needs besides the model's libraries (mlops_helpers itself goes in without deps).
SERVER_DISTRIBUTIONS = ("uvicorn", "httptools", "uvloop", "orjson", "prometheus-client", "click")
REGISTRY_ENV = "MLOPS_REGISTRY"
CREDENTIAL_ENV = ("MLOPS_REGISTRY_USERNAME", "MLOPS_REGISTRY_PASSWORD")


@dataclass
class PackageResult:
    model: str
    version: int
    image: str  # repository without tag
    tags: list[str]
    image_id: str
    size_bytes: int
    verified: bool | None
    pushed: bool
    digest: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def runtime_requirements(metadata: dict[str, Any], extra: list[str]) -> list[str]:
    """Pins: the model's libraries at their training versions, the server's at ours."""
    versions = metadata.get("versions") or {}
    pins = [f"{dist}=={versions[module]}" for module, dist in MODEL_LIBRARIES.items() if module in versions]
    pins += [f"{dist}=={importlib.metadata.version(dist)}" for dist in SERVER_DISTRIBUTIONS]
    return pins + list(extra)


def render_dockerfile(context: dict[str, Any], templates: str | None = None) -> str:
    return render("package/Dockerfile.j2", context, templates)


def cache_dir() -> Path:
    return Path(os.environ.get("MLOPS_CACHE_DIR") or Path.home() / ".cache" / "mlops")


def build_wheelhouse(requirements: list[str], python_version: str, reporter: Reporter) -> Path:
    """pip-download the requirements for the image's Python once; cached by their hash."""
    major_minor = ".".join(python_version.split(".")[:2])
    key = hashlib.sha256(json.dumps([requirements, major_minor, platform.machine()]).encode()).hexdigest()[:16]
    folder = cache_dir() / "wheelhouses" / key
    if (folder / ".complete").is_file():
        reporter.note(f"wheelhouse from cache ({folder})")
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    machine = platform.machine()
    platforms = [f"manylinux2014_{machine}", f"manylinux_2_17_{machine}", f"manylinux_2_28_{machine}"]
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--only-binary=:all:",
               "--python-version", major_minor, "--dest", str(folder)]
    for tag in platforms:
        command += ["--platform", tag]
    _run(command + requirements, "pip download (wheelhouse for the image)")
    (folder / ".complete").touch()
    return folder


def build_helpers_wheel(dest: Path) -> Path:
    """The mlops_helpers wheel: built from this checkout, or fetched at our exact version."""
    import mlops_helpers

    source = Path(mlops_helpers.__file__).resolve().parent.parent
    if (source / "pyproject.toml").is_file():
        command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(dest), str(source)]
    else:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(dest),
                   f"mlops-helpers=={mlops_helpers.__version__}"]
    _run(command, "building the mlops_helpers wheel")
    wheels = sorted(dest.glob("mlops_helpers-*.whl"))
    if not wheels:
        raise MlopsError(f"no mlops_helpers wheel was produced in {dest}")
    return wheels[-1]


def _run(command: list[str], what: str) -> None:
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        raise MlopsError(f"{what} failed: {(completed.stderr or completed.stdout).strip()[-2000:]}")


def docker_client():
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=300)
        client.ping()
    except DockerException as exc:
        where = os.environ.get("DOCKER_HOST", "the default socket")
        raise MlopsError(f"cannot reach the Docker engine at {where} ({exc}); start one, e.g. scripts/services/docker.sh start") from None
    return client


def docker_available() -> bool:
    """Does a Docker engine answer (DOCKER_HOST, or the default socket), within a second?"""
    import docker
    from docker.errors import DockerException

    try:
        docker.from_env(timeout=1).ping()
        return True
    except DockerException:
        return False


def registry_auth() -> dict[str, str] | None:
    """Credentials from the environment; otherwise the docker SDK uses the docker config file."""
    user, password = (os.environ.get(name) for name in CREDENTIAL_ENV)
    return {"username": user, "password": password} if user and password else None


def build_image(client, context_dir: Path, tags: list[str], reporter: Reporter) -> str:
    from docker.errors import APIError

    log_tail: list[str] = []
    image_id = None
    try:
        for chunk in client.api.build(path=str(context_dir), tag=tags[0], rm=True, forcerm=True, pull=False,
                                      network_mode="host", decode=True):
            if "stream" in chunk and chunk["stream"].strip():
                line = chunk["stream"].rstrip()
                log_tail = (log_tail + [line])[-30:]
                if line.startswith("Step "):
                    reporter.note(line)
            if "error" in chunk:
                raise MlopsError(f"docker build failed: {chunk['error'].strip()}\n" + "\n".join(log_tail))
            image_id = (chunk.get("aux") or {}).get("ID", image_id)
    except APIError as exc:
        raise MlopsError(f"docker build failed: {exc.explanation or exc}") from None
    image = client.images.get(image_id or tags[0])
    for tag in tags[1:]:
        repository, _, name = tag.rpartition(":")
        image.tag(repository, tag=name)
    return image.id


def push_image(client, repository: str, tag: str, reporter: Reporter) -> str:
    digest = None
    for chunk in client.api.push(repository, tag=tag, stream=True, decode=True, auth_config=registry_auth()):
        if "error" in chunk:
            raise MlopsError(f"docker push {repository}:{tag} failed: {chunk['error']}")
        digest = (chunk.get("aux") or {}).get("Digest", digest)
    if not digest:
        raise MlopsError(f"docker push {repository}:{tag} reported no digest")
    reporter.note(f"pushed {repository}:{tag} ({digest})")
    return digest


def prepare_context(context_dir: Path, artefact_dir: Path, wheelhouse: Path, helpers_wheel: Path, dockerfile: str) -> None:
    """wheels/ (the dependencies, the same for every version with the same requirements: a cached
    layer), helpers/ (the mlops_helpers wheel, rebuilt each time), model/ and the Dockerfile."""
    wheels, helpers = context_dir / "wheels", context_dir / "helpers"
    wheels.mkdir(parents=True)
    helpers.mkdir()
    for wheel in wheelhouse.glob("*.whl"):
        shutil.copy2(wheel, wheels / wheel.name)
    shutil.copy2(helpers_wheel, helpers / helpers_wheel.name)
    shutil.copytree(artefact_dir, context_dir / "model")
    for path in (context_dir / "model").iterdir():
        path.chmod(0o444)  # the server runs as a non-root user: the files must be readable
    (context_dir / "Dockerfile").write_text(dockerfile)


def new_context_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="mlops-image-"))


@dataclass(frozen=True)
class PackageRequest:
    reference: str = "staging"  # version number, alias or "latest"
    base_image: str | None = None
    registry: str | None = None
    push: bool = True
    verify: bool = True
    templates: str | None = None


def dockerfile_for(config, version, request: PackageRequest) -> str:
    """The rendered Dockerfile for a registry version (what --dry-run prints)."""
    metadata = version.metadata
    return render_dockerfile({
        "model": {
            "name": version.name,
            "version": version.version,
            "data_version": (metadata.get("data") or {}).get("md5") or "",
            "git_commit": (metadata.get("git") or {}).get("commit") or "",
        },
        "base_image": request.base_image or config.package.base_image,
        "requirements": runtime_requirements(metadata, config.package.extra_requirements),
        "helpers_wheel": "mlops_helpers-*.whl",
        "port": config.package.port,
        "workers": config.package.workers,
    }, request.templates)


def image_repository(config, registry: str | None) -> str:
    registry = registry or os.environ.get(REGISTRY_ENV) or config.package.registry
    name = config.package.image or config.model_name
    return f"{registry.rstrip('/')}/{name}" if registry else name


def package_model(config, request: PackageRequest, reporter: Reporter) -> PackageResult:
    from mlops_helpers.registry import open_registry

    store = open_registry(config.registry_path())
    version = store.verify(config.model_name, request.reference)
    repository = image_repository(config, request.registry)
    commit = ((version.metadata.get("git") or {}).get("commit") or "nogit")[:12]
    tags = [f"{repository}:{version.version}", f"{repository}:git-{commit}"]
    if request.push and "/" not in repository:
        raise MlopsError("no registry to push to: set package.registry in mlops.yaml, MLOPS_REGISTRY, or use --no-push")
    client = docker_client()
    context_dir = new_context_dir()
    try:
        with reporter.stage("Preparing the build context (model + wheelhouse)"):
            python_version = (version.metadata.get("versions") or {}).get("python", platform.python_version())
            requirements = runtime_requirements(version.metadata, config.package.extra_requirements)
            wheelhouse = build_wheelhouse(requirements, python_version, reporter)
            helpers = build_helpers_wheel(context_dir / "helpers")
            prepare_context(context_dir / "image", version.path, wheelhouse, helpers, dockerfile_for(config, version, request))
        with reporter.stage(f"Building {tags[0]}"):
            image_id = build_image(client, context_dir / "image", tags, reporter)
    finally:
        shutil.rmtree(context_dir, ignore_errors=True)
    size = client.images.get(image_id).attrs["Size"]
    reporter.note(f"image {image_id[:19]} is {size / 1e6:.0f} MB")
    result = PackageResult(version.name, version.version, repository, tags, image_id, size, None, False, None)
    if request.verify:
        with reporter.stage("Infra validation: running the image on the hold-out rows"):
            port = free_port()
            verdict = validate(ContainerServer(client, tags[0], port), port, version.path, reporter)
            result.verified = verdict["passed"]
            store.annotate(version.name, version.version, infra_validation={**verdict, "image_id": image_id})
            if not verdict["passed"]:  # inside the stage: it is marked failed, not ✓
                raise CheckFailed(f"infra validation failed, the model is not marked ready for deployment: "
                                  f"{verdict['reason']}", result.to_dict())
    if request.push:
        with reporter.stage(f"Pushing to {repository}"):
            result.digest = push_image(client, repository, str(version.version), reporter)
            push_image(client, repository, tags[1].rpartition(":")[2], reporter)
        result.pushed = True
    store.annotate(version.name, version.version, image={
        "repository": repository, "tags": tags, "digest": result.digest, "id": image_id, "size_bytes": size,
        "reference": f"{repository}@{result.digest}" if result.digest else tags[0],
        "ready_for_deployment": bool(result.verified) and result.pushed,
    })
    return result
