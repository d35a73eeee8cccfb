"""Time from a breached threshold to all traffic back on the stable version.

A canary sends 10% of a 220 req/s load to a version that answers 500 to every request
(the `failing` model of tests/support/rollout_support.py); the engine's background analysis aborts
on the first failed measurement. From the load generator's timeline and the event log:

- detect: first 5xx from the bad version → the failed measurement (bounded by the analysis
  interval: the breach is seen when the measurement window closes);
- abort: the failed measurement → the `aborted` event, written once the router has taken the
  new table (all traffic on stable);
- total: first 5xx → all traffic on stable; and how many answers still came from the bad
  version after that (requests that were already in flight).

    .venv/bin/python benchmarks/rollout/rollback_time.py [--intervals 1 2 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "support"))

from loadgen import LoadGenerator  # noqa: E402
from rollout_support import build_project  # noqa: E402

RATE = 220


def one_round(owner, interval: float, index: int) -> dict[str, float]:
    env = owner.environment(f"bench-{int(interval * 1000)}-{index}", {
        "strategy": "canary",
        "analysis": {"interval": interval, "count": 1, "metrics": [{"name": "error_rate", "max": 0.05}]},
        "canary": {"steps": [{"set_weight": 10}, {"pause": {"duration": 120}}]}})
    try:
        env.deploy("good")
        bad = owner.versions["failing"]
        load = LoadGenerator(env.url, RATE, owner.bodies()).start()
        try:
            time.sleep(0.5)
            started = time.monotonic() - time.time()  # monotonic = wall + offset
            env.deploy("failing", check=1)
            time.sleep(1.0)
        finally:
            result = load.stop()
        events = env.events()
        breached = next(e["time"] for e in events if e["event"] == "measurement" and e["outcome"] == "fail") + started
        rerouted = next(e["time"] for e in events if e["event"] == "aborted") + started
        first_error = min(t for t, version, status in result.timeline if status >= 500)
        late = sum(1 for t, version, status in result.timeline if version == bad and t > rerouted)
        return {"detect_s": breached - first_error, "abort_ms": (rerouted - breached) * 1000,
                "total_s": rerouted - first_error, "late": late, "failed": result.failed, "sent": result.sent}
    finally:
        env.undeploy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intervals", type=float, nargs="+", default=[1.0, 2.0, 5.0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rollback-bench-") as folder:
        owner = build_project(Path(folder))
        print("| analysis interval | detect: first 5xx → failed measurement | abort: → all traffic on stable "
              "| total | answers from the bad version after that | failed requests |")
        print("|---|---|---|---|---|---|")
        for interval in args.intervals:
            rounds = [one_round(owner, interval, index) for index in range(args.rounds)]
            median = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
            share = statistics.median(r["failed"] / r["sent"] for r in rounds)
            print(f"| {interval:g} s | {median['detect_s']:.2f} s | {median['abort_ms']:.0f} ms | "
                  f"{median['total_s']:.2f} s | {max(r['late'] for r in rounds)} | {share:.2%} |", flush=True)


if __name__ == "__main__":
    main()
