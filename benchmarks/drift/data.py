"""The benchmark's synthetic data, identical for both tools: written once as .npy files by
bench_drift.py, read into DataFrames by each side (this file imports only numpy and pandas,
so Evidently's venv can run it too).

Columns cycle through kinds seen in tabular features: normal, log-normal (skewed), uniform
and Poisson counts (discrete) numbers; one column in five is categorical (strings, 3, 8 or
20 levels with skewed shares). In the current window every fourth column drifts: numbers
move by half a reference std (every other one is spread 1.5x instead), categories' shares
are reshuffled. The reference and current windows have the same number of rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

LEVELS = (3, 8, 20)


def columns(width: int) -> list[tuple[str, str]]:
    """(name, kind) of each column: kind is normal | lognormal | uniform | poisson | categorical."""
    numeric = ("normal", "lognormal", "uniform", "poisson")
    out, n = [], 0
    for index in range(width):
        if index % 5 == 4:
            out.append((f"c{index}", "categorical"))
        else:
            out.append((f"f{index}", numeric[n % len(numeric)]))
            n += 1
    return out


def drifted(width: int) -> list[str]:
    return [name for index, (name, _) in enumerate(columns(width)) if index % 4 == 3]


def write(folder: Path, rows: int, width: int, seed: int = 0) -> None:
    """reference.npy / current.npy (float64, categorical columns as level codes)."""
    rng = np.random.default_rng(seed)
    shifted = set(drifted(width))
    for window in ("reference", "current"):
        matrix = np.empty((rows, width))
        for index, (name, kind) in enumerate(columns(width)):
            drift = window == "current" and name in shifted
            matrix[:, index] = _column(rng, kind, index, rows, drift)
        np.save(folder / f"{window}.npy", matrix)


def _column(rng: np.random.Generator, kind: str, index: int, rows: int, drift: bool) -> np.ndarray:
    if kind == "categorical":
        levels = LEVELS[index % len(LEVELS)]
        shares = 1.0 / np.arange(1, levels + 1)
        if drift:
            shares = shares[::-1]
        return rng.choice(levels, size=rows, p=shares / shares.sum()).astype(np.float64)
    values = {"normal": lambda: rng.normal(10.0, 2.0, rows),
              "lognormal": lambda: rng.lognormal(0.0, 1.0, rows),
              "uniform": lambda: rng.uniform(-1.0, 1.0, rows),
              "poisson": lambda: rng.poisson(4.0, rows).astype(np.float64)}[kind]()
    if drift:
        center, spread = values.mean(), values.std()
        values = center + (values - center) * 1.5 if index % 8 == 7 else values + 0.5 * spread
    return values


def frame(folder: Path, window: str, width: int) -> pd.DataFrame:
    """The window as a DataFrame: float columns, categorical ones as strings ("v0", "v1", ...)."""
    matrix = np.load(folder / f"{window}.npy")
    data = {}
    for index, (name, kind) in enumerate(columns(width)):
        if kind == "categorical":
            names = np.array([f"v{level}" for level in range(LEVELS[index % len(LEVELS)])], dtype=object)
            data[name] = names[matrix[:, index].astype(np.int64)]
        else:
            data[name] = np.ascontiguousarray(matrix[:, index])
    return pd.DataFrame(data)
