"""Infra validation (after TFX's InfraValidator): start the real server for a model, wait
until it is ready, send it the hold-out rows, and require the in-process predictions.

The server under test is either the packaged image (a container) or, where no Docker
engine is available, `mlops serve` as a local process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Protocol

from mlops_helpers.console import Reporter


class ServerUnderTest(Protocol):
    def exited(self) -> bool: ...
    def logs(self) -> str: ...
    def stop(self) -> None: ...


class ContainerServer:
    def __init__(self, client, image: str, port: int) -> None:
        self._container = client.containers.run(image, command=["--workers", "1", "--port", str(port)],
                                                network_mode="host", detach=True)

    def exited(self) -> bool:
        self._container.reload()
        return self._container.status == "exited"

    def logs(self) -> str:
        return self._container.logs(tail=40).decode(errors="replace")

    def stop(self) -> None:
        self._container.remove(force=True)


class ProcessServer:
    def __init__(self, artefact_dir: Path, port: int, log_file: Path) -> None:
        self._log_file = log_file
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(log_file, "wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "mlops_helpers", "serve", "--artefact", str(artefact_dir), "--port", str(port)],
                stdout=log, stderr=subprocess.STDOUT,
            )

    def exited(self) -> bool:
        return self._process.poll() is not None

    def logs(self) -> str:
        return "\n".join(self._log_file.read_text(errors="replace").splitlines()[-40:])

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()


def validate(server: ServerUnderTest, port: int, artefact_dir: Path, reporter: Reporter, timeout: float = 120.0) -> dict[str, Any]:
    """The verdict: passed, rows, mismatches, and the reason when it did not pass. Stops the server."""
    import joblib
    import numpy as np
    import pandas as pd

    from mlops_helpers.checksums import verify_sums

    verify_sums(artefact_dir)
    metadata = json.loads((artefact_dir / "metadata.json").read_text())
    features = pd.read_csv(artefact_dir / "holdout.csv")[[f["name"] for f in metadata["features"]]]
    expected = joblib.load(artefact_dir / "model.joblib").predict(features)
    try:
        problem = _wait_ready(server, port, timeout)
        if problem:
            return {"passed": False, "rows": len(expected), "mismatches": None, "reason": problem}
        body = json.dumps({"records": json.loads(features.to_json(orient="records"))}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/predict", data=body,
                                         headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            answered = np.asarray(json.loads(response.read())["predictions"])
        logs = server.logs()
    finally:
        server.stop()
    if answered.shape != expected.shape:
        mismatches = len(expected)
    elif metadata.get("task") == "classification":
        mismatches = int((answered != expected).sum())
    else:
        mismatches = int((~np.isclose(answered, expected, rtol=1e-9, atol=0)).sum())
    reporter.note(f"infra validation: {len(expected)} hold-out rows, {mismatches} different predictions")
    reason = f"{mismatches} of {len(expected)} predictions differ from in-process ones\n{logs}" if mismatches else None
    return {"passed": mismatches == 0, "rows": len(expected), "mismatches": mismatches, "reason": reason}


def _wait_ready(server: ServerUnderTest, port: int, timeout: float) -> str | None:
    """None once /readyz answers 200; otherwise why not, with the server's last log lines."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.exited():
            return f"the server exited before it was ready:\n{server.logs()}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                if response.status == 200:
                    return None
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.3)
    return f"the server was not ready after {timeout:.0f}s:\n{server.logs()}"
