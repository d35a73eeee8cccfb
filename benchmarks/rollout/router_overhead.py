"""Router overhead: latency of a server called directly vs through the rollout router.

  .venv/bin/python benchmarks/rollout/router_overhead.py                  # 8 rounds, ~6 min
  .venv/bin/python benchmarks/rollout/router_overhead.py --rounds 2 --duration 2

Two upstreams, each with its own router in front (one version, weight 100):

- **model**: `mlops serve --workers 1` on the breast_cancer GradientBoosting artefact of
  benchmarks/serving/make_model.py (what the router really fronts);
- **floor**: benchmarks/serving/floor_app.py under uvicorn+httptools+uvloop, which answers a
  constant in ~25 µs, so the difference there is the router's own cost.

For each upstream, concurrency (wrk connections) and round, wrk measures the server directly
and through its router back to back, the order flipping every round, so drift on this shared
machine hits both alike; single-row POST /predict bodies (post.lua). Reported: req/s, p50 and
p99 of each, the added latency (router − direct), per round and as the median over rounds,
the router's CPU per request, and the CPU other processes used meanwhile. Before measuring,
the router's answer must equal the model server's own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SERVING = REPO / "benchmarks" / "serving"
BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")

sys.path[:0] = [str(REPO), str(SERVING)]
from bench import system_busy, wait_quiet  # noqa: E402  (the serving benchmark's shared-machine helpers)

from mlops_helpers.ports import free_port  # noqa: E402


@dataclass
class Target:
    """One upstream server and the router in front of it."""

    kind: str
    server: subprocess.Popen
    server_port: int
    router: subprocess.Popen
    router_port: int

    @property
    def direct(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    @property
    def routed(self) -> str:
        return f"http://127.0.0.1:{self.router_port}"


def start(argv: list[str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as handle:  # own session: the whole group can be stopped
        return subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=REPO)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def http(method: str, url: str, body: bytes | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_until(check, what: str, process: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited during start-up:\n{log.read_text()[-3000:]}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{what} not ready after {timeout:.0f} s; log: {log}")


def launch(kind: str, server_argv: list[str], work: Path, body: Path) -> Target:
    """Start the server and a router routing to it; wait until requests get through."""
    server_port, router_port, admin_port = free_port(), free_port(), free_port()
    server_log, router_log = work / f"{kind}-server.log", work / f"{kind}-router.log"
    server = start([arg.replace("{port}", str(server_port)) for arg in server_argv], server_log)
    router = start([sys.executable, "-m", "mlops_helpers.router", "--port", str(router_port),
                    "--admin-port", str(admin_port), "--routes-file", str(work / f"{kind}-routes.json")], router_log)
    target = Target(kind, server, server_port, router, router_port)
    try:
        wait_until(lambda: http("GET", f"{target.direct}/readyz")[0] == 200, f"the {kind} server", server, server_log)
        wait_until(lambda: http("GET", f"http://127.0.0.1:{admin_port}/healthz")[0] == 200, "the router", router, router_log)
        table = {"versions": {"1": {"upstreams": [target.direct]}}, "weights": {"1": 100}}
        status, answer = http("PUT", f"http://127.0.0.1:{admin_port}/routes", json.dumps(table).encode())
        assert status == 200, answer
        wait_until(lambda: http("POST", f"{target.routed}/predict", body.read_bytes())[0] == 200, "the route",
                   router, router_log)
    except BaseException:
        stop(router)
        stop(server)
        raise
    return target


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def wrk(url: str, body: Path, connections: int, seconds: float) -> dict:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout=5s", "--latency",
            "-s", str(SERVING / "post.lua"), url]
    result = subprocess.run(argv, env={**os.environ, "BENCH_BODY": str(body)}, capture_output=True, text=True)
    line = next((text for text in result.stdout.splitlines() if text.startswith("BENCH_JSON ")), None)
    if result.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed on {url}:\n{result.stdout}\n{result.stderr}")
    stats = json.loads(line.removeprefix("BENCH_JSON "))
    errors = stats["connect"] + stats["read"] + stats["write"] + stats["status"] + stats["timeout"]
    if errors:
        raise SystemExit(f"wrk saw {errors} errors on {url}: {stats}")
    return stats


def measure(url: str, body: Path, connections: int, args: argparse.Namespace, pids: dict[str, int]) -> dict:
    """One wrk run after a warm-up; with the CPU the router, the server, wrk and everybody else used."""
    if args.quiet_wait:
        wait_quiet(args.quiet_wait)
    wrk(url, body, connections, args.warmup)
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    wrk_before, busy_before = resource.getrusage(resource.RUSAGE_CHILDREN), system_busy()
    stats = wrk(url, body, connections, args.duration)
    wrk_after, busy_after = resource.getrusage(resource.RUSAGE_CHILDREN), system_busy()
    cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
    seconds = stats["duration_us"] / 1e6
    wrk_cpu = wrk_after.ru_utime + wrk_after.ru_stime - wrk_before.ru_utime - wrk_before.ru_stime
    machine = (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1]) * os.cpu_count()
    return {"rps": stats["requests"] / seconds, "p50": stats["p50_us"] / 1000, "p99": stats["p99_us"] / 1000,
            "router_us": cpu["router"] / stats["requests"] * 1e6 if "router" in cpu else None,
            "others": max(0.0, machine - (sum(cpu.values()) + wrk_cpu) / seconds)}


def run(args: argparse.Namespace, body: Path, targets: list[Target]) -> dict[tuple[str, int, str], list[dict]]:
    results: dict[tuple[str, int, str], list[dict]] = {}
    for round_index in range(args.rounds):
        for target in targets:
            for connections in args.connections:
                pair = [("direct", target.direct, {"server": target.server.pid}),
                        ("router", target.routed, {"server": target.server.pid, "router": target.router.pid})]
                for name, url, pids in pair if round_index % 2 == 0 else reversed(pair):
                    result = measure(f"{url}/predict", body, connections, args, pids)
                    results.setdefault((target.kind, connections, name), []).append(result)
                    print(f"round {round_index + 1} {target.kind} c={connections} {name}: {result['rps']:,.0f} req/s, "
                          f"p50 {result['p50']:.3f} ms, p99 {result['p99']:.2f} ms, others' CPU {result['others']:.2f} cores",
                          flush=True)
    return results


def report(results: dict[tuple[str, int, str], list[dict]], args: argparse.Namespace, kinds: list[str]) -> None:
    print(f"\n{args.rounds} rounds, wrk -t1, {args.warmup:g} s warm-up + {args.duration:g} s per run, 1-row POST /predict, "
          f"{os.cpu_count()} cores, Python {sys.version.split()[0]}; medians over rounds "
          "(added = median of the per-round differences)\n")
    print("| upstream | connections | direct req/s | router req/s | direct p50 ms | router p50 ms | added p50 ms "
          "| direct p99 ms | router p99 ms | added p99 ms | router CPU µs/request | others' CPU (cores) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for kind in kinds:
        for connections in args.connections:
            direct, routed = results[(kind, connections, "direct")], results[(kind, connections, "router")]

            def median(rows: list[dict], key: str) -> float:
                return statistics.median(row[key] for row in rows)

            added50 = statistics.median(r["p50"] - d["p50"] for d, r in zip(direct, routed))
            added99 = statistics.median(r["p99"] - d["p99"] for d, r in zip(direct, routed))
            print(f"| {kind} | {connections} | {median(direct, 'rps'):,.0f} | {median(routed, 'rps'):,.0f} | "
                  f"{median(direct, 'p50'):.3f} | {median(routed, 'p50'):.3f} | **{added50:+.3f}** | "
                  f"{median(direct, 'p99'):.2f} | {median(routed, 'p99'):.2f} | {added99:+.2f} | "
                  f"{median(routed, 'router_us'):.0f} | {median(direct + routed, 'others'):.2f} |")
    print("\nPer round (added p50 ms, router − direct):")
    for kind in kinds:
        for connections in args.connections:
            pairs = zip(results[(kind, connections, "direct")], results[(kind, connections, "router")])
            print(f"- {kind} c={connections}: " + ", ".join(f"{r['p50'] - d['p50']:+.3f}" for d, r in pairs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--duration", type=float, default=3.0, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of load before each run")
    parser.add_argument("--quiet-wait", type=float, default=3.0,
                        help="before each run, wait up to this many seconds for the shared machine to be idle (0: don't)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (model, bodies, logs)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")

    work = Path(tempfile.mkdtemp(prefix="router-bench-"))
    subprocess.run([sys.executable, str(SERVING / "make_model.py"), str(work)], check=True, cwd=REPO)
    body = work / "bodies" / "ours-1.json"
    targets: list[Target] = []
    try:
        targets.append(launch("model", [str(BIN / "mlops"), "serve", "--artefact", str(work / "artefact"),
                                        "--port", "{port}", "--workers", "1"], work, body))
        targets.append(launch("floor", [str(BIN / "uvicorn"), "floor_app:app", "--app-dir", str(SERVING), "--host",
                                        "127.0.0.1", "--port", "{port}", "--loop", "uvloop", "--http", "httptools",
                                        "--no-access-log"], work, body))
        model = targets[0]
        predictions = [json.loads(http("POST", f"{url}/predict", body.read_bytes())[1])["predictions"]
                       for url in (model.direct, model.routed)]
        assert predictions[0] == predictions[1], f"the router changed the answer: {predictions}"
        results = run(args, body, targets)
    finally:
        for target in targets:
            stop(target.router)
            stop(target.server)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    report(results, args, [target.kind for target in targets])


if __name__ == "__main__":
    main()
