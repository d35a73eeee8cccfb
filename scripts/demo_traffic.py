"""Steady traffic for the demo: the project's data rows, shuffled, sent to the router until stopped.

    python scripts/demo_traffic.py http://127.0.0.1:8000 demo/mlops.yaml [--rate 100]

A canary's analysis needs requests to measure (no data is inconclusive and pauses the
rollout), so the demo keeps this running while `mlops run` rolls the second version out.
It prints, every 5 s, how many answers came from each version.
"""

from __future__ import annotations

import argparse
import http.client
import json
import time
import urllib.parse
from collections import Counter
from pathlib import Path

import pandas as pd
import yaml


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("config", type=Path)
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    args = parser.parse_args()
    config = yaml.safe_load(args.config.read_text())
    frame = pd.read_csv(args.config.parent / config["data"]["path"]).drop(columns=[config["data"]["target"]])
    # Every row in a random order: traffic from the training distribution (the file's first rows
    # are not, and the demo's drift table would flag features that did not move).
    rows = frame.sample(frac=1.0, random_state=0).to_dict(orient="records")
    bodies = [json.dumps({"records": [row]}) for row in rows]
    target = urllib.parse.urlsplit(args.url)
    served: Counter[str] = Counter()
    connection = None
    next_report, sent = time.monotonic() + 5, 0
    while True:
        started = time.monotonic()
        try:
            connection = connection or http.client.HTTPConnection(target.hostname, target.port, timeout=10)
            connection.request("POST", "/predict", bodies[sent % len(bodies)], {"content-type": "application/json"})
            response = connection.getresponse()
            response.read()
            served[f"v{response.getheader('x-served-by')}" if response.status == 200 else f"HTTP {response.status}"] += 1
        except OSError:
            served["no answer"] += 1
            connection = None
            time.sleep(0.2)
        sent += 1
        if time.monotonic() > next_report:
            print("traffic (last 5 s): " + ", ".join(f"{key} {count}" for key, count in sorted(served.items())), flush=True)
            served.clear()
            next_report += 5
        time.sleep(max(0.0, 1.0 / args.rate - (time.monotonic() - started)))


if __name__ == "__main__":
    main()
