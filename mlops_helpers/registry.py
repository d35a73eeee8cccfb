"""A model registry on a filesystem: the embedded default behind `registry.uri`.

Layout under the registry root, one folder per model:

    <model>/versions/<N>/   read-only copy of the training artefact + version.json (N = 1, 2, ...)
    <model>/aliases.json    {"staging": 3, "production": 2}
    <model>/events.jsonl    append-only audit log of registrations and alias changes

Version numbers are allocated without a global lock: a writer prepares a complete folder
next to `versions/` and renames it to `versions/<N>`. Renaming onto an existing (never
empty) version fails, so the loser of a race retries with the next number, and a version
folder is never seen half-written. Alias changes are read-modify-write under a per-model
file lock, and aliases.json is replaced atomically so readers need no lock.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
from filelock import FileLock, Timeout

from mlops_helpers.atomic_files import write_json_atomic
from mlops_helpers.checksums import SUMS_FILE, read_sums, verify_sums
from mlops_helpers.errors import IntegrityError, MlopsError

STAGES = ("staging", "production", "archived")
MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
VERSION_FILE = "version.json"
ALIASES_FILE = "aliases.json"
EVENTS_FILE = "events.jsonl"
ANNOTATIONS_FILE = "annotations.json"
LOCK_FILE = ".lock"
VERSIONS_DIR = "versions"
INCOMING_PREFIX = ".incoming-"
LOCK_TIMEOUT_S = 60.0
READ_ONLY = 0o444

# Same rule as `registry.model_name` in mlops.yaml; it also keeps a name from leaving the root.
_MODEL_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
_ALIAS_NAME = re.compile(r"[a-z][a-z0-9_-]*")
_NUMBER = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    path: Path
    created_at: str  # ISO-8601, UTC
    metadata: dict[str, Any]
    lineage: dict[str, Any]
    stages: list[str] = field(default_factory=list)  # aliases currently pointing at this version
    # Facts learnt after registration (the packaged image and its digest, infra validation):
    # kept beside the immutable version folder, in <model>/annotations.json.
    annotations: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path)}


def open_registry(location: str | Path) -> ModelRegistry:
    """Open the registry in a folder or at a `file://` URI; nothing is created before the first write."""
    if isinstance(location, Path):
        return ModelRegistry(location)
    if location.startswith("file://"):
        return ModelRegistry(Path(location[len("file://") :]))
    if "://" in location:
        raise MlopsError(f"registry {location!r}: only a folder or a file:// URI is supported")
    return ModelRegistry(Path(location).expanduser())


class ModelRegistry:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # -- reading -------------------------------------------------------------------------

    def list_models(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            entry.name
            for entry in self.root.iterdir()
            if _MODEL_NAME.fullmatch(entry.name) and _version_numbers(entry / VERSIONS_DIR)
        )

    def list_versions(self, name: str) -> list[ModelVersion]:
        model_dir = self._model_dir(name)
        aliases = _read_aliases(model_dir)
        return [self._load(name, number, aliases) for number in _version_numbers(model_dir / VERSIONS_DIR)]

    def get(self, name: str, ref: int | str = "latest") -> ModelVersion:
        """`ref` is a version number (int or digits), "latest", or a stage/alias name."""
        model_dir = self._model_dir(name)
        aliases = _read_aliases(model_dir)
        return self._load(name, self._resolve(model_dir, ref, aliases), aliases)

    def aliases(self, name: str) -> dict[str, int]:
        return _read_aliases(self._model_dir(name))

    def history(self, name: str) -> list[dict[str, Any]]:
        return _read_events(self._model_dir(name))

    def annotate(self, name: str, ref: int | str, **facts: Any) -> ModelVersion:
        """Record facts about a version (e.g. `image={...}`) without touching its files."""
        model_dir = self._model_dir(name)
        with _locked(model_dir):
            aliases = _read_aliases(model_dir)
            number = self._resolve(model_dir, ref, aliases)
            annotations = _read_annotations(model_dir)
            annotations[str(number)] = {**annotations.get(str(number), {}), **facts}
            write_json_atomic(model_dir / ANNOTATIONS_FILE, annotations, mode=0o644, indent=2, sort_keys=True)
            with open(model_dir / EVENTS_FILE, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({**_event("annotated", None, number, None), "keys": sorted(facts)}, sort_keys=True) + "\n")
        return self._load(name, number, aliases)

    def verify(self, name: str, ref: int | str = "latest") -> ModelVersion:
        """Raise IntegrityError naming the first file that changed, was truncated or is missing."""
        version = self.get(name, ref)
        _verify_version_dir(version.path)
        return version

    def load_model(self, name: str, ref: int | str = "latest") -> tuple[Any, ModelVersion]:
        """Unpickle a version's model, only after its checksums were verified."""
        version = self.verify(name, ref)
        model_path = version.path / MODEL_FILE
        # Unpickle the very bytes that were hashed: opening the file again after verify()
        # would leave a window in which it could be replaced by an unverified one.
        data = model_path.read_bytes()
        if hashlib.sha256(data).hexdigest() != read_sums(version.path)[MODEL_FILE]:
            raise IntegrityError(f"{model_path}: changed while it was being loaded")
        return joblib.load(io.BytesIO(data)), version

    # -- writing -------------------------------------------------------------------------

    def register(
        self,
        model_name: str,
        artefact_dir: Path,
        *,
        stage: str | None = "staging",
        lineage: dict[str, Any] | None = None,
    ) -> ModelVersion:
        """Copy a verified training artefact in as the next version and point `stage` at it."""
        _check_model_name(model_name)
        if stage is not None:
            _check_stage(stage)
        _check_json(lineage, "lineage")
        artefact_dir = Path(artefact_dir)
        sums = _check_artefact(artefact_dir)
        metadata = _read_json(artefact_dir / METADATA_FILE)
        if not isinstance(metadata, dict):
            raise MlopsError(f"{artefact_dir / METADATA_FILE}: expected a JSON object")

        model_dir = self.root / model_name
        (model_dir / VERSIONS_DIR).mkdir(parents=True, exist_ok=True)
        record = {
            "name": model_name,
            "created_at": _now(),
            "stage": stage,
            "lineage": _lineage(metadata, _read_aliases(model_dir).get("production"), lineage),
            # SHA256SUMS as registered: verify() refuses a sums file rewritten to match a tampered model.
            "files": sums,
        }
        number = _publish(artefact_dir, model_dir, sums, record)

        with _locked(model_dir):
            aliases = _read_aliases(model_dir)
            if stage is None:
                _record(model_dir, aliases, [_event("registered", None, number, None)])
            else:
                _record(model_dir, aliases, _point(aliases, stage, number, "registered"))
        return self._load(model_name, number, aliases)

    def promote(self, name: str, ref: int | str, stage: str) -> ModelVersion:
        """Point `stage` at a version; the version leaving production becomes `archived`."""
        _check_stage(stage)
        model_dir = self._model_dir(name)
        with _locked(model_dir):
            aliases = _read_aliases(model_dir)
            number = self._resolve(model_dir, ref, aliases)
            _record(model_dir, aliases, _point(aliases, stage, number, "promoted"))
        return self._load(name, number, aliases)

    def rollback(self, name: str, stage: str = "production") -> ModelVersion:
        """Point `stage` back to the version it had before its latest change.

        The latest change may itself be a rollback, so rolling back twice returns to where
        it started (like `kubectl rollout undo`).
        """
        model_dir = self._model_dir(name)
        with _locked(model_dir):
            changes = [event for event in _read_events(model_dir) if event.get("stage") == stage]
            if not changes:
                raise MlopsError(f"cannot roll back {name!r} {stage}: no version was ever in {stage}")
            latest = changes[-1]
            if latest["previous"] is None:
                raise MlopsError(
                    f"cannot roll back {name!r} {stage}: version {latest['version']} is the first one "
                    f"it pointed to, there is no previous version"
                )
            aliases = _read_aliases(model_dir)
            number = int(latest["previous"])
            _record(model_dir, aliases, _point(aliases, stage, number, "rolled_back"))
        return self._load(name, number, aliases)

    # -- helpers -------------------------------------------------------------------------

    def _model_dir(self, name: str) -> Path:
        """The folder of a registered model; MlopsError listing the registered ones otherwise."""
        _check_model_name(name)
        model_dir = self.root / name
        if not _version_numbers(model_dir / VERSIONS_DIR):
            known = ", ".join(self.list_models()) or "none yet"
            raise MlopsError(f"model {name!r} is not registered in {self.root} (registered models: {known})")
        return model_dir

    def _resolve(self, model_dir: Path, ref: int | str, aliases: dict[str, int]) -> int:
        name = model_dir.name
        numbers = _version_numbers(model_dir / VERSIONS_DIR)
        if isinstance(ref, int) or _NUMBER.fullmatch(ref):
            if int(ref) not in numbers:
                raise MlopsError(
                    f"model {name!r} has no version {ref} (versions: {', '.join(map(str, numbers))})"
                )
            return int(ref)
        if ref == "latest":
            return numbers[-1]
        if ref not in aliases:
            current = ", ".join(f"{alias}={number}" for alias, number in sorted(aliases.items())) or "none"
            raise MlopsError(
                f"model {name!r} has no version in stage {ref!r} (stages set: {current}; "
                "a version number or 'latest' also work)"
            )
        return aliases[ref]

    def _load(self, name: str, number: int, aliases: dict[str, int]) -> ModelVersion:
        path = self.root / name / VERSIONS_DIR / str(number)
        record = _read_json(path / VERSION_FILE)
        return ModelVersion(
            name=name,
            version=number,
            path=path,
            created_at=record.get("created_at", ""),
            metadata=_read_json(path / METADATA_FILE),
            lineage=record.get("lineage", {}),
            stages=_stages_of(number, aliases),
            annotations=_read_annotations(self.root / name).get(str(number), {}),
        )


# -- artefact checks and publication ------------------------------------------------------


def _check_artefact(folder: Path) -> dict[str, str]:
    """Refuse anything but a complete training artefact whose files match its SHA256SUMS."""
    if not folder.is_dir():
        raise MlopsError(f"{folder}: not a folder; register expects a training artefact folder")
    sums = read_sums(folder)
    for name in sums:
        # Names are used as paths in the registry: a crafted SHA256SUMS must not write elsewhere.
        if name in ("", ".", "..", SUMS_FILE, VERSION_FILE) or "/" in name or "\\" in name:
            raise IntegrityError(f"{folder / SUMS_FILE}: {name!r} is reserved or not a plain file name")
    missing = [name for name in (MODEL_FILE, METADATA_FILE) if name not in sums]
    if missing:
        raise MlopsError(f"{folder}: not a training artefact, {' and '.join(missing)} missing from {SUMS_FILE}")
    unlisted = sorted(entry.name for entry in folder.iterdir() if entry.name not in sums and entry.name != SUMS_FILE)
    if unlisted:
        raise IntegrityError(
            f"{folder}: {', '.join(unlisted)} not covered by {SUMS_FILE} (write the sums after the last file)"
        )
    verify_sums(folder)
    return sums


def _publish(artefact_dir: Path, model_dir: Path, sums: dict[str, str], record: dict[str, Any]) -> int:
    """Copy the artefact into a private folder, then rename it to the next free version number."""
    incoming = Path(tempfile.mkdtemp(prefix=INCOMING_PREFIX, dir=model_dir))
    try:
        # mkdtemp makes the folder private (0o700); as a version it must be readable by serving/CI users.
        os.chmod(incoming, 0o755)
        _copy_artefact(artefact_dir, incoming, sums)
        return _rename_to_next_version(incoming, model_dir / VERSIONS_DIR, record)
    except BaseException:
        shutil.rmtree(incoming, ignore_errors=True)
        raise


def _copy_artefact(source: Path, target: Path, sums: dict[str, str]) -> None:
    for name in [*sums, SUMS_FILE]:
        shutil.copyfile(source / name, target / name)
        os.chmod(target / name, READ_ONLY)
    # Hash the copies too: the artefact could have changed between the check and the copy.
    if verify_sums(target) != sums:
        raise IntegrityError(f"{source / SUMS_FILE}: changed while the artefact was being registered")


def _rename_to_next_version(incoming: Path, versions_dir: Path, record: dict[str, Any]) -> int:
    number = _highest_version(versions_dir) + 1
    while True:
        # version.json carries the number, so it is rewritten before every attempt.
        write_json_atomic(incoming / VERSION_FILE, {**record, "version": number}, mode=READ_ONLY, indent=2, sort_keys=True)
        try:
            os.rename(incoming, versions_dir / str(number))
            return number
        except OSError as error:
            if error.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
        # Another writer took that number; skip past everything published meanwhile.
        number = max(number, _highest_version(versions_dir)) + 1


def _lineage(metadata: dict[str, Any], parent: int | None, extra: dict[str, Any] | None) -> dict[str, Any]:
    data = metadata.get("data") if isinstance(metadata.get("data"), dict) else {}
    git = metadata.get("git") if isinstance(metadata.get("git"), dict) else {}
    return {
        "data_version": data.get("md5"),  # the DVC content hash recorded at training
        "git_commit": git.get("commit"),
        "metrics": metadata.get("metrics", {}),
        "parent": parent,
        **(extra or {}),
    }


def _verify_version_dir(path: Path) -> None:
    record = _read_json(path / VERSION_FILE)
    if read_sums(path) != record.get("files"):
        raise IntegrityError(
            f"{path / SUMS_FILE}: differs from the checksums recorded in {VERSION_FILE} at registration"
        )
    verify_sums(path)


# -- aliases and events -------------------------------------------------------------------


def _point(aliases: dict[str, int], stage: str, number: int, kind: str) -> list[dict[str, Any]]:
    """Move `stage` to `number` in `aliases`; return the events recording the change (none if no-op)."""
    previous = aliases.get(stage)
    if previous == number:
        return []
    aliases[stage] = number
    events = [_event(kind, stage, number, previous)]
    if stage == "production" and previous is not None:
        # The version leaving production stays findable, and restorable, as `archived`.
        events += _point(aliases, "archived", previous, "archived")
    return events


def _record(model_dir: Path, aliases: dict[str, int], events: list[dict[str, Any]]) -> None:
    """Persist the aliases and append the events that changed them; the caller holds the model's lock."""
    if not events:
        return
    write_json_atomic(model_dir / ALIASES_FILE, aliases, mode=0o644, indent=2, sort_keys=True)
    with open(model_dir / EVENTS_FILE, "a", encoding="utf-8") as handle:
        handle.writelines(json.dumps(event, sort_keys=True) + "\n" for event in events)
        handle.flush()
        os.fsync(handle.fileno())


def _read_annotations(model_dir: Path) -> dict[str, Any]:
    path = model_dir / ANNOTATIONS_FILE
    return _read_json(path) if path.is_file() else {}


def _event(kind: str, stage: str | None, number: int, previous: int | None) -> dict[str, Any]:
    return {"time": _now(), "event": kind, "version": number, "stage": stage, "previous": previous}


@contextmanager
def _locked(model_dir: Path) -> Iterator[None]:
    lock = FileLock(model_dir / LOCK_FILE, timeout=LOCK_TIMEOUT_S)
    try:
        lock.acquire()
    except Timeout:
        raise MlopsError(
            f"{model_dir / LOCK_FILE}: still held by another process after {LOCK_TIMEOUT_S:.0f}s"
        ) from None
    try:
        yield
    finally:
        lock.release()


def _read_aliases(model_dir: Path) -> dict[str, int]:
    path = model_dir / ALIASES_FILE
    return _read_json(path) if path.is_file() else {}


def _read_events(model_dir: Path) -> list[dict[str, Any]]:
    path = model_dir / EVENTS_FILE
    if not path.is_file():
        return []
    events = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise MlopsError(f"{path}:{number}: not valid JSON ({error.msg})") from None
    return events


def _stages_of(number: int, aliases: dict[str, int]) -> list[str]:
    names = [alias for alias, target in aliases.items() if target == number]
    return sorted(names, key=lambda alias: (STAGES.index(alias) if alias in STAGES else len(STAGES), alias))


# -- small utilities ----------------------------------------------------------------------


def _check_model_name(name: str) -> None:
    if not _MODEL_NAME.fullmatch(name):
        raise MlopsError(
            f"invalid model name {name!r}: use lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )


def _check_stage(stage: str) -> None:
    if stage == "latest" or not _ALIAS_NAME.fullmatch(stage):
        raise MlopsError(
            f"invalid stage {stage!r}: use one of {', '.join(STAGES)} or a lowercase alias "
            "('latest' and numbers are references, not stages)"
        )


def _check_json(value: Any, what: str) -> None:
    try:
        json.dumps(value)
    except (TypeError, ValueError) as error:
        raise MlopsError(f"{what} must be JSON-serialisable: {error}") from None


def _version_numbers(versions_dir: Path) -> list[int]:
    if not versions_dir.is_dir():
        return []
    return sorted(int(entry.name) for entry in versions_dir.iterdir() if _NUMBER.fullmatch(entry.name))


def _highest_version(versions_dir: Path) -> int:
    return max(_version_numbers(versions_dir), default=0)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MlopsError(f"{path}: missing") from None
    except (OSError, ValueError) as error:
        raise MlopsError(f"{path}: cannot be read as JSON ({error})") from None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
