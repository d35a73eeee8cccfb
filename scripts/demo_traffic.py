"""Steady traffic for the demo: the project's data rows, shuffled, sent to the local router at a set rate.

    python scripts/demo_traffic.py http://127.0.0.1:8000 demo/mlops.yaml [--rate 100] [--connections 8] [--duration 900]

A canary's analysis needs requests to measure (no data is inconclusive and pauses the
rollout), so the demo keeps this running while `mlops run` rolls the second version out.
One client waiting for each answer reached only ~25 requests/s on a busy 2-core machine;
a few keep-alive connections in parallel keep the asked rate even when answers are slow.
It sends to a loopback address only, stops after --duration seconds (or when killed), and
prints every 5 s the rate reached and how many answers came from each version.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path

import pandas as pd
import yaml

REPORT_EVERY = 5.0
MAX_CATCH_UP = 0.5  # seconds of missed requests sent at once after a stall, no more (no bursts)


class Pacer:
    """Hands out send times `1 / rate` apart to every connection, so together they keep the rate."""

    def __init__(self, rate: float) -> None:
        self.step, self.lock = 1.0 / rate, threading.Lock()
        self.due = time.monotonic() - self.step

    def next_slot(self) -> float:
        with self.lock:
            self.due = max(self.due + self.step, time.monotonic() - MAX_CATCH_UP)
            return self.due


class Tally:
    """Answers per version (or failure) since the last report, from every connection."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()

    def add(self, key: str) -> None:
        with self.lock:
            self.counts[key] += 1

    def take(self) -> Counter[str]:
        with self.lock:
            counts, self.counts = self.counts, Counter()
            return counts


def send(target: urllib.parse.SplitResult, bodies: list[str], offset: int, pacer: Pacer, tally: Tally,
         stop: threading.Event) -> None:
    """One keep-alive connection: the next body at each slot the pacer gives, until `stop`."""
    connection: http.client.HTTPConnection | None = None
    index = offset
    while not stop.is_set():
        delay = pacer.next_slot() - time.monotonic()
        if delay > 0 and stop.wait(delay):
            break
        try:
            connection = connection or http.client.HTTPConnection(target.hostname, target.port, timeout=10)
            connection.request("POST", "/predict", bodies[index % len(bodies)], {"content-type": "application/json"})
            response = connection.getresponse()
            response.read()
            tally.add(f"v{response.getheader('x-served-by')}" if response.status == 200 else f"HTTP {response.status}")
        except OSError:
            tally.add("no answer")
            if connection is not None:
                connection.close()
            connection = None
            stop.wait(0.2)
        index += 1


def loopback(url: str) -> urllib.parse.SplitResult:
    target = urllib.parse.urlsplit(url)
    host = target.hostname or ""
    try:
        local = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = False
    if not local or target.port is None:
        raise SystemExit(f"{url}: give the local router as http://127.0.0.1:PORT (this demo client sends to loopback only)")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("config", type=Path)
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second, in all (at most 1000)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections (1 to 16)")
    parser.add_argument("--duration", type=float, default=900.0, help="stop after this many seconds")
    args = parser.parse_args()
    if not 0 < args.rate <= 1000 or not 1 <= args.connections <= 16 or args.duration <= 0:
        parser.error("--rate must be in (0, 1000], --connections in 1..16, --duration above 0")
    target = loopback(args.url)
    config = yaml.safe_load(args.config.read_text())
    frame = pd.read_csv(args.config.parent / config["data"]["path"]).drop(columns=[config["data"]["target"]])
    # Every row in a random order: traffic from the training distribution (the file's first rows
    # are not, and the demo's drift table would flag features that did not move).
    rows = frame.sample(frac=1.0, random_state=0).to_dict(orient="records")
    bodies = [json.dumps({"records": [row]}) for row in rows]

    pacer, tally, stop = Pacer(args.rate), Tally(), threading.Event()
    workers = [threading.Thread(target=send, args=(target, bodies, i * len(bodies) // args.connections, pacer, tally, stop),
                                daemon=True) for i in range(args.connections)]
    for worker in workers:
        worker.start()
    last = time.monotonic()
    end = last + args.duration
    while last < end:
        time.sleep(min(REPORT_EVERY, max(end - last, 0.0)))
        counts, now = tally.take(), time.monotonic()
        answered = ", ".join(f"{key} {count}" for key, count in sorted(counts.items()))
        print(f"traffic (last {now - last:.0f} s): {sum(counts.values()) / (now - last):.0f} req/s; {answered}", flush=True)
        last = now
    stop.set()
    for worker in workers:
        worker.join(timeout=15)


if __name__ == "__main__":
    main()
