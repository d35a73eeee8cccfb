"""The filesystem model registry: versions, stages, lineage, concurrency and integrity."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import shutil
import stat
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import joblib
import pytest

from mlops_helpers import registry as registry_module
from mlops_helpers.checksums import SUMS_FILE, write_sums
from mlops_helpers.errors import IntegrityError, MlopsError
from mlops_helpers.registry import ModelRegistry, ModelVersion, open_registry

MODEL = "iris"
ARTEFACT_FILES = {"model.joblib", "metadata.json", "holdout.csv", SUMS_FILE}
PROCESSES = 8


def make_artefact(folder: Path, *, commit: str = "c0ffee") -> Path:
    """A real training artefact: a fitted LogisticRegression, its metadata and SHA256SUMS."""
    # Imported here so that spawned worker processes, which import this module, start fast.
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    features, target = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(features, target)
    folder.mkdir(parents=True)
    joblib.dump(model, folder / "model.joblib")
    metadata = {
        "model_name": MODEL,
        "metrics": {"accuracy": round(float(model.score(features, target)), 4)},
        "data": {"md5": hashlib.md5(features.tobytes()).hexdigest(), "rows": len(target)},
        "git": {"commit": commit},
    }
    (folder / "metadata.json").write_text(json.dumps(metadata))
    (folder / "holdout.csv").write_text("sepal_length,target\n5.1,0\n")
    write_sums(folder)
    return folder


@pytest.fixture(scope="module")
def artefact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_artefact(tmp_path_factory.mktemp("train") / "artefact")


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return open_registry(tmp_path / "registry")


def make_writable(path: Path) -> None:
    path.chmod(0o644)


# -- registering and reading ---------------------------------------------------------------


def test_register_allocates_versions_and_resolves_every_kind_of_ref(registry: ModelRegistry, artefact: Path) -> None:
    assert not registry.root.exists()  # created lazily, on the first write

    first = registry.register(MODEL, artefact)
    second = registry.register(MODEL, artefact)

    assert (first.version, second.version) == (1, 2)
    assert registry.get(MODEL, 1).version == 1
    assert registry.get(MODEL, "1").version == 1
    assert registry.get(MODEL, "latest").version == 2
    assert registry.get(MODEL, "staging").version == 2  # the newest registration took the alias
    assert registry.list_models() == [MODEL]
    assert [version.version for version in registry.list_versions(MODEL)] == [1, 2]
    assert registry.aliases(MODEL) == {"staging": 2}
    assert [version.stages for version in registry.list_versions(MODEL)] == [[], ["staging"]]
    assert second.metadata == json.loads((artefact / "metadata.json").read_text())
    assert second.path == registry.root / MODEL / "versions" / "2"


def test_open_registry_accepts_a_file_uri_and_refuses_other_schemes(registry: ModelRegistry, artefact: Path) -> None:
    registry.register(MODEL, artefact)

    assert open_registry(f"file://{registry.root}").get(MODEL, "staging").version == 1
    assert open_registry(str(registry.root)).list_models() == [MODEL]
    with pytest.raises(MlopsError, match="only a folder or a file:// URI"):
        open_registry("s3://bucket/registry")


def test_registered_version_is_a_read_only_copy_with_version_json(registry: ModelRegistry, artefact: Path) -> None:
    version = registry.register(MODEL, artefact, stage=None)

    assert {entry.name for entry in version.path.iterdir()} == ARTEFACT_FILES | {"version.json"}
    for entry in version.path.iterdir():
        assert stat.S_IMODE(entry.stat().st_mode) & 0o222 == 0, f"{entry.name} is writable"
        if entry.name != "version.json":
            assert entry.read_bytes() == (artefact / entry.name).read_bytes()
    record = json.loads((version.path / "version.json").read_text())
    assert (record["name"], record["version"], record["stage"]) == (MODEL, 1, None)
    created = datetime.fromisoformat(record["created_at"])
    assert created.utcoffset() == timedelta(0)
    assert version.created_at == record["created_at"]
    assert version.to_dict()["path"] == str(version.path)
    assert json.loads(json.dumps(version.to_dict()))["version"] == 1


def test_lineage_records_data_code_metrics_and_the_production_parent(registry: ModelRegistry, artefact: Path) -> None:
    metadata = json.loads((artefact / "metadata.json").read_text())

    first = registry.register(MODEL, artefact, stage="production")
    second = registry.register(MODEL, artefact, lineage={"run_id": "build-42"})

    assert first.lineage["parent"] is None
    assert second.lineage == {
        "data_version": metadata["data"]["md5"],
        "git_commit": "c0ffee",
        "metrics": metadata["metrics"],
        "parent": 1,
        "run_id": "build-42",
    }
    assert registry.get(MODEL, 2).lineage == second.lineage  # persisted in version.json


def test_load_model_returns_the_working_estimator(registry: ModelRegistry, artefact: Path) -> None:
    from sklearn.datasets import load_iris

    registry.register(MODEL, artefact)
    model, version = registry.load_model(MODEL, "staging")

    features, _ = load_iris(return_X_y=True)
    original = joblib.load(artefact / "model.joblib")
    assert version.version == 1
    assert (model.predict(features) == original.predict(features)).all()


# -- stages, promotion and rollback --------------------------------------------------------


def test_promote_to_production_archives_the_previous_production(registry: ModelRegistry, artefact: Path) -> None:
    registry.register(MODEL, artefact)
    registry.register(MODEL, artefact)

    registry.promote(MODEL, 1, "production")
    promoted = registry.promote(MODEL, "staging", "production")

    assert promoted.version == 2
    assert promoted.stages == ["staging", "production"]
    assert registry.aliases(MODEL) == {"staging": 2, "production": 2, "archived": 1}
    assert registry.get(MODEL, "archived").stages == ["archived"]
    summary = [(e["event"], e["stage"], e["version"], e["previous"]) for e in registry.history(MODEL)]
    assert summary == [
        ("registered", "staging", 1, None),
        ("registered", "staging", 2, 1),
        ("promoted", "production", 1, None),
        ("promoted", "production", 2, 1),
        ("archived", "archived", 1, None),
    ]
    assert all(datetime.fromisoformat(event["time"]).utcoffset() == timedelta(0) for event in registry.history(MODEL))


def test_promoting_the_current_version_again_changes_nothing(registry: ModelRegistry, artefact: Path) -> None:
    registry.register(MODEL, artefact, stage="production")
    events_before = registry.history(MODEL)

    assert registry.promote(MODEL, 1, "production").stages == ["production"]
    assert registry.history(MODEL) == events_before
    assert registry.aliases(MODEL) == {"production": 1}


def test_rollback_restores_the_previous_production_and_a_second_rollback_undoes_it(
    registry: ModelRegistry, artefact: Path
) -> None:
    for _ in range(3):
        registry.register(MODEL, artefact, stage=None)
    registry.promote(MODEL, 2, "production")
    registry.promote(MODEL, 3, "production")

    restored = registry.rollback(MODEL)

    assert restored.version == 2
    assert registry.aliases(MODEL) == {"production": 2, "archived": 3}
    last = registry.history(MODEL)[-2]
    assert (last["event"], last["stage"], last["version"], last["previous"]) == ("rolled_back", "production", 2, 3)
    # The latest change is now the rollback itself: undoing it returns to version 3.
    assert registry.rollback(MODEL).version == 3
    assert registry.aliases(MODEL)["production"] == 3


def test_rollback_without_a_previous_version_explains_why(registry: ModelRegistry, artefact: Path) -> None:
    registry.register(MODEL, artefact, stage=None)
    with pytest.raises(MlopsError, match="no version was ever in production"):
        registry.rollback(MODEL)

    registry.promote(MODEL, 1, "production")
    with pytest.raises(MlopsError, match="version 1 is the first one it pointed to, there is no previous version"):
        registry.rollback(MODEL)
    assert registry.aliases(MODEL) == {"production": 1}


# -- unknown names and invalid input -------------------------------------------------------


def test_unknown_model_version_and_stage_name_what_exists(registry: ModelRegistry, artefact: Path) -> None:
    with pytest.raises(MlopsError, match="registered models: none yet") as empty:
        registry.get(MODEL)
    assert empty.type is MlopsError
    registry.register(MODEL, artefact)
    registry.register(MODEL, artefact, stage="production")

    with pytest.raises(MlopsError, match=r"model 'wine' is not registered .*registered models: iris") as model:
        registry.get("wine", 1)
    with pytest.raises(MlopsError, match=r"model 'iris' has no version 7 \(versions: 1, 2\)") as version:
        registry.get(MODEL, 7)
    with pytest.raises(MlopsError, match=r"no version in stage 'canary' \(stages set: production=2, staging=1") as stage:
        registry.promote(MODEL, "canary", "production")
    assert {model.type, version.type, stage.type} == {MlopsError}


def test_invalid_model_and_stage_names_are_refused(registry: ModelRegistry, artefact: Path) -> None:
    with pytest.raises(MlopsError, match="invalid model name '../escape'"):
        registry.register("../escape", artefact)
    with pytest.raises(MlopsError, match="invalid stage 'latest'"):
        registry.register(MODEL, artefact, stage="latest")
    with pytest.raises(MlopsError, match="lineage must be JSON-serialisable"):
        registry.register(MODEL, artefact, lineage={"when": datetime.now()})
    assert not registry.root.exists()


# -- integrity -----------------------------------------------------------------------------


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


@pytest.mark.parametrize("damage", [_flip_a_byte, _truncate], ids=["flipped-byte", "truncated"])
def test_a_tampered_model_is_detected_and_never_unpickled(
    registry: ModelRegistry, artefact: Path, monkeypatch: pytest.MonkeyPatch, damage: Callable[[Path], None]
) -> None:
    version = registry.register(MODEL, artefact)
    model_file = version.path / "model.joblib"
    make_writable(model_file)
    damage(model_file)

    def must_not_unpickle(*_: Any, **__: Any) -> None:
        raise AssertionError("a tampered model was unpickled")

    monkeypatch.setattr(registry_module.joblib, "load", must_not_unpickle)
    with pytest.raises(IntegrityError, match=r"model\.joblib: checksum mismatch"):
        registry.verify(MODEL, 1)
    with pytest.raises(IntegrityError, match=r"model\.joblib: checksum mismatch"):
        registry.load_model(MODEL, "staging")


def test_a_missing_file_is_detected(registry: ModelRegistry, artefact: Path) -> None:
    version = registry.register(MODEL, artefact)
    (version.path / "holdout.csv").unlink()

    with pytest.raises(IntegrityError, match=r"holdout\.csv: listed in SHA256SUMS but missing"):
        registry.verify(MODEL, 1)


def test_rewriting_sha256sums_to_match_a_tampered_model_is_detected(registry: ModelRegistry, artefact: Path) -> None:
    version = registry.register(MODEL, artefact)
    for name in ("model.joblib", SUMS_FILE):
        make_writable(version.path / name)
    _flip_a_byte(version.path / "model.joblib")
    write_sums(version.path)

    with pytest.raises(IntegrityError, match="differs from the checksums recorded in version.json"):
        registry.load_model(MODEL, 1)


def test_an_intact_version_verifies(registry: ModelRegistry, artefact: Path) -> None:
    registry.register(MODEL, artefact)
    assert registry.verify(MODEL, "latest").version == 1


def _assert_nothing_registered(registry: ModelRegistry) -> None:
    assert registry.list_models() == []
    assert not registry.root.exists()


def test_an_artefact_that_does_not_match_its_sums_is_refused(
    registry: ModelRegistry, artefact: Path, tmp_path: Path
) -> None:
    bad = Path(shutil.copytree(artefact, tmp_path / "bad"))
    with open(bad / "metadata.json", "a") as handle:
        handle.write(" ")

    with pytest.raises(IntegrityError, match=r"metadata\.json: checksum mismatch"):
        registry.register(MODEL, bad)
    _assert_nothing_registered(registry)


def test_an_artefact_without_sha256sums_is_refused(registry: ModelRegistry, artefact: Path, tmp_path: Path) -> None:
    bad = Path(shutil.copytree(artefact, tmp_path / "bad"))
    (bad / SUMS_FILE).unlink()

    with pytest.raises(IntegrityError, match="SHA256SUMS is missing"):
        registry.register(MODEL, bad)
    _assert_nothing_registered(registry)


def test_an_artefact_with_files_not_covered_by_its_sums_is_refused(
    registry: ModelRegistry, artefact: Path, tmp_path: Path
) -> None:
    bad = Path(shutil.copytree(artefact, tmp_path / "bad"))
    (bad / "notes.txt").write_text("added after the sums were written")

    with pytest.raises(IntegrityError, match="notes.txt not covered by SHA256SUMS"):
        registry.register(MODEL, bad)
    _assert_nothing_registered(registry)


def test_sums_naming_a_path_outside_the_artefact_are_refused(
    registry: ModelRegistry, artefact: Path, tmp_path: Path
) -> None:
    bad = Path(shutil.copytree(artefact, tmp_path / "bad"))
    with open(bad / SUMS_FILE, "a") as handle:
        handle.write(f"{'0' * 64}  ../outside.txt\n")

    with pytest.raises(IntegrityError, match="'../outside.txt' is reserved or not a plain file name"):
        registry.register(MODEL, bad)
    _assert_nothing_registered(registry)


# -- concurrency ---------------------------------------------------------------------------
# Workers run in "spawn" processes (fresh interpreters, as on separate CI agents) and wait on a
# barrier so that they hit the registry at the same moment. They report ("ok", value) or
# ("error", traceback) so that a failing worker shows its traceback instead of a timeout.


def _register_worker(root: str, artefact: str, barrier: Any, results: Any) -> None:
    try:
        barrier.wait(timeout=60)
        results.put(("ok", open_registry(root).register(MODEL, Path(artefact), stage=None).version))
    except BaseException:
        results.put(("error", traceback.format_exc()))


def _promote_worker(root: str, version: int, barrier: Any, results: Any) -> None:
    try:
        barrier.wait(timeout=60)
        results.put(("ok", open_registry(root).promote(MODEL, version, "production").version))
    except BaseException:
        results.put(("error", traceback.format_exc()))


def _run_at_once(worker: Callable[..., None], args_per_process: list[tuple[Any, ...]]) -> list[Any]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(args_per_process))
    results = context.Queue()
    processes = [context.Process(target=worker, args=(*args, barrier, results)) for args in args_per_process]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=180) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    errors = [detail for status, detail in outcomes if status == "error"]
    assert not errors, "\n".join(errors)
    assert [process.exitcode for process in processes] == [0] * len(processes)
    return [value for _, value in outcomes]


def test_concurrent_registrations_get_distinct_complete_versions(registry: ModelRegistry, artefact: Path) -> None:
    versions = _run_at_once(_register_worker, [(str(registry.root), str(artefact))] * PROCESSES)

    assert sorted(versions) == list(range(1, PROCESSES + 1))
    listed = registry.list_versions(MODEL)
    assert [version.version for version in listed] == list(range(1, PROCESSES + 1))
    for version in listed:
        assert {entry.name for entry in version.path.iterdir()} == ARTEFACT_FILES | {"version.json"}
        assert json.loads((version.path / "version.json").read_text())["version"] == version.version
        registry.verify(MODEL, version.version)
    # Temporary folders were all renamed into versions/; only registry files remain.
    leftovers = {entry.name for entry in (registry.root / MODEL).iterdir()}
    assert leftovers <= {"versions", "aliases.json", "events.jsonl", ".lock"}, leftovers
    events = registry.history(MODEL)
    assert sorted(event["version"] for event in events) == list(range(1, PROCESSES + 1))
    assert {event["event"] for event in events} == {"registered"}


def test_concurrent_promotions_keep_aliases_and_events_consistent(registry: ModelRegistry, artefact: Path) -> None:
    for _ in range(PROCESSES + 1):
        registry.register(MODEL, artefact, stage=None)
    registry.promote(MODEL, 1, "production")

    promoted = _run_at_once(
        _promote_worker, [(str(registry.root), version) for version in range(2, PROCESSES + 2)]
    )

    assert sorted(promoted) == list(range(2, PROCESSES + 2))
    aliases = json.loads((registry.root / MODEL / "aliases.json").read_text())  # valid JSON
    events = registry.history(MODEL)
    kinds = [event["event"] for event in events]
    # Every promotion replaced a production version, so each one also archived it.
    assert kinds.count("registered") == PROCESSES + 1
    assert kinds.count("promoted") == PROCESSES + 1
    assert kinds.count("archived") == PROCESSES
    # No update was lost: replaying the log gives exactly the aliases on disk, and each
    # change's `previous` is what the log says the stage held just before.
    replayed: dict[str, int] = {}
    for event in events:
        if event["stage"] is not None:
            assert event["previous"] == replayed.get(event["stage"])
            replayed[event["stage"]] = event["version"]
    assert replayed == aliases == registry.aliases(MODEL)
    assert set(aliases) == {"production", "archived"}
    assert not [entry for entry in (registry.root / MODEL).iterdir() if entry.name.endswith(".tmp")]


def test_model_version_is_returned_with_its_current_stages(registry: ModelRegistry, artefact: Path) -> None:
    registry.register(MODEL, artefact, stage="production")
    registry.promote(MODEL, 1, "canary")

    version = registry.get(MODEL, "canary")
    assert isinstance(version, ModelVersion)
    assert version.stages == ["production", "canary"]  # known stages first, then other aliases
