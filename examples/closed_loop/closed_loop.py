"""The closed loop on the local embedded default, in one command:

    .venv/bin/python examples/closed_loop/closed_loop.py [--dir /tmp/loop] [--port 8300]

1. `mlops init` a breast-cancer project and `mlops run` it: v1 is trained, gated, registered and
   rolled out behind the local router on 127.0.0.1:PORT.
2. Live traffic: rows of the data set, sent to the router all the time.
3. The population changes (the shift): from now on patients with large tumours dominate the
   traffic (a covariate and label shift that stays inside the schema's ranges), and newly
   labelled cases of that population are appended to the data file (a new DVC data version).
4. `mlops monitor check --act` every few seconds: once the window of logged predictions has
   drifted, the policy says retrain and its action (`run`) runs `mlops run`: the new data
   version is trained on, the candidate is gated against the production model, registered, and
   rolled out as a canary under the live traffic until it serves 100%.
5. `mlops monitor report` for the new version: distributions, drift, the servers' latency,
   error rate, CPU and memory, in one HTML file.

Prints progress on stderr and a JSON summary on stdout, including the time from the start of
the shift to the new version at 100% of traffic. The model keeps serving afterwards; stop it with
`cd DIR && mlops undeploy`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

MLOPS = str(Path(sys.executable).with_name("mlops"))
LOOP_CONFIG = {
    # Short windows and intervals so the loop closes in about a minute; production values are
    # the defaults (1 h window, 10 min interval, 6 h cool-down), see docs/monitoring.md.
    "monitoring": {"window": "15s", "min_samples": 300, "drift_share": 0.3, "interval": "3s",
                   "trigger": {"when": ["drift", "accuracy"], "action": "run", "cooldown": "1h"}},
    # A canary step's analysis needs >= 20 requests per measurement on the new version: 25% of
    # 60 requests/s over 5 s gives ~75, with room for a busy machine.
    "deploy": {"analysis": {"interval": "5s", "count": 2},
               "canary": {"steps": [{"set_weight": 25}, {"analysis": {}}, {"set_weight": 60}, {"analysis": {}}]}},
}
RATE = 60.0  # requests per second, 5 rows each


def log(message: str) -> None:
    print(f"[closed-loop {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def mlops(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    completed = subprocess.run([MLOPS, *args], cwd=root, stdout=subprocess.PIPE, text=True)
    if check and completed.returncode != 0:
        raise SystemExit(f"mlops {' '.join(args)} exited {completed.returncode}:\n{completed.stdout}")
    return completed


class Traffic:
    """Requests of 5 rows to the router at a steady rate from a pool that can be swapped (the shift)."""

    def __init__(self, port: int, pool: pd.DataFrame, rate: float = 40.0) -> None:
        self.port, self.rate = port, rate
        self.sent, self.failed, self._stop = 0, 0, threading.Event()
        self._rng = np.random.default_rng(0)
        self.use(pool)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def use(self, pool: pd.DataFrame) -> None:
        """Send rows from `pool` from now on (request bodies encoded once, up front)."""
        records = json.loads(pool.to_json(orient="records"))
        picks = self._rng.integers(0, len(records), size=(500, 5))
        self._bodies = [json.dumps({"records": [records[i] for i in row]}) for row in picks]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        connection = None
        while not self._stop.is_set():
            started = time.monotonic()
            body = self._bodies[self.sent % len(self._bodies)]
            try:
                connection = connection or http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                connection.request("POST", "/predict", body, {"content-type": "application/json"})
                response = connection.getresponse()
                response.read()
                self.failed += response.status != 200
            except OSError:
                self.failed += 1
                connection = None
            self.sent += 1
            self._stop.wait(max(0.0, 1.0 / self.rate - (time.monotonic() - started)))


def shifted_population(data: pd.DataFrame, target: str, rows: int, seed: int) -> pd.DataFrame:
    """New cases from a population where large tumours dominate, measured with a little noise,
    kept inside the observed ranges (the data schema's min/max)."""
    rng = np.random.default_rng(seed)
    large = data[data["mean radius"] > data["mean radius"].quantile(0.6)]
    picked = large.sample(n=rows, replace=True, random_state=seed).reset_index(drop=True)
    features = [column for column in data.columns if column != target]
    noise = rng.normal(0.0, 0.02, size=(rows, len(features))) * data[features].std().to_numpy()
    picked[features] = np.clip(picked[features].to_numpy() + noise, data[features].min().to_numpy(),
                               data[features].max().to_numpy())
    return picked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("closed-loop"), help="project folder (recreated)")
    parser.add_argument("--port", type=int, default=8300, help="router port (the admin API uses port + 1)")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds")
    args = parser.parse_args()
    root = args.dir.resolve()
    if (root / ".mlops").exists():
        mlops(root, "undeploy", check=False)
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(f"{root}.dvc-storage", ignore_errors=True)

    log("1. a project, v1 trained and rolled out")
    subprocess.run([MLOPS, "init", str(root), "--dataset", "breast_cancer", "--dvc-remote", f"{root}.dvc-storage"],
                   check=True, stdout=subprocess.DEVNULL)
    config = yaml.safe_load((root / "mlops.yaml").read_text())
    config["deploy"]["local"]["port"] = args.port
    config["deploy"]["analysis"].update(LOOP_CONFIG["deploy"]["analysis"])
    config["deploy"]["canary"] = LOOP_CONFIG["deploy"]["canary"]
    config["monitoring"] = LOOP_CONFIG["monitoring"]
    (root / "mlops.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    started = time.monotonic()
    mlops(root, "run")
    data_path = root / config["data"]["path"]
    data, target = pd.read_csv(data_path), config["data"]["target"]
    features = data.drop(columns=[target])

    log("2. live traffic from the population the model was trained on")
    traffic = Traffic(args.port, features, RATE)
    traffic.start()
    try:
        time.sleep(8)
        before = json.loads(mlops(root, "monitor", "check", "--output", "json", check=False).stdout)
        log(f"   monitor check before the shift: {before['status']}")

        log("3. the shift: large tumours dominate the traffic; their labelled cases arrive as new data")
        shift_started = time.monotonic()
        new_cases = shifted_population(data, target, rows=300, seed=1)
        traffic.use(new_cases.drop(columns=[target]))
        pd.concat([data, new_cases], ignore_index=True).to_csv(data_path, index=False)

        log("4. monitor check --act every 3 s until the policy retrains and the new version serves 100%")
        detected_at, trigger, checks = None, None, 0
        while time.monotonic() - shift_started < args.timeout:
            checks += 1
            check_started = time.monotonic()
            verdict = json.loads(mlops(root, "monitor", "check", "--act", "--output", "json", check=False).stdout)
            log(f"   check {checks}: {verdict.get('status')} {'; '.join(verdict.get('reasons', []))}")
            if verdict.get("trigger", {}).get("fired"):
                detected_at, trigger = check_started, verdict["trigger"]
                break
            time.sleep(3)
        if trigger is None:
            raise SystemExit(f"no retraining was triggered within {args.timeout:.0f} s of the shift")
        status = json.loads(mlops(root, "rollout", "status", "--output", "json").stdout)
        serving_at = time.monotonic()
        time.sleep(3)  # a little traffic on the new version alone, for its report
        after = json.loads(mlops(root, "monitor", "report", "--output", "json", check=False).stdout)
        log(f"5. the new version's monitoring report: {after.get('report')}")
    finally:
        traffic.stop()
    summary = {
        "before_shift": before["status"],
        "detected_after_seconds": round(detected_at - shift_started, 1),
        "shift_to_full_traffic_seconds": round(serving_at - shift_started, 1),
        "total_seconds": round(time.monotonic() - started, 1),
        "trigger": {key: trigger[key] for key in ("action", "key", "reason")},
        "run_exit_code": trigger["outcome"]["exit_code"],
        "rollout": {key: status.get(key) for key in ("status", "stable", "weights", "strategy")},
        "requests": {"sent": traffic.sent, "failed": traffic.failed},
        "report": after.get("report"),
        "serving": {key: after.get("performance", {}).get(key)
                    for key in ("servers", "latency_p50_ms", "latency_p99_ms", "error_rate", "cpu_percent", "memory_mb")},
    }
    print(json.dumps(summary, indent=2))
    if status.get("status") != "promoted" or status.get("stable") != "2":
        raise SystemExit(f"the loop did not close: the rollout of the retrained version is {status.get('status')} "
                         f"(mlops run exited {trigger['outcome']['exit_code']}); see `mlops rollout status` in {root}")
    log(f"v{status.get('stable')} serves {status.get('weights')} "
        f"{summary['shift_to_full_traffic_seconds']} s after the shift began")


if __name__ == "__main__":
    main()
