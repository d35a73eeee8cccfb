"""What a run needs, checked before it does any work: `mlops config check` and the first stage of
`mlops run` (and `mlops train`) refuse a config that would fail later, after training or registering.

- every column the config names (data.target, training.preprocessing.drop) is in the data file,
  read from its header only (a CSV's first line, a Parquet file's schema), with a did-you-mean;
- the schema kept in git (data.schema) was inferred for the same target;
- a run that deploys locally finds its router and admin ports free, or held by this
  environment's own router (the local backend's own test, `LocalBackend.router_running`);
- a run that delivers an image finds a Docker engine and, when it pushes, the registry.

Every problem is one line, `mlops.yaml: <field>: ...` like config.py's, and all of them are
reported at once (a ConfigError: exit 2).
"""

from __future__ import annotations

import os
import socket
import ssl
import urllib.error
import urllib.request
from pathlib import Path

from mlops_helpers.config import DEFAULT_CONFIG_FILE, MlopsConfig
from mlops_helpers.data.tables import PARQUET_SUFFIXES
from mlops_helpers.data.target import similar_names
from mlops_helpers.errors import ConfigError, MlopsError

SOURCE = DEFAULT_CONFIG_FILE
NO_DEPLOY = "or run without deploying (mlops run --no-deploy)"
NO_IMAGE = "or deliver without an image (mlops run --deliver local)"


def check_run(config: MlopsConfig, deliver: str = "none", deploy: bool = False) -> list[str]:
    """What was found in order (one line each); ConfigError with every problem otherwise.

    `deliver` and `deploy` are those of `mlops run`: "none" and False check the data only."""
    found: list[str] = []
    problems = _check_data(config, found)
    if deploy and config.deploy.target == "local":
        problems += _check_local_ports(config, found)
    if deliver in ("auto", "image"):
        problems += _check_image_delivery(config, deliver, found)
    if problems:
        raise ConfigError("\n".join(problems))
    return found


# --------------------------------------------------------------------------- the data's columns


def named_columns(config: MlopsConfig) -> list[tuple[str, str]]:
    """(field, column) for every column mlops.yaml names."""
    drop = config.training.preprocessing.drop
    return [("data.target", config.data.target), *((f"training.preprocessing.drop.{i}", c) for i, c in enumerate(drop))]


def _check_data(config: MlopsConfig, found: list[str]) -> list[str]:
    shown = config.data.path
    try:
        columns = read_header(config.resolve(shown))
    except MlopsError as exc:
        return [f"{SOURCE}: data.path: {shown}: {exc}"]
    problems = [f"{SOURCE}: {field}: column {name!r} is not in {shown} ({_hint(name, columns)}columns: {', '.join(columns)})"
                for field, name in named_columns(config) if name not in columns]
    if config.data.target in columns:  # a target that is not there is the one problem to fix first
        problems += _check_schema_target(config)
    if not problems:
        found.append(f"{shown}: {len(columns)} columns, with every column mlops.yaml names")
    return problems


def read_header(path: Path) -> list[str]:
    """The column names of a CSV or Parquet file, without reading its rows."""
    if not path.is_file():
        hint = " (restore it with `mlops data pull`)" if path.with_name(path.name + ".dvc").is_file() else ""
        raise MlopsError(f"data file not found{hint}")
    if path.stat().st_size == 0:
        raise MlopsError("data file is empty")
    columns = _parquet_header(path) if path.suffix.lower() in PARQUET_SUFFIXES else _csv_header(path)
    if not columns:
        raise MlopsError("the table has no columns")
    return columns


def _csv_header(path: Path) -> list[str]:
    import pandas as pd

    try:
        return [str(name) for name in pd.read_csv(path, nrows=0).columns]
    except pd.errors.EmptyDataError:
        raise MlopsError("the table has no columns (no header row)") from None
    except UnicodeDecodeError as exc:
        raise MlopsError(f"not a UTF-8 text CSV file ({exc.reason} at byte {exc.start})") from None
    except pd.errors.ParserError as exc:
        raise MlopsError(f"not a parseable CSV file: {exc}".rstrip()) from None


def _parquet_header(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise MlopsError(f"not a readable Parquet file: {exc}") from None
    # A frame's index, stored by pandas as columns, comes back as the index: not a column.
    index = {name for name in (schema.pandas_metadata or {}).get("index_columns", []) if isinstance(name, str)}
    return [name for name in schema.names if name not in index]


def _hint(name: str, columns: list[str]) -> str:
    close = similar_names(name, columns, 1)
    return f"did you mean {close[0]!r}?; " if close else ""


def _check_schema_target(config: MlopsConfig) -> list[str]:
    """The schema in git names the target it was inferred for; another one means a stale schema."""
    from mlops_helpers.data.schema import load_schema

    schema_path = config.resolve(config.data.schema_file)
    if not schema_path.is_file():
        return []  # data validation says how to create it, when it is on
    try:
        schema_target = load_schema(schema_path).get("target")
    except MlopsError as exc:
        return [f"{SOURCE}: data.schema: {exc}"]
    if schema_target is None or schema_target == config.data.target:
        return []
    return [f"{SOURCE}: data.target: {config.data.target!r} is not the target of {config.data.schema_file} "
            f"({schema_target!r}): fix data.target, or infer the schema again (mlops data infer-schema)"]


# --------------------------------------------------------------------------- the local deployment


def _check_local_ports(config: MlopsConfig, found: list[str]) -> list[str]:
    from mlops_helpers.rollout.backends.base import BackendError
    from mlops_helpers.rollout.backends.local.backend import LocalBackend
    from mlops_helpers.rollout.operations import open_environment

    local = config.deploy.local
    backend = open_environment(config).backend
    assert isinstance(backend, LocalBackend)  # deploy.target is local
    try:
        if backend.router_running():
            found.append(f"deploy: this environment's router answers on {local.host}:{local.router_admin_port}")
            return []
    except BackendError as exc:
        return [f"{SOURCE}: deploy.local: {exc}, {NO_DEPLOY}"]
    ports = [("deploy.local.port", local.port), ("deploy.local.admin_port", local.router_admin_port)]
    problems = [f"{SOURCE}: {field}: port {port} on {local.host} is in use{_holder(port)}, not by this environment's "
                f"router: stop it, choose another port with {field}, {NO_DEPLOY}"
                for field, port in ports if _port_taken(local.host, port)]
    if not problems:
        found.append(f"deploy: ports {local.port} and {local.router_admin_port} on {local.host} are free for the router")
    return problems


def _port_taken(host: str, port: int) -> bool:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror:
        return False  # an unknown host is the router's error to report, not a taken port
    with socket.socket(family, kind, proto) as probe:
        # Like the router's own socket: connections of a stopped router in TIME_WAIT do not count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError:
            return True
    return False


def _holder(port: int) -> str:
    """' by pid N (name)' when the listening process is visible to this user, else ''."""
    import psutil

    try:
        for connection in psutil.net_connections(kind="tcp"):
            if connection.laddr and connection.laddr.port == port and connection.pid:
                return f" by pid {connection.pid} ({psutil.Process(connection.pid).name()})"
    except (psutil.Error, OSError):
        pass  # who holds it is a courtesy: the port is taken all the same
    return ""


# --------------------------------------------------------------------------- the image delivery


def _check_image_delivery(config: MlopsConfig, deliver: str, found: list[str]) -> list[str]:
    """deliver image needs Docker; a registry to push to (auto delivers an image then) needs both."""
    from mlops_helpers import packaging

    repository = packaging.image_repository(config, None)
    pushes = "/" in repository  # as stage_deliver decides
    if deliver == "auto" and not pushes:
        return []  # auto serves the model locally when no Docker engine answers
    asked_by = _registry_field() if pushes else "--deliver image"
    problems = []
    if packaging.docker_available():
        found.append("delivery: the Docker engine answers")
    else:
        where = os.environ.get("DOCKER_HOST", "the default socket")
        problems.append(f"{asked_by}: an image needs a Docker engine, and none answers at {where}: "
                        f"start one (scripts/services/docker.sh start), {NO_IMAGE}")
    host = _registry_host(repository) if pushes else None
    if host and _registry_answers(host):
        found.append(f"delivery: the registry {host} answers")
    elif host:
        problems.append(f"{asked_by}: the registry {host} does not answer (GET /v2/): start it "
                        f"(scripts/services/registry.sh start for a local one), fix the address, {NO_IMAGE}")
    return problems


def _registry_field() -> str:
    from mlops_helpers.packaging import REGISTRY_ENV

    return REGISTRY_ENV if os.environ.get(REGISTRY_ENV) else f"{SOURCE}: package.registry"


def _registry_host(repository: str) -> str | None:
    """The registry of an image repository, by Docker's rule; None for Docker Hub (not checked)."""
    first = repository.split("/", 1)[0]
    return first if "." in first or ":" in first or first == "localhost" else None


def _registry_answers(host: str) -> bool:
    """A registry answers GET /v2/ with 200, or 401 when it wants credentials."""
    unverified = ssl.create_default_context()
    unverified.check_hostname, unverified.verify_mode = False, ssl.CERT_NONE  # reachability only: nothing is sent
    for scheme in ("https", "http"):
        try:
            with urllib.request.urlopen(f"{scheme}://{host}/v2/", timeout=3, context=unverified) as response:
                return response.status == 200
        except urllib.error.HTTPError as exc:
            return exc.code == 401
        except OSError:
            continue
    return False
