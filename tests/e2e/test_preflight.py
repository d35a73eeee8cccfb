"""`mlops run` checks what it needs before it trains or registers, and `mlops config check` reports the
same: through the installed CLI, on a project made from a user's own CSV (tests/support/user_data.py)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import yaml

from cli_support import CliResult, run_mlops
from mlops_helpers.config import load_config
from mlops_helpers.ports import free_port
from mlops_helpers.rollout.backends.local.backend import LocalBackend
from user_data import UserTable, breast_cancer_text_labels


@pytest.fixture
def own_table(tmp_path: Path) -> UserTable:
    """A project as a data scientist writes one around their CSV: mlops.yaml and the inferred schema."""
    table = breast_cancer_text_labels(tmp_path / "my.csv")
    config = {"version": 1, "project": "own", "data": {"path": "my.csv", "target": table.target}}
    (tmp_path / "mlops.yaml").write_text(yaml.safe_dump(config))
    run_mlops("data", "infer-schema", cwd=tmp_path)
    return table


def set_target(root: Path, target: str) -> None:
    config = yaml.safe_load((root / "mlops.yaml").read_text())
    config["data"]["target"] = target
    (root / "mlops.yaml").write_text(yaml.safe_dump(config))


def error_line(result: CliResult) -> str:
    """The command's one error line: no traceback, nothing else that says error."""
    assert "Traceback" not in result.stderr, result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    return line.removeprefix("error: ")


def assert_nothing_trained_or_registered(root: Path) -> None:
    assert not (root / "mlops-out/model").exists()
    listed = run_mlops("registry", "list", cwd=root, check=2)
    assert "model 'own' is not registered" in listed.stderr and "(registered models: none yet)" in listed.stderr


def test_a_typo_in_the_target_stops_the_run_before_training(tmp_path: Path, own_table: UserTable) -> None:
    set_target(tmp_path, "diagnosys")
    failed = run_mlops("run", "--output", "json", cwd=tmp_path, check=2)
    line = error_line(failed)
    assert line == (f"mlops.yaml: data.target: column 'diagnosys' is not in my.csv (did you mean 'diagnosis'?; "
                    f"columns: {', '.join(own_table.frame.columns)})")
    assert failed.json() == {"ok": False, "error": line}
    assert_nothing_trained_or_registered(tmp_path)
    # The commands that used to let it through say the same.
    assert error_line(run_mlops("config", "check", cwd=tmp_path, check=2)) == line
    assert error_line(run_mlops("train", cwd=tmp_path, check=2)) == line
    assert error_line(run_mlops("data", "validate", cwd=tmp_path, check=2)) == line


def test_a_schema_inferred_for_another_target_stops_the_run(tmp_path: Path, own_table: UserTable) -> None:
    set_target(tmp_path, "referral")
    line = error_line(run_mlops("run", cwd=tmp_path, check=2))
    assert line == ("mlops.yaml: data.target: 'referral' is not the target of data/schema.json ('diagnosis'): "
                    "fix data.target, or infer the schema again (mlops data infer-schema)")
    assert_nothing_trained_or_registered(tmp_path)
    assert error_line(run_mlops("config", "check", cwd=tmp_path, check=2)) == line


def test_a_router_port_held_by_another_listener_stops_the_run_before_it_registers(tmp_path: Path, own_table: UserTable) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        ports = ("--set", f"deploy.local.port={port}", "--set", f"deploy.local.admin_port={free_port()}")
        line = error_line(run_mlops("run", "--deploy", *ports, cwd=tmp_path, check=2))
        assert line.startswith(f"mlops.yaml: deploy.local.port: port {port} on 127.0.0.1 is in use by pid {os.getpid()} (")
        assert line.endswith("not by this environment's router: stop it, choose another port with deploy.local.port, "
                             "or run without deploying (mlops run --no-deploy)")
        assert_nothing_trained_or_registered(tmp_path)
        checked = run_mlops("config", "check", "--set", "deploy.on_run=true", *ports, cwd=tmp_path, check=2)
        assert error_line(checked) == line


def test_the_ports_may_be_held_by_this_environments_router_only(tmp_path: Path, own_table: UserTable) -> None:
    port, admin = free_port(), free_port()
    ports = ("--set", "deploy.on_run=true", "--set", f"deploy.local.port={port}", "--set", f"deploy.local.admin_port={admin}")
    target = load_config(tmp_path / "mlops.yaml", list(ports[1::2])).deploy.local
    other = LocalBackend(target, tmp_path / "other-project/.mlops/deploy/production", tmp_path / "other-project")
    ours = LocalBackend(target, tmp_path / ".mlops/deploy/production", tmp_path)
    other.prepare()
    try:
        line = error_line(run_mlops("config", "check", *ports, cwd=tmp_path, check=2))
        assert line == (f"mlops.yaml: deploy.local: http://127.0.0.1:{admin} answers, but it is not this environment's "
                        "router (another project's?); choose other ports with deploy.local.port / deploy.local.admin_port, "
                        "or run without deploying (mlops run --no-deploy)")
    finally:
        other.teardown([])
    ours.prepare()
    try:
        checked = run_mlops("config", "check", *ports, "--output", "json", cwd=tmp_path).json()["checked"]
        assert f"deploy: this environment's router answers on 127.0.0.1:{admin}" in checked
    finally:
        ours.teardown([])


def test_an_image_delivery_without_docker_or_registry_stops_the_run(tmp_path: Path, own_table: UserTable) -> None:
    no_docker = {"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    line = error_line(run_mlops("run", "--deliver", "image", cwd=tmp_path, env=no_docker, check=2))
    assert line == (f"--deliver image: an image needs a Docker engine, and none answers at {no_docker['DOCKER_HOST']}: "
                    "start one (scripts/services/docker.sh start), or deliver without an image (mlops run --deliver local)")
    assert_nothing_trained_or_registered(tmp_path)

    registry = f"127.0.0.1:{free_port()}"
    checked = run_mlops("config", "check", "--set", f"package.registry={registry}", cwd=tmp_path, env=no_docker, check=2)
    docker, unreachable = checked.stderr.splitlines()[-2:]
    assert docker.startswith("error: mlops.yaml: package.registry: an image needs a Docker engine")
    assert unreachable.startswith(f"mlops.yaml: package.registry: the registry {registry} does not answer (GET /v2/)")
