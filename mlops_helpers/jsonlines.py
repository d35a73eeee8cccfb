"""Append-only JSON-lines logs (events, history, checks, triggers), read tolerantly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_json_lines(path: Path) -> list[dict[str, Any]]:
    """Every record of the file, [] when it does not exist. A line cut short by a crash
    mid-append is skipped: the rest of the log still counts."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records
