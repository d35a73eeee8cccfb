"""Timing on a shared machine: wall time, this process's CPU, and the CPU other processes used
meanwhile (from /proc/stat), so a noisy measurement can be recognised. Standard library only:
both sides of the benchmark (the project's venv and Evidently's) import it."""

from __future__ import annotations

import gc
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TICK = os.sysconf("SC_CLK_TCK")


def _busy_seconds() -> float:
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / TICK  # all but idle and iowait


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(function: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    """(result, {"seconds", "cpu_seconds", "others_cores"}) of one call."""
    gc.collect()
    busy, cpu, start = _busy_seconds(), _own_cpu(), time.perf_counter()
    result = function()
    seconds = time.perf_counter() - start
    own = _own_cpu() - cpu
    others = max(_busy_seconds() - busy - own, 0.0) / seconds
    return result, {"seconds": seconds, "cpu_seconds": own, "others_cores": others}
