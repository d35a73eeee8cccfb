"""preflight.py in-process: the named columns against the data's header, the schema's target, the local
router's ports, and what an image delivery needs, on user-shaped files (tests/support/user_data.py)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pandas as pd
import psutil
import pytest
import yaml

from mlops_helpers.config import MlopsConfig, load_config
from mlops_helpers.data.schema import infer_schema, save_schema
from mlops_helpers.errors import ConfigError
from mlops_helpers.ports import free_port
from mlops_helpers.preflight import check_run, read_header
from user_data import breast_cancer_text_labels, iris_parquet, wine_with_dates_and_ids


def project(root: Path, data: str, target: str, *overrides: str) -> MlopsConfig:
    (root / "mlops.yaml").write_text(yaml.safe_dump({"version": 1, "project": "own", "data": {"path": data, "target": target}}))
    return load_config(root / "mlops.yaml", list(overrides))


def problems(config: MlopsConfig, deliver: str = "none", deploy: bool = False) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        check_run(config, deliver, deploy)
    return str(raised.value).splitlines()


@pytest.fixture(autouse=True)
def no_registry_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLOPS_REGISTRY", raising=False)


def test_a_typo_in_the_target_suggests_the_column_and_lists_every_column(tmp_path: Path) -> None:
    table = breast_cancer_text_labels(tmp_path / "my.csv")
    columns = list(table.frame.columns)
    assert columns.index(table.target) > 10  # past the 10 names the training error used to show

    [line] = problems(project(tmp_path, "my.csv", "diagnosys"))
    assert line == (f"mlops.yaml: data.target: column 'diagnosys' is not in my.csv (did you mean 'diagnosis'?; "
                    f"columns: {', '.join(columns)})")


def test_the_hint_finds_another_case_and_is_left_out_when_nothing_is_close(tmp_path: Path) -> None:
    breast_cancer_text_labels(tmp_path / "my.csv")
    [line] = problems(project(tmp_path, "my.csv", "DIAGNOSIS"))
    assert "(did you mean 'diagnosis'?; columns: mean radius, " in line
    [line] = problems(project(tmp_path, "my.csv", "outcome"))
    assert "is not in my.csv (columns: mean radius, " in line and "did you mean" not in line


def test_every_dropped_column_is_checked_under_its_own_field(tmp_path: Path) -> None:
    table = wine_with_dates_and_ids(tmp_path / "lab.csv")
    config = project(tmp_path, "lab.csv", table.target, "training.preprocessing.drop=[sample_id, harvest]")
    [line] = problems(config)
    assert line.startswith("mlops.yaml: training.preprocessing.drop.1: column 'harvest' is not in lab.csv "
                           "(did you mean 'harvested'?; columns: sample_id, harvested, alcohol, ")


def test_parquet_columns_come_from_its_schema_without_the_stored_index(tmp_path: Path) -> None:
    table = iris_parquet(tmp_path / "iris.parquet")
    assert read_header(table.path) == list(table.frame.columns)
    # pandas stores a filtered frame's index as a column; reading the file gives it back as the index.
    sampled = tmp_path / "sampled.parquet"
    table.frame[table.frame.index % 3 == 0].to_parquet(sampled)
    assert read_header(sampled) == list(pd.read_parquet(sampled).columns) == list(table.frame.columns)
    [line] = problems(project(tmp_path, "sampled.parquet", "specie"))
    assert line == (f"mlops.yaml: data.target: column 'specie' is not in sampled.parquet (did you mean 'species'?; "
                    f"columns: {', '.join(table.frame.columns)})")


def test_a_schema_inferred_for_another_target_is_named_with_both_targets(tmp_path: Path) -> None:
    table = breast_cancer_text_labels(tmp_path / "my.csv")
    (tmp_path / "data").mkdir()
    save_schema(infer_schema(table.frame, target="diagnosis"), tmp_path / "data/schema.json")
    assert check_run(project(tmp_path, "my.csv", "diagnosis")) == ["my.csv: 32 columns, with every column mlops.yaml names"]

    [line] = problems(project(tmp_path, "my.csv", "referral"))
    assert line == ("mlops.yaml: data.target: 'referral' is not the target of data/schema.json ('diagnosis'): "
                    "fix data.target, or infer the schema again (mlops data infer-schema)")


def test_a_missing_or_unreadable_data_file_names_data_path(tmp_path: Path) -> None:
    assert problems(project(tmp_path, "gone.csv", "label")) == ["mlops.yaml: data.path: gone.csv: data file not found"]
    (tmp_path / "gone.csv.dvc").write_text("outs:\n- md5: 0\n  path: gone.csv\n")
    assert problems(project(tmp_path, "gone.csv", "label")) == [
        "mlops.yaml: data.path: gone.csv: data file not found (restore it with `mlops data pull`)"]
    (tmp_path / "blank.csv").write_text("\n\n")
    assert problems(project(tmp_path, "blank.csv", "label")) == [
        "mlops.yaml: data.path: blank.csv: the table has no columns (no header row)"]
    (tmp_path / "fake.parquet").write_text("a,b\n1,2\n")
    [line] = problems(project(tmp_path, "fake.parquet", "label"))
    assert line.startswith("mlops.yaml: data.path: fake.parquet: not a readable Parquet file: ")


def test_a_router_port_held_by_another_process_is_named_with_its_holder(tmp_path: Path) -> None:
    table = breast_cancer_text_labels(tmp_path / "my.csv")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port, admin = listener.getsockname()[1], free_port()
        config = project(tmp_path, "my.csv", table.target, f"deploy.local.port={port}", f"deploy.local.admin_port={admin}")
        assert problems(config, deploy=True) == [
            f"mlops.yaml: deploy.local.port: port {port} on 127.0.0.1 is in use by pid {os.getpid()} "
            f"({psutil.Process().name()}), not by this environment's router: stop it, choose another port with "
            "deploy.local.port, or run without deploying (mlops run --no-deploy)"]
        assert check_run(config, deploy=False)  # no deployment, no port to check
        kubernetes = project(tmp_path, "my.csv", table.target, f"deploy.local.port={port}", "deploy.target=kubernetes")
        assert check_run(kubernetes, deploy=True)  # the local router's ports are not the cluster's concern
    assert check_run(config, deploy=True)[-1] == f"deploy: ports {port} and {admin} on 127.0.0.1 are free for the router"


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    breast_cancer_text_labels(tmp_path / "my.csv")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        admin = listener.getsockname()[1]
        config = project(tmp_path, "my.csv", "label", "training.preprocessing.drop=[refferal]",
                         f"deploy.local.port={free_port()}", f"deploy.local.admin_port={admin}")
        found = problems(config, deploy=True)
    assert [line.split(": ")[1] for line in found] == ["data.target", "training.preprocessing.drop.0", "deploy.local.admin_port"]


def test_an_image_delivery_needs_a_docker_engine_and_the_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = breast_cancer_text_labels(tmp_path / "my.csv")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    local = project(tmp_path, "my.csv", table.target)
    assert check_run(local, deliver="auto")  # no registry: auto serves the model locally, no Docker needed
    assert check_run(local, deliver="local")
    assert problems(local, deliver="image") == [
        f"--deliver image: an image needs a Docker engine, and none answers at unix://{tmp_path}/no-docker.sock: "
        "start one (scripts/services/docker.sh start), or deliver without an image (mlops run --deliver local)"]

    registry = f"127.0.0.1:{free_port()}"
    pushing = project(tmp_path, "my.csv", table.target, f"package.registry={registry}/ml")
    docker, unreachable = problems(pushing, deliver="auto")
    assert docker.startswith("mlops.yaml: package.registry: an image needs a Docker engine, and none answers")
    assert unreachable == (f"mlops.yaml: package.registry: the registry {registry} does not answer (GET /v2/): start it "
                           "(scripts/services/registry.sh start for a local one), fix the address, "
                           "or deliver without an image (mlops run --deliver local)")
    assert check_run(pushing, deliver="local")
    monkeypatch.setenv("MLOPS_REGISTRY", registry)
    assert all(line.startswith("MLOPS_REGISTRY: ") for line in problems(local, deliver="auto"))
