"""Model-serving benchmark: `mlops serve` side by side with MLflow, Flask+gunicorn and a raw ASGI floor.

Started by run.sh with the project's interpreter. In one run it:
  1. builds (or reuses) the baseline venvs outside the repo (venvs.py),
  2. fits one model and writes it as an mlops artefact, an MLflow model (the same fitted
     object, via joblib) and the request bodies (make_model.py, save_mlflow_model.py),
  3. starts every server on a free loopback port, 2 workers each, and checks that each
     one answers the 100-row body with the model's own predictions (else it stops),
  4. measures each scenario with wrk (warm-up, then a fixed duration, --latency), for every
     server in turn, in rounds (the order reversed every other round) so that drift on a
     shared machine hits all servers alike,
  5. prints a Markdown table (req/s, p50, p99, errors, ratios to MLflow and to the floor,
     server CPU) and the targets of the issue, and writes it to results-latest.md.
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import venvs
from compact import compact

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PROJECT_BIN = Path(sys.executable).parent  # the project's .venv/bin (run.sh starts us with it)
CLK_TCK = os.sysconf("SC_CLK_TCK")

# A tuned `mlops serve` measured beside the shipped defaults (see the README's analysis).
DEFAULT_VARIANTS = ["--max-wait-ms 0.5"]

# name, rows per request, wrk connections
SCENARIOS = [("1 row, c=1", 1, 1), ("1 row, c=32", 1, 32), ("100 rows, c=8", 100, 8)]


@dataclass
class Server:
    name: str
    kind: str  # ours | mlflow | flask | floor
    argv: list[str]
    path: str  # the POST endpoint
    body_prefix: str  # bodies/<prefix>-<rows>.json
    ready_path: str | None
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    port: int = 0
    process: subprocess.Popen | None = None
    log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"


# --- processes ----------------------------------------------------------------------------

_STARTED: list[Server] = []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(server: Server, work: Path) -> None:
    server.port = free_port()
    argv = [arg.replace("{port}", str(server.port)) for arg in server.argv]
    server.log = work / f"{server.name.split()[0]}-{server.port}.log"
    env = {**os.environ, **server.env}
    with open(server.log, "wb") as log:
        # Own session: stopping the server stops its whole process group (workers included).
        server.process = subprocess.Popen(argv, env=env, cwd=server.cwd, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True)
    _STARTED.append(server)


def stop(server: Server) -> None:
    process = server.process
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def stop_all() -> None:
    for server in reversed(_STARTED):
        stop(server)


def wait_ready(server: Server, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{server.port}{server.ready_path or '/'}"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"{server.name} exited during start-up:\n{server.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            if server.ready_path is None:  # any HTTP answer means it is listening
                return
            exc.close()
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.25)
    raise SystemExit(f"{server.name} not ready after {timeout:.0f} s; log: {server.log}")


def post(url: str, body: bytes) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def tree(root: int) -> list[int]:
    """root and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _ticks(stat_path: str) -> int:
    try:
        fields = Path(stat_path).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def cpu_seconds(pids: list[int]) -> float:
    return sum(_ticks(f"/proc/{pid}/stat") for pid in pids) / CLK_TCK


def thread_split(pids: list[int]) -> tuple[float, float]:
    """CPU seconds of worker main threads (the event loop) and of their other threads (predict)."""
    loop = other = 0
    for pid in pids:
        try:
            tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            continue
        if len(tids) == 1:
            continue  # the supervisor and helpers are single-threaded; workers are not
        for tid in tids:
            ticks = _ticks(f"/proc/{pid}/task/{tid}/stat")
            if tid == pid:
                loop += ticks
            else:
                other += ticks
    return loop / CLK_TCK, other / CLK_TCK


def system_busy() -> tuple[int, int]:
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def batch_metrics(server: Server) -> tuple[float, float] | None:
    """(rows, model calls) so far, summed over the workers, from ours' /metrics."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except (urllib.error.URLError, OSError):
        return None
    values = {}
    for name in ("mlops_batch_rows_sum", "mlops_batch_rows_count"):
        match = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M)
        values[name] = float(match.group(1)) if match else 0.0
    return values["mlops_batch_rows_sum"], values["mlops_batch_rows_count"]


# --- wrk ------------------------------------------------------------------------------------

def wrk(server: Server, body: Path, connections: int, seconds: float, timeout_s: int, latency: bool) -> tuple[dict, str]:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", f"--timeout={timeout_s}s", "-s", str(HERE / "post.lua")]
    if latency:
        argv.append("--latency")
    argv.append(server.url)
    result = subprocess.run(argv, env={**os.environ, "BENCH_BODY": str(body)}, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"wrk failed for {server.name}: {result.stderr or result.stdout}")
    line = next((text for text in result.stdout.splitlines() if text.startswith("BENCH_JSON ")), None)
    if line is None:
        raise SystemExit(f"no summary from wrk for {server.name}:\n{result.stdout}\n{result.stderr}")
    return json.loads(line[len("BENCH_JSON "):]), result.stdout


def wait_quiet(max_seconds: float, threshold: float = 0.3) -> float:
    """Wait (at most max_seconds) for a 1-s window in which the machine is nearly idle (our
    servers are idle between measurements, so that CPU is other people's); returns the wait."""
    started = time.monotonic()
    while time.monotonic() - started < max_seconds:
        busy0, total0 = system_busy()
        time.sleep(1)
        busy1, total1 = system_busy()
        if (busy1 - busy0) / max(1, total1 - total0) * os.cpu_count() < threshold:
            break
    return time.monotonic() - started


def measure(server: Server, body: Path, connections: int, args, raw_log) -> dict:
    waited = wait_quiet(args.quiet_wait) if args.quiet_wait else 0.0
    wrk(server, body, connections, args.warmup, args.timeout, latency=False)
    pids = tree(server.process.pid)
    cpu0, split0 = cpu_seconds(pids), thread_split(pids)
    batches0 = batch_metrics(server) if server.kind == "ours" else None
    busy0, total0 = system_busy()
    wrk_cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    stats, text = wrk(server, body, connections, args.duration, args.timeout, latency=True)
    wrk_cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy1, total1 = system_busy()
    cpu1, split1 = cpu_seconds(pids), thread_split(pids)
    seconds = stats["duration_us"] / 1e6
    result = {
        "requests": stats["requests"],
        "rps": stats["requests"] / seconds,
        "p50_ms": stats["p50_us"] / 1000,
        "p99_ms": stats["p99_us"] / 1000,
        "max_ms": stats["max_us"] / 1000,
        "socket_errors": stats["connect"] + stats["read"] + stats["write"] + stats["timeout"],
        "non_2xx": stats["status"],
        "server_cores": (cpu1 - cpu0) / seconds,
        "wrk_cores": (wrk_cpu1.ru_utime + wrk_cpu1.ru_stime - wrk_cpu0.ru_utime - wrk_cpu0.ru_stime) / seconds,
        "machine_busy": (busy1 - busy0) / max(1, total1 - total0),
        "ncpu": os.cpu_count(),
        "waited_s": waited,
        "loop_cores": (split1[0] - split0[0]) / seconds,
        "predict_cores": (split1[1] - split0[1]) / seconds,
    }
    result["errors"] = result["socket_errors"] + result["non_2xx"]
    # CPU that neither the server nor wrk used: other people's work on this shared machine
    result["others_cores"] = max(0.0, result["machine_busy"] * result["ncpu"] - result["server_cores"] - result["wrk_cores"])
    if batches0 is not None and (batches1 := batch_metrics(server)) is not None:
        calls = batches1[1] - batches0[1]
        # the /metrics reads and the warm-up are outside the window: only the measured requests count here
        result["rows_per_call"] = (batches1[0] - batches0[0]) / calls if calls else 0.0
        result["calls_per_s"] = calls / seconds
    raw_log.write(f"### {server.name} — {connections} connections, {body.name}\n{text}\n")
    return result


# --- set-up ---------------------------------------------------------------------------------

def versions(python: Path, modules: list[str]) -> dict[str, str]:
    code = ("import importlib.metadata as m, json, sys; out = {'python': sys.version.split()[0]}\n"
            "for name in sys.argv[1:]:\n"
            "    try: out[name] = m.version(name)\n"
            "    except m.PackageNotFoundError: out[name] = '-'\n"
            "print(json.dumps(out))")
    result = subprocess.run([str(python), "-c", code, *modules], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def build_servers(args, work: Path, mlflow_venv: Path, mlflow_uvloop_venv: Path, flask_venv: Path) -> list[Server]:
    workers = str(args.workers)
    artefact = work / "artefact"
    ours_flags = shlex.split(args.ours_flags)
    servers = [Server("ours", "ours", [str(PROJECT_BIN / "mlops"), "serve", "--artefact", str(artefact),
                                       "--port", "{port}", "--workers", workers, *ours_flags],
                      "/predict", "ours", "/readyz")]
    for variant in args.variant:
        flags = shlex.split(variant)
        servers.append(Server(f"ours {variant}", "ours",
                              [str(PROJECT_BIN / "mlops"), "serve", "--artefact", str(artefact), "--port", "{port}",
                               "--workers", workers, *flags],
                              "/predict", "ours", "/readyz"))
    servers += [
        Server("MLflow", "mlflow",
               [str(mlflow_venv / "bin" / "mlflow"), "models", "serve", "-m", str(work / "mlflow-model"),
                "-h", "127.0.0.1", "-p", "{port}", "--workers", workers, "--env-manager", "local"],
               "/invocations", "mlflow", "/ping",
               # as with the venv activated: MLflow starts `uvicorn` from PATH. No usage telemetry from a
               # benchmark (and no network here anyway).
               env={"PATH": f"{mlflow_venv / 'bin'}:{os.environ['PATH']}",
                    "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}),
        Server("MLflow +uvloop", "mlflow",
               [str(mlflow_uvloop_venv / "bin" / "mlflow"), "models", "serve", "-m", str(work / "mlflow-model"),
                "-h", "127.0.0.1", "-p", "{port}", "--workers", workers, "--env-manager", "local"],
               "/invocations", "mlflow", "/ping",
               env={"PATH": f"{mlflow_uvloop_venv / 'bin'}:{os.environ['PATH']}",
                    "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}),
        Server("Flask+gunicorn", "flask",
               [str(flask_venv / "bin" / "gunicorn"), "-w", workers, "-b", "127.0.0.1:{port}",
                "--log-level", "warning", "flask_app:app"],
               "/predict", "ours", None, env={"BENCH_MODEL": str(artefact / "model.joblib")}, cwd=HERE),
        Server("raw ASGI floor", "floor",
               [str(PROJECT_BIN / "uvicorn"), "floor_app:app", "--app-dir", str(HERE), "--host", "127.0.0.1",
                "--port", "{port}", "--workers", workers, "--loop", "uvloop", "--http", "httptools",
                "--no-access-log", "--log-level", "warning"],
               "/predict", "ours", None),
    ]
    return servers


def sanity_check(servers: list[Server], work: Path) -> None:
    expected = json.loads((work / "expected-100.json").read_text())
    for server in servers:
        for rows in (100, 1):
            body = (work / "bodies" / f"{server.body_prefix}-{rows}.json").read_bytes()
            status, answer = post(server.url, body)
            if status != 200:
                raise SystemExit(f"sanity check: {server.name} answered HTTP {status} to the {rows}-row body: {answer[:500]!r}")
            if server.kind == "floor":
                continue
            predictions = json.loads(answer)["predictions"]
            if predictions != expected[:rows]:
                raise SystemExit(f"sanity check: {server.name} predicts {predictions[:10]}... for the {rows}-row body, "
                                 f"the model itself {expected[:10]}...")
        print(f"  {server.name}: same {len(expected)} predictions as the model" if server.kind != "floor"
              else f"  {server.name}: HTTP 200 (constant body)")


# --- report ---------------------------------------------------------------------------------

def fmt_ratio(value: float | None) -> str:
    if value is None:  # that baseline was not measured (--baselines)
        return "–"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def table(results: dict, servers: list[Server], rounds: int) -> str:
    lines = ["| scenario | server | round | req/s | p50 ms | p99 ms | errors | × MLflow | × MLflow +uvloop | × floor | server CPU (cores) | others' CPU |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for scenario, _, _ in SCENARIOS:
        for server in servers:
            for r in range(1, rounds + 1):
                res = results[(r, scenario, server.name)]
                ratios = [res["rps"] / results[(r, scenario, base)]["rps"] if (r, scenario, base) in results else None
                          for base in ("MLflow", "MLflow +uvloop", "raw ASGI floor")]
                errors = f"{res['socket_errors']} + {res['non_2xx']}" if res["errors"] else "0"
                cpu = f"{res['server_cores']:.2f}"
                if "rows_per_call" in res:
                    cpu += f" (loop {res['loop_cores']:.2f} / predict {res['predict_cores']:.2f}; {res['rows_per_call']:.1f} rows/call)"
                lines.append(f"| {scenario} | {server.name} | {r} | {res['rps']:,.0f} | {res['p50_ms']:.1f} | {res['p99_ms']:.1f} | "
                             f"{errors} | " + " | ".join(map(fmt_ratio, ratios)) + f" | {cpu} | {res['others_cores']:.2f} |")
    return "\n".join(lines)


def targets(results: dict, servers: list[Server], rounds: int) -> tuple[str, dict[str, bool]]:
    """The issue's targets for every `mlops serve` configuration; the verdicts cover plain `ours`."""
    lines = ["| target | " + " | ".join(f"round {r}" for r in range(1, rounds + 1)) + " |",
             "|---|" + "---|" * rounds]
    names = {s.name for s in servers}
    verdicts = {base: True for base in ("MLflow", "MLflow +uvloop") if base in names}
    ours = [s.name for s in servers if s.kind == "ours"]

    def row(label, check, name, bases):
        cells = []
        for r in range(1, rounds + 1):
            ok, text = check(r)
            if name == "ours":
                for base in bases:
                    verdicts[base] &= ok
            cells.append(f"{'met' if ok else '**missed**'} ({text})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    for name in ours:
        tag = "" if name == "ours" else f" [{name}]"
        for base in list(verdicts):

            def c32(r, name=name, base=base):
                o, m = results[(r, "1 row, c=32", name)], results[(r, "1 row, c=32", base)]
                x = o["rps"] / m["rps"]
                return x >= 10 and o["p99_ms"] < 50 and o["errors"] == 0, f"{x:.1f}×, p99 {o['p99_ms']:.1f} ms"

            def c8(r, name=name, base=base):
                x = results[(r, "100 rows, c=8", name)]["rps"] / results[(r, "100 rows, c=8", base)]["rps"]
                return x >= 4, f"{x:.1f}×"

            row(f"1 row c=32: ≥ 10× {base} req/s, p99 < 50 ms{tag}", c32, name, [base])
            row(f"100 rows c=8: ≥ 4× {base} req/s{tag}", c8, name, [base])

        def flask(r, name=name):
            xs = [results[(r, s, name)]["rps"] / results[(r, s, "Flask+gunicorn")]["rps"] for s, _, _ in SCENARIOS]
            return min(xs) >= 1, "min " + f"{min(xs):.2f}×"

        if "Flask+gunicorn" in names:
            row(f"≥ Flask req/s in every scenario{tag}", flask, name, list(verdicts))
    return "\n".join(lines), verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="measured seconds per scenario and server")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds before each measurement")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="worker processes of every server")
    parser.add_argument("--timeout", type=int, default=5, help="wrk: a response slower than this is an error")
    parser.add_argument("--ours-flags", default="", help="extra `mlops serve` flags for 'ours' (default: none, as shipped)")
    parser.add_argument("--variant", action="append", default=None, metavar="FLAGS",
                        help="also measure `mlops serve` with these flags (repeatable; default: "
                             f"{' and '.join(repr(v) for v in DEFAULT_VARIANTS)}, the best setting found; --variant '' for none)")
    parser.add_argument("--baselines", default="MLflow,MLflow +uvloop,Flask+gunicorn,raw ASGI floor",
                        help="comma-separated baselines to run (default: all four; fewer for quick tuning scans)")
    parser.add_argument("--quiet-wait", type=float, default=10,
                        help="before each measurement, wait up to this many seconds for the shared machine to be idle (0: don't)")
    parser.add_argument("--output", type=Path, default=HERE / "results-latest.md")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (model, bodies, logs, raw wrk output)")
    args = parser.parse_args()
    args.variant = [v for v in (DEFAULT_VARIANTS if args.variant is None else args.variant) if v.strip()]

    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    started = dt.datetime.now().astimezone()
    work = Path(tempfile.mkdtemp(prefix="mlops-bench-serving-"))
    atexit.register(stop_all)
    if not args.keep:
        atexit.register(shutil.rmtree, work, True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    print("== baseline venvs")
    mlflow_venv, mlflow_uvloop_venv, flask_venv = venvs.ensure("mlflow"), venvs.ensure("mlflow-uvloop"), venvs.ensure("flask")
    print(f"  {mlflow_venv}\n  {mlflow_uvloop_venv}\n  {flask_venv}")

    print("== model")
    subprocess.run([sys.executable, str(HERE / "make_model.py"), str(work)], check=True, cwd=REPO)
    subprocess.run([str(mlflow_venv / "bin" / "python"), str(HERE / "save_mlflow_model.py"), str(work / "artefact"),
                    str(work / "mlflow-model")], check=True, env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"})

    stack = ["scikit-learn", "pandas", "numpy", "scipy", "joblib"]
    found = {
        "ours (.venv)": versions(PROJECT_BIN / "python", ["mlops-helpers", *stack, "uvicorn", "httptools", "uvloop", "orjson"]),
        "MLflow venv": versions(mlflow_venv / "bin" / "python", ["mlflow", *stack, "uvicorn", "fastapi", "starlette", "httptools", "uvloop"]),
        "MLflow +uvloop venv": versions(mlflow_uvloop_venv / "bin" / "python", ["mlflow", "scikit-learn", "uvicorn", "httptools", "uvloop"]),
        "Flask venv": versions(flask_venv / "bin" / "python", ["flask", "gunicorn", "werkzeug", *stack]),
    }
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0].split(" Copyright")[0]
    sklearn = {env: v["scikit-learn"] for env, v in found.items()}
    if len(set(sklearn.values())) != 1:
        raise SystemExit(f"scikit-learn differs between the venvs ({sklearn}): update requirements-baselines.txt")
    version_lines = [f"- {env}: " + ", ".join(f"{k} {v}" for k, v in v.items()) for env, v in found.items()]
    version_lines.append(f"- load generator: {wrk_version}, 1 thread, Lua body script (post.lua)")
    print("== versions\n" + "\n".join(version_lines))

    servers = build_servers(args, work, mlflow_venv, mlflow_uvloop_venv, flask_venv)
    wanted = set(args.baselines.split(","))
    unknown = wanted - {s.name for s in servers}
    if unknown:
        raise SystemExit(f"--baselines: unknown {sorted(unknown)}")
    servers = [s for s in servers if s.kind == "ours" or s.name in wanted]
    print("== starting servers")
    for server in servers:
        start(server, work)
    for server in servers:
        wait_ready(server)
        print(f"  {server.name}: {' '.join(server.process.args) if isinstance(server.process.args, list) else server.process.args}")
    print("== sanity check (100-row and 1-row bodies)")
    sanity_check(servers, work)

    results: dict = {}
    raw_log = open(work / "wrk-output.md", "w")
    per = len(SCENARIOS) * len(servers) * args.rounds * (args.duration + args.warmup)
    print(f"== measuring: {args.rounds} rounds × {len(SCENARIOS)} scenarios × {len(servers)} servers, "
          f"{args.warmup:g} s warm-up + {args.duration:g} s each (about {per / 60:.0f} min)")
    for r in range(1, args.rounds + 1):
        order = servers if r % 2 else list(reversed(servers))
        for scenario, rows, connections in SCENARIOS:
            for server in order:
                body = work / "bodies" / f"{server.body_prefix}-{rows}.json"
                res = measure(server, body, connections, args, raw_log)
                results[(r, scenario, server.name)] = res
                extra = f", {res['rows_per_call']:.1f} rows/call" if "rows_per_call" in res else ""
                print(f"  round {r} | {scenario:14} | {server.name:22} | {res['rps']:9,.0f} req/s | p50 {res['p50_ms']:7.1f} ms | "
                      f"p99 {res['p99_ms']:7.1f} ms | errors {res['errors']} | server CPU {res['server_cores']:.2f}, "
                      f"wrk {res['wrk_cores']:.2f}, others {res['others_cores']:.2f}{extra}", flush=True)
    raw_log.close()
    for server in servers:
        if server.process.poll() is not None:
            raise SystemExit(f"{server.name} died during the run; log: {server.log}")
    stop_all()

    target_table, verdicts = targets(results, servers, args.rounds)
    detailed = table(results, servers, args.rounds)
    report = "\n".join([
        "# Model serving benchmark — latest run",
        "",
        f"{started:%Y-%m-%d %H:%M %Z}, {os.cpu_count()} cores ({platform.processor() or platform.machine()}, "
        f"{_cpu_model()}), Linux {platform.release()}; shared machine, expect noise: compare within a round.",
        "`benchmarks/serving/run.sh" + "".join(f" {a}" for a in map(shlex.quote, sys.argv[1:])) + "`: "
        f"{args.workers} workers per server, wrk -t1 with {args.warmup:g} s warm-up + {args.duration:g} s per scenario, "
        f"{args.rounds} round(s), interleaved (order reversed in even rounds). Model: "
        "Pipeline(StandardScaler, GradientBoostingClassifier(random_state=0)) on breast_cancer (30 features).",
        "Other processes' CPU during the measurements (this machine is shared): " + "; ".join(
            f"round {r} mean {sum(v['others_cores'] for k, v in results.items() if k[0] == r) / max(1, sum(1 for k in results if k[0] == r)):.2f} cores, "
            f"max {max(v['others_cores'] for k, v in results.items() if k[0] == r):.2f}" for r in range(1, args.rounds + 1)) + ".",
        "",
        f"## Summary (rounds side by side: {' / '.join(f'round {r}' for r in range(1, args.rounds + 1))})",
        "",
        compact(detailed),
        "",
        "## All measurements",
        "",
        detailed,
        "",
        "errors = socket errors (connect, read, write, timeout) + non-2xx responses. × MLflow, × MLflow +uvloop and × floor: "
        "this row's req/s over that server's in the same round and scenario. "
        "Server CPU: CPU-seconds per second of the server's whole process tree (2 cores = 2.00); for ours split into the "
        "workers' event-loop threads and predict threads, with the mean rows per model call from its /metrics. Others' CPU: "
        "what other processes on the shared machine used meanwhile (0 = a clean measurement).",
        "",
        "## Targets (issue)",
        "",
        target_table,
        "",
        "## Versions",
        "",
        *version_lines,
        "",
    ])
    args.output.write_text(report)
    print()
    print(report)
    print(f"written to {args.output}")
    if args.keep:
        print(f"work folder kept: {work}")
    for base, met in verdicts.items():
        print(f"`mlops serve` as shipped vs {base}: " + ("all targets met in every round" if met else "SOME TARGETS MISSED (see the table)"))


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "?"


if __name__ == "__main__":
    main()
