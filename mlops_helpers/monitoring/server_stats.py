"""How the serving processes of a version are doing: latency, error rate, CPU and memory.

Latency and errors come from each running model server's own `/metrics`; CPU and memory from
its process tree (the server and its workers, through psutil: in multiprocess mode the servers'
metrics carry no process figures). For the version a check looks at in a local deployment; the
figures are since each process started (the rollout analysis measures per interval instead).
"""

from __future__ import annotations

import time
import urllib.request
from typing import Any

from mlops_helpers.rollout.analysis import histogram_quantile


def serving_metrics(config, environment: str, version: int) -> dict[str, Any]:
    """Latency p50/p99 (ms), error rate, CPU % (of one core) and memory (MB) summed over the
    version's running servers; {"servers": 0} when none runs here (e.g. on Kubernetes)."""
    from mlops_helpers.rollout.backends.local.state import FileStateStore

    if config.deploy.target != "local":
        return {"servers": 0, "note": "serving metrics come from Prometheus on Kubernetes"}
    state = FileStateStore(config.resolve(config.deploy.local.state_dir) / environment).load()
    deployments = [d for d in (state.stable, state.candidate) if d is not None] if state else []
    servers = [server for d in deployments if d.version == str(version) for server in d.servers]
    totals = {"requests": 0.0, "errors": 0.0, "cpu_seconds": 0.0, "uptime": 0.0, "memory": 0.0}
    buckets: dict[float, float] = {}
    reached = 0
    for server in servers:
        text = _metrics_text(server.url)
        if text is None:
            continue
        reached += 1
        _add(text, str(version), totals, buckets)
        _add_process(server.pid, totals)
    if not reached:
        return {"servers": 0}
    p50, p99 = histogram_quantile(0.5, buckets), histogram_quantile(0.99, buckets)
    return {"servers": reached,
            "latency_p50_ms": None if p50 is None else p50 * 1000.0,
            "latency_p99_ms": None if p99 is None else p99 * 1000.0,
            "error_rate": totals["errors"] / totals["requests"] if totals["requests"] else None,
            "cpu_percent": 100.0 * totals["cpu_seconds"] / totals["uptime"] if totals["uptime"] else None,
            "memory_mb": totals["memory"] / 2**20}


def _metrics_text(url: str) -> str | None:
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=5.0) as response:
            return response.read().decode()
    except OSError:
        return None  # a server that went away counts as not reached


def _add(text: str, version: str, totals: dict[str, float], buckets: dict[float, float]) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "mlops_requests_total" and labels.get("endpoint") == "/predict" \
                    and labels.get("model_version") == version:
                totals["requests"] += sample.value
                totals["errors"] += sample.value if labels.get("status", "").startswith("5") else 0.0
            elif sample.name == "mlops_request_duration_seconds_bucket" and labels.get("endpoint") == "/predict" \
                    and labels.get("model_version") == version:
                bound = float(labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value


def _add_process(pid: int | None, totals: dict[str, float]) -> None:
    import psutil

    if pid is None:
        return
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return
    now = time.time()
    for process in processes:
        try:
            with process.oneshot():
                cpu = process.cpu_times()
                totals["cpu_seconds"] += cpu.user + cpu.system
                totals["uptime"] = max(totals["uptime"], now - process.create_time())
                totals["memory"] += process.memory_info().rss
        except psutil.Error:
            continue  # a worker that just exited
