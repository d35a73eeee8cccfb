"""Atomic file replacement: readers see the old file or the new one, never a partial one.

The temporary file lives in the target's folder (same filesystem, so the rename is atomic) and
is fsynced before the rename, so a crash at any point leaves one complete version on disk.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_text_atomic(path: Path, text: str, *, mode: int | None = None) -> None:
    """Replace `path` with `text` (creating its folder); `mode` sets the permission bits."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Any, *, mode: int | None = None, **dump_options: Any) -> None:
    """Replace `path` with `data` as JSON and a final newline; `dump_options` go to json.dumps."""
    write_text_atomic(path, json.dumps(data, **dump_options) + "\n", mode=mode)
