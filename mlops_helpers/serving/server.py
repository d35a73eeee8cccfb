"""Starts the model server: uvicorn (httptools + uvloop) with N worker processes."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from mlops_helpers.serving.settings import ServerSettings


def serve(settings: ServerSettings, host: str = "127.0.0.1", port: int = 8080, workers: int = 1) -> None:
    import uvicorn

    os.environ.update(settings.to_env())
    # Worker processes share metrics through files; a fresh folder per server start. Set
    # before the app (and prometheus_client) is imported, in this process or the workers.
    metrics_dir = Path(tempfile.mkdtemp(prefix="mlops-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    # One BLAS thread per worker: the workers already use the cores, oversubscription only hurts.
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    try:
        uvicorn.run(
            "mlops_helpers.serving.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            access_log=False,
            log_level="warning",
            timeout_graceful_shutdown=10,
        )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
