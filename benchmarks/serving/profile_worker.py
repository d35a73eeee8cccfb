"""cProfile one `mlops serve` worker under wrk load: where does a request's CPU go?

Runs the model server's ASGI app in this process exactly as one `mlops serve` worker does
(uvicorn, uvloop, httptools, the same app factory and MLOPS_SERVE_* settings), drives it
with wrk over loopback, and profiles both of the worker's busy threads separately:
the event-loop thread (HTTP, JSON parsing, input checks, building the frame, batching,
metrics) and the predict thread (the model call). mlops_helpers is not modified: the
predict thread's profiler is switched on by wrapping ServedModel.predict in this process.

  .venv/bin/python benchmarks/serving/profile_worker.py ARTEFACT_DIR BODY.json \\
      [--connections 32] [--seconds 10] [--max-wait-ms 2] [--max-batch-rows 256]

(run.sh --keep leaves an artefact and bodies in its work folder.) cProfile slows Python
code about 2×, so read shares of time, not req/s.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import socket
import subprocess
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent

AREAS = [  # first match wins: (label, substring of the code's file path)
    ("mlops_helpers.serving (our app)", "mlops_helpers/serving"),
    ("pandas", "/pandas/"),
    ("scikit-learn", "/sklearn/"),
    ("numpy", "/numpy/"),
    ("prometheus_client (metrics)", "/prometheus_client/"),
    ("uvicorn + httptools", "/uvicorn/"),
    ("asyncio / concurrent.futures", "/asyncio/"),
    ("asyncio / concurrent.futures", "/concurrent/"),
    ("threading / queue", "/threading.py"),
    ("threading / queue", "/queue.py"),
]


# the predict thread's wait for the next batch (ThreadPoolExecutor's work queue)
IDLE = {"<method 'get' of '_queue.SimpleQueue' objects>"}


def area_of(filename: str, function: str) -> str:
    for label, part in AREAS:
        if part in filename:
            return label
    if filename == "~":  # C functions: attribute by name
        if "numpy" in function or "ufunc" in function:
            return "numpy"
        if "orjson" in function:
            return "orjson"
        return "builtins / C calls"
    return "other Python"


def summary(profile: cProfile.Profile, title: str, top: int) -> str:
    stats = pstats.Stats(profile)
    areas: dict[str, float] = defaultdict(float)
    idle = 0.0
    for (filename, _, function), row in stats.stats.items():
        if function in IDLE:
            idle += row[2]  # a thread waiting for work is not a cost
        else:
            areas[area_of(filename, function)] += row[2]
    total = sum(areas.values())
    out = io.StringIO()
    out.write(f"\n=== {title}: {total:.2f} s busy (+ {idle:.2f} s idle waiting for work), under cProfile\n")
    for label, seconds in sorted(areas.items(), key=lambda item: -item[1]):
        out.write(f"  {seconds / total * 100:5.1f}%  {label}\n")
    out.write("\n")
    stats.stream = out
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artefact", type=Path)
    parser.add_argument("body", type=Path)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--max-wait-ms", type=float, default=2.0)
    parser.add_argument("--max-batch-rows", type=int, default=256)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()

    # What mlops_helpers.serving.server.serve sets up before starting a worker.
    from mlops_helpers.serving.settings import ServerSettings

    settings = ServerSettings(args.artefact.resolve(), max_wait_ms=args.max_wait_ms, max_batch_rows=args.max_batch_rows)
    os.environ.update(settings.to_env())
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="mlops-metrics-")
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")

    import uvicorn
    import uvloop

    from mlops_helpers.serving import model as served

    main_thread = threading.get_ident()
    loop_profile, predict_profile = cProfile.Profile(), cProfile.Profile()
    measuring = threading.Event()
    predict_thread: list[int] = []
    original = served.ServedModel.predict

    def predict(self, frame):
        # Profile the predict thread from the measured window on (not the start-up warm-up in the main thread).
        if measuring.is_set() and not predict_thread and threading.get_ident() != main_thread:
            predict_thread.append(threading.get_ident())
            predict_profile.enable()
        return original(self, frame)

    served.ServedModel.predict = predict

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config("mlops_helpers.serving.app:create_app", factory=True, host="127.0.0.1", port=port,
                            loop="none", http="httptools", lifespan="on", access_log=False, log_level="warning")
    server = uvicorn.Server(config)

    def wrk(seconds: int, latency: bool) -> str:
        argv = ["wrk", "-t1", f"-c{args.connections}", f"-d{seconds}s", "-s", str(HERE / "post.lua")]
        argv += ["--latency"] if latency else []
        result = subprocess.run([*argv, f"http://127.0.0.1:{port}/predict"], env={**os.environ, "BENCH_BODY": str(args.body)},
                                capture_output=True, text=True, check=True)
        return result.stdout

    async def run() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        await asyncio.to_thread(wrk, args.warmup, False)
        measuring.set()
        cpu0 = time.thread_time()
        loop_profile.enable()  # this coroutine runs in the loop's (main) thread
        report = await asyncio.to_thread(wrk, args.seconds, True)
        loop_profile.disable()
        loop_cpu = time.thread_time() - cpu0
        server.should_exit = True
        await task
        print(report.split("BENCH_JSON")[0])
        print(f"event-loop thread CPU during the measurement: {loop_cpu:.2f} s of {args.seconds} s (under cProfile)")

    uvloop.run(run())
    print(summary(loop_profile, "event-loop thread (HTTP, parsing, checks, frame, batching, metrics)", args.top))
    if predict_thread:
        print(summary(predict_profile, "predict thread (model calls)", args.top))


if __name__ == "__main__":
    main()
