"""The embedded default: each version's model servers are local processes behind one router.

Servers and the router are started detached (their own session), so they keep serving
when the `mlops` process that started them exits or is killed; their pids, ports and log
files live in the rollout state. The router (mlops_helpers.router, its own process) owns traffic:
weights, header/cookie matches, shadow copies, readiness and draining.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlops_helpers.atomic_files import write_json_atomic
from mlops_helpers.ports import free_port
from mlops_helpers.rollout.analysis import Snapshot
from mlops_helpers.rollout.backends.base import BackendError, PreviewAnswer
from mlops_helpers.rollout.backends.local.metrics import parse_snapshot
from mlops_helpers.rollout.spec import LocalTarget
from mlops_helpers.rollout.state import Deployment, Routing, Server
from mlops_helpers.rollout.steps.preview_route import PREVIEW_HEADER

ROUTER_START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0  # the model server's graceful shutdown allows 10 s


class LocalBackend:
    name = "local"
    routing_restores_stable = False

    def __init__(self, target: LocalTarget, folder: Path, project_root: Path) -> None:
        self.target = target
        self.folder = folder
        self.project_root = project_root
        self.admin_url = f"http://{target.host}:{target.router_admin_port}"
        self.replicas = target.replicas
        self.ready_timeout = target.ready_timeout

    @property
    def url(self) -> str:
        return f"http://{self.target.host}:{self.target.port}"

    # --- router ---------------------------------------------------------------------------

    def router_running(self) -> bool:
        """True when this environment's router answers, False when none does; BackendError when another
        one holds the admin port. Asked by prepare, and by preflight.py before `mlops run` trains."""
        if not self._router_answers():
            return False
        if not self._own_router_runs():
            raise BackendError(f"{self.admin_url} answers, but it is not this environment's router (another "
                               f"project's?); choose other ports with deploy.local.port / deploy.local.admin_port")
        return True

    def prepare(self) -> None:
        if self.router_running():
            return
        log = self.folder / "logs" / "router.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "mlops_helpers.router", "--host", self.target.host,
                   "--port", str(self.target.port), "--admin-port", str(self.target.router_admin_port),
                   "--routes-file", str(self.folder / "routes.json"), "--mirror-log", str(self.folder / "mirror.jsonl")]
        process = _spawn(command, log, cwd=self.project_root)
        (self.folder / "router.pid").write_text(str(process.pid))
        deadline = time.monotonic() + ROUTER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self._router_answers():
                return
            if process.poll() is not None:
                raise BackendError(f"the router exited with code {process.returncode} "
                                   f"(port {self.target.port} or {self.target.router_admin_port} in use?):\n{_tail(log)}")
            time.sleep(0.1)
        raise BackendError(f"the router did not answer on {self.admin_url} within {ROUTER_START_TIMEOUT:.0f}s:\n{_tail(log)}")

    def _own_router_runs(self) -> bool:
        pid_file = self.folder / "router.pid"
        return pid_file.exists() and _create_time(int(pid_file.read_text())) is not None

    def _router_answers(self) -> bool:
        try:
            return _request("GET", f"{self.admin_url}/healthz", timeout=1.0)[0] == 200
        except OSError:
            return False

    def router_state(self) -> dict[str, Any]:
        status, body = _request("GET", f"{self.admin_url}/routes")
        if status != 200:
            raise BackendError(f"router {self.admin_url}/routes answered {status}: {body[:300]!r}")
        return json.loads(body)

    def apply_routing(self, routing: Routing, stable: Deployment | None, candidate: Deployment | None,
                      warm: Deployment | None) -> None:
        deployments = [d for d in (stable, candidate, warm) if d is not None and d.servers]
        table = {
            "versions": {d.version: {"upstreams": [s.url for s in d.servers]} for d in deployments},
            "weights": {version: weight for version, weight in routing.weights.items()
                        if any(d.version == version for d in deployments)},
            "match": routing.match,
            "sticky_cookie": routing.sticky_cookie,
            "mirror": routing.mirror,
        }
        try:
            status, body = _request("PUT", f"{self.admin_url}/routes", json.dumps(table).encode())
        except OSError as exc:
            raise BackendError(f"cannot reach the router at {self.admin_url} to change routes: {exc}") from None
        if status != 200:
            raise BackendError(f"the router refused the routes (HTTP {status}): {body.decode(errors='replace')[:500]}")
        self._write_scrape_targets(deployments)

    def _write_scrape_targets(self, deployments: list[Deployment]) -> None:
        """prometheus-targets.json (file_sd format): point Prometheus' file_sd_configs at it."""
        environment = self.folder.name
        groups = [{"targets": [self.admin_url.removeprefix("http://")], "labels": {"job": "mlops-router", "env": environment}}]
        servers = [s.url.removeprefix("http://") for d in deployments for s in d.servers]
        if servers:
            groups.append({"targets": servers, "labels": {"job": "mlops-model-server", "env": environment}})
        write_json_atomic(self.folder / "prometheus-targets.json", groups, indent=1)

    # --- model servers --------------------------------------------------------------------

    def start_server(self, version: str, artefact: str, index: int) -> Server:
        port = free_port()
        log = self.folder / "logs" / f"v{version}-{index}-{port}.log"
        prediction_log = self.folder / "predictions" / f"v{version}" / "predictions.jsonl"
        command = [sys.executable, "-m", "mlops_helpers", "serve", "--artefact", artefact, "--host", self.target.host,
                   "--port", str(port), "--workers", "1", "--prediction-log", str(prediction_log)]
        process = _spawn(command, log, cwd=self.project_root)
        return Server(url=f"http://{self.target.host}:{port}", pid=process.pid, started=_create_time(process.pid),
                      log=str(log))

    def wait_ready(self, servers: list[Server], timeout: float, cancelled: Callable[[], bool]) -> None:
        deadline = time.monotonic() + timeout
        pending = list(servers)
        while pending:
            if cancelled():
                return
            for server in list(pending):
                if self.server_ready(server):
                    pending.remove(server)
                elif not self.server_alive(server):
                    raise BackendError(f"model server {server.url} (pid {server.pid}) exited before it was ready:\n"
                                       f"{_tail(Path(server.log)) if server.log else ''}")
            if pending and time.monotonic() > deadline:
                raise BackendError(f"model server {pending[0].url} not ready within {timeout:.0f}s:\n"
                                   f"{_tail(Path(pending[0].log)) if pending[0].log else ''}")
            time.sleep(0.1)

    def server_ready(self, server: Server) -> bool:
        try:
            return _request("GET", f"{server.url}/readyz", timeout=1.0)[0] == 200
        except OSError:
            return False

    def server_alive(self, server: Server) -> bool:
        return server.pid is not None and _create_time(server.pid) == server.started

    def retire(self, servers: list[Server], drain_timeout: float = 30.0) -> None:
        urls = {server.url for server in servers}
        deadline = time.monotonic() + drain_timeout
        while time.monotonic() < deadline and self._inflight(urls):
            time.sleep(0.05)
        for server in servers:
            if server.pid is not None and self.server_alive(server):
                os.kill(server.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for server in servers:
            while self.server_alive(server) and time.monotonic() < deadline:
                time.sleep(0.05)
            if server.pid is not None and self.server_alive(server):
                os.killpg(server.pid, signal.SIGKILL)

    def _inflight(self, urls: set[str]) -> int:
        try:
            state = self.router_state()
        except (OSError, BackendError):
            return 0  # no router: nothing can be in flight through it
        busy = sum(entry.get("inflight", 0) for entry in state.get("draining", []) if entry.get("url") in urls)
        for version in state.get("versions", {}).values():
            busy += sum(up.get("inflight", 0) for up in version.get("upstreams", []) if up.get("url") in urls)
        return busy

    # --- metrics --------------------------------------------------------------------------

    def preview_predict(self, payload: dict[str, Any]) -> PreviewAnswer:
        """Through the router with the preview header; the router says which version served (x-served-by)."""
        request = urllib.request.Request(f"{self.url}/predict", data=json.dumps(payload).encode(), method="POST",
                                         headers={"content-type": "application/json", PREVIEW_HEADER: "1"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return PreviewAnswer(response.status, response.headers.get("x-served-by"), response.read().decode())
        except urllib.error.HTTPError as exc:
            return PreviewAnswer(exc.code, exc.headers.get("x-served-by"), exc.read().decode(errors="replace"))
        except OSError as exc:
            return PreviewAnswer(0, None, str(exc))

    def snapshot(self, deployments: list[Deployment]) -> Snapshot:
        at = time.time()
        try:
            status, router_text = _request("GET", f"{self.admin_url}/metrics", timeout=5.0)
        except OSError as exc:
            raise BackendError(f"cannot read the router's metrics at {self.admin_url}/metrics: {exc}") from None
        if status != 200:
            raise BackendError(f"router metrics answered HTTP {status}")
        servers: dict[str, list[str]] = {}
        for deployment in deployments:
            texts = servers.setdefault(deployment.version, [])
            for server in deployment.servers:
                try:
                    code, text = _request("GET", f"{server.url}/metrics", timeout=5.0)
                except OSError:
                    continue  # a server that went away has no feedback counters to add
                if code == 200:
                    texts.append(text.decode())
        return parse_snapshot(router_text.decode(), servers, at)

    # --- everything -----------------------------------------------------------------------

    def teardown(self, deployments: list[Deployment]) -> None:
        self.retire([server for deployment in deployments for server in deployment.servers], drain_timeout=5.0)
        pid_file = self.folder / "router.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text())
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + STOP_TIMEOUT
            while time.monotonic() < deadline and self._router_answers():
                time.sleep(0.05)
            pid_file.unlink()
        (self.folder / "routes.json").unlink(missing_ok=True)


def _spawn(command: list[str], log: Path, cwd: Path) -> subprocess.Popen:
    """A detached process (own session) whose output goes to `log`; it outlives this process."""
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(cwd), os.environ.get("PYTHONPATH")]))}
    with open(log, "ab") as handle:
        return subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=cwd, env=env, start_new_session=True)


def _create_time(pid: int) -> float | None:
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            process.wait(0)  # our own child that exited: reap it so it stops counting as alive
            return None
        return process.create_time()
    except (psutil.Error, ChildProcessError):
        return None


def _request(method: str, url: str, body: bytes | None = None, timeout: float = 10.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"
