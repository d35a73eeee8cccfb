"""Drift check speed: our detect_drift side by side with Evidently's DataDriftPreset.

  .venv/bin/python benchmarks/drift/bench_drift.py                        # 3 rounds of 1M x 20 and 100k x 100
  .venv/bin/python benchmarks/drift/bench_drift.py --rounds 1 --sizes 100000x100    # a quick look

The same synthetic data for both (data.py: numbers of four shapes, one column in five
categorical strings, every fourth column drifted), written once as .npy and read by each side
into DataFrames (untimed). Timed, per round:

- ours: the reference profile built from the reference window (as at training time), then
  detect_drift of the current window against it, on the whole DataFrame and again in
  50,000-row chunks (the prediction log's chunk size: bounded memory);
- Evidently: Report([DataDriftPreset()]) run on the current and reference DataFrames (its
  datasets built with the column kinds given), in a subprocess under its own venv
  (${MLOPS_CACHE_DIR:-/var/cache/mlops}/bench-venvs/evidently-<hash>, built on first use from
  requirements.txt; Evidently needs pandas 2). Its import and data loading are not timed.

The order flips every round, so drift on this shared machine hits both alike; medians over
rounds, ratios Evidently / ours, and the CPU other processes used while each side ran.
Both must find exactly the drifted columns, or the run stops.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(REPO), str(HERE)]
import data  # noqa: E402
import timing  # noqa: E402

from mlops_helpers.monitoring.drift import detect_drift  # noqa: E402
from mlops_helpers.monitoring.reference import ReferenceProfile  # noqa: E402

CHUNK_ROWS = 50_000


def evidently_python() -> Path:
    """The interpreter of Evidently's venv, created and filled on first use."""
    requirements = [line.split("#", 1)[0].strip() for line in (HERE / "requirements.txt").read_text().splitlines()]
    requirements = [line for line in requirements if line]
    base = getattr(sys, "_base_executable", None) or sys.executable
    digest = hashlib.sha256("\n".join([sys.version, *requirements]).encode()).hexdigest()[:12]
    venv = Path(os.environ.get("MLOPS_CACHE_DIR") or "/var/cache/mlops") / "bench-venvs" / f"evidently-{digest}"
    if not (venv / ".complete").is_file():
        print(f"creating Evidently's venv in {venv} (cached for later runs) ...", flush=True)
        shutil.rmtree(venv, ignore_errors=True)  # a half-built one from an interrupted run
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q", "install",
                        *requirements], check=True)
        (venv / ".complete").write_text("ok\n")
    return venv / "bin" / "python"


def run_ours(reference, current) -> dict:
    profile, build = timing.measure(lambda: ReferenceProfile.build(reference))
    report, detect = timing.measure(lambda: detect_drift(profile, current))
    chunks = (current.iloc[start:start + CHUNK_ROWS] for start in range(0, len(current), CHUNK_ROWS))
    streamed, chunked = timing.measure(lambda: detect_drift(profile, chunks))
    drifted = [feature.feature for feature in report.features if feature.verdict == "drift"]
    assert drifted == [feature.feature for feature in streamed.features if feature.verdict == "drift"]
    return {"build": build, "detect": detect, "chunked": chunked, "drifted": drifted,
            "methods": sorted({feature.method for feature in report.features})}


def run_evidently(python: Path, folder: Path, width: int) -> dict:
    env = {**os.environ, "DO_NOT_TRACK": "1", "PYTHONPATH": str(HERE)}
    done = subprocess.run([str(python), str(HERE / "evidently_run.py"), str(folder), str(width)],
                          capture_output=True, text=True, env=env, cwd=HERE)
    if done.returncode:
        raise SystemExit(f"Evidently's run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def median(runs: list[dict], *keys: str) -> float:
    values = []
    for run in runs:
        value = run
        for key in keys:
            value = value[key]
        values.append(value)
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", nargs="+", default=["1000000x20", "100000x100"], help="ROWSxCOLUMNS")
    args = parser.parse_args()
    python = evidently_python()
    lines = ["| data (rows × columns) | ours: build reference s | ours: detect s | ours: detect, 50k-row chunks s | "
             "ours: build + detect s | Evidently s | × ours detect | × ours build + detect | "
             "others' cores (ours / Evidently) |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    versions = {}
    for size in args.sizes:
        rows, width = (int(part) for part in size.split("x"))
        folder = Path(tempfile.mkdtemp(prefix="bench-drift-"))
        try:
            data.write(folder, rows, width)
            reference, current = data.frame(folder, "reference", width), data.frame(folder, "current", width)
            ours, theirs = [], []
            for round_ in range(args.rounds):
                # Alternate which side runs first, so neither always meets a warm cache.
                for side in ("ours", "theirs") if round_ % 2 == 0 else ("theirs", "ours"):
                    if side == "ours":
                        ours.append(run_ours(reference, current))
                    else:
                        theirs.append(run_evidently(python, folder, width))
                print(f"{size} round {round_ + 1}: ours build {ours[-1]['build']['seconds']:.3f} s, "
                      f"detect {ours[-1]['detect']['seconds']:.3f} s, chunked {ours[-1]['chunked']['seconds']:.3f} s; "
                      f"Evidently {theirs[-1]['seconds']:.2f} s", flush=True)
        finally:
            shutil.rmtree(folder)
        expected = data.drifted(width)
        for name, runs in (("ours", ours), ("Evidently", theirs)):
            if any(sorted(run["drifted"]) != sorted(expected) for run in runs):
                raise SystemExit(f"{name} found {runs[0]['drifted']} drifted, expected {expected}")
        versions = theirs[0]["versions"]
        build, detect = median(ours, "build", "seconds"), median(ours, "detect", "seconds")
        evidently = median(theirs, "seconds")
        lines.append(f"| {rows:,} × {width} | {build:.3f} | {detect:.3f} | {median(ours, 'chunked', 'seconds'):.3f} | "
                     f"{build + detect:.3f} | {evidently:.2f} | **{evidently / detect:.0f}×** | "
                     f"**{evidently / (build + detect):.0f}×** | {median(ours, 'detect', 'others_cores'):.2f} / "
                     f"{median(theirs, 'others_cores'):.2f} |")
        print(f"methods: ours {ours[0]['methods']}, Evidently {theirs[0]['methods']}; "
              f"both found exactly the {len(expected)} drifted columns")
    print(f"\nmedians of {args.rounds} rounds; Python {platform.python_version()}, {os.cpu_count()} cores; "
          f"Evidently {versions.get('evidently')} (pandas {versions.get('pandas')}, numpy {versions.get('numpy')})\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
