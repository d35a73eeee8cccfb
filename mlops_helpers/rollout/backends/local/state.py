"""The local backend's rollout state: files in `<state_dir>/<environment>/`.

    rollout.json    the current rollout (atomic replace; the source of truth for every command)
    events.jsonl    append-only event log, one JSON object per line
    history.jsonl   one line per finished rollout
    state.lock      held briefly around every read-modify-write (fcntl lock)
    engine.lock     held for its whole life by the process that drives the rollout

A killed engine releases `engine.lock` with its process, so `resume` and `abort` can tell a
running engine from a dead one without trusting pids. Every change is a transaction under
`state.lock`, so `abort` from another shell and the engine never overwrite each other.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlops_helpers.atomic_files import write_json_atomic
from mlops_helpers.errors import MlopsError
from mlops_helpers.jsonlines import read_json_lines
from mlops_helpers.rollout.state import RolloutState


class FileStateStore:
    """`StateStore` on local files (see the module docstring)."""

    engine_lock_lapse = 0.0  # the engine's flock goes with its process: a dead driver holds nothing

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.state_file = folder / "rollout.json"
        self.events_file = folder / "events.jsonl"
        self.history_file = folder / "history.jsonl"

    def load(self) -> RolloutState | None:
        if not self.state_file.exists():
            return None
        try:
            return RolloutState.from_dict(json.loads(self.state_file.read_text()))
        except (ValueError, TypeError, KeyError) as exc:
            raise MlopsError(f"{self.state_file}: rollout state is unreadable ({exc}); "
                             "it is only ever replaced atomically, so it was edited by hand") from None

    def require(self) -> RolloutState:
        state = self.load()
        if state is None:
            raise MlopsError(f"no rollout in environment '{self.folder.name}' yet (start one with `mlops deploy`)")
        return state

    @contextmanager
    def transaction(self) -> Iterator[RolloutState | None]:
        """Read the state under the lock; changes made to it are saved when the block ends."""
        with self._lock("state.lock"):
            state = self.load()
            yield state
            if state is not None:
                self._save(state)

    def create(self, state: RolloutState) -> None:
        with self._lock("state.lock"):
            self._save(state)

    def _save(self, state: RolloutState) -> None:
        state.updated_at = time.time()
        write_json_atomic(self.state_file, state.to_dict(), indent=1, sort_keys=True)

    def event(self, kind: str, message: str, **data: Any) -> dict[str, Any]:
        record = {"time": time.time(), "event": kind, "message": message, **data}
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.events_file, "a") as handle:
            handle.write(json.dumps(record, default=str) + "\n")
        return record

    def events(self, revision: int | None = None) -> list[dict[str, Any]]:
        return [event for event in read_json_lines(self.events_file) if revision is None or event.get("revision") == revision]

    def record_history(self, state: RolloutState) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.history_file, "a") as handle:
            handle.write(json.dumps({key: value for key, value in state.summary().items() if key != "analysis"}) + "\n")

    def history(self) -> list[dict[str, Any]]:
        return read_json_lines(self.history_file)

    def next_revision(self) -> int:
        previous = self.load()
        return previous.revision + 1 if previous else 1

    @contextmanager
    def engine_lock(self) -> Iterator[None]:
        """Held by the one process driving the rollout; refuses a second one."""
        self.folder.mkdir(parents=True, exist_ok=True)
        handle = open(self.folder / "engine.lock", "a+")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise MlopsError(f"another `mlops` process is driving the rollout in '{self.folder.name}' "
                                 "(use `mlops rollout status|promote|abort` from here)") from None
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            yield
        finally:
            handle.close()

    def engine_running(self) -> bool:
        path = self.folder / "engine.lock"
        if not path.exists():
            return False
        with open(path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False

    @contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / name, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
