"""How long `mlops --help` takes, next to the Python interpreter's own start-up (the floor)
and DVC's `--help` (a CLI of the same kind), in one run on the same machine.

    .venv/bin/python benchmarks/cli_startup.py [--runs 30]

Target (issue 2): `mlops --help` under 0.5 s. Figures: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
COMMANDS = {
    "python -c pass (floor)": [sys.executable, "-c", "pass"],
    "mlops --help": [str(BIN / "mlops"), "--help"],
    "mlops run --help": [str(BIN / "mlops"), "run", "--help"],
    "dvc --help": [str(BIN / "dvc"), "--help"],
}


def time_command(command: list[str], runs: int) -> list[float]:
    subprocess.run(command, capture_output=True, check=True)  # warm the OS file cache
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    runs = parser.parse_args().runs
    results = {name: time_command(command, runs) for name, command in COMMANDS.items()}
    floor = statistics.median(results["python -c pass (floor)"])
    print("| command | median ms | p90 ms | max ms | × python floor |")
    print("|---|---:|---:|---:|---:|")
    for name, samples in results.items():
        ordered = sorted(samples)
        median = statistics.median(ordered)
        p90 = ordered[int(0.9 * (len(ordered) - 1))]
        print(f"| {name} | {median * 1000:.0f} | {p90 * 1000:.0f} | {ordered[-1] * 1000:.0f} | {median / floor:.1f} |")
    worst = max(results["mlops --help"])
    print(f"\nmlops --help slowest of {runs}: {worst * 1000:.0f} ms (target < 500 ms): {'OK' if worst < 0.5 else 'OVER'}")
    sys.exit(0 if worst < 0.5 else 1)


if __name__ == "__main__":
    main()
