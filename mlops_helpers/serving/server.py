"""Starts the model server: uvicorn (httptools + uvloop) with N worker processes."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from mlops_helpers.checksums import verify_sums
from mlops_helpers.errors import MlopsError
from mlops_helpers.serving.settings import ServerSettings


def preflight(settings: ServerSettings) -> None:
    """Fail here, with the reason and exit code 2, on what would stop every worker from starting.

    Needed because with --workers > 1 uvicorn's supervisor stops after a worker fails to
    start but returns normally: `mlops serve` would exit 0 without ever serving.
    """
    artefact = settings.artefact_dir
    if not (artefact / "metadata.json").is_file():
        raise MlopsError(f"{artefact}: not a model artefact (no metadata.json)")
    verify_sums(artefact)  # the same check as the workers' load_served_model, before unpickling
    if settings.prediction_log:
        # A log that cannot be written at all is a configuration error: fail at startup rather
        # than serve with every record dropped (write errors at run time are dropped and counted).
        folder = settings.prediction_log.parent
        if folder.exists() and not folder.is_dir():
            raise MlopsError(f"--prediction-log {settings.prediction_log}: {folder} is a file, not a folder")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MlopsError(f"--prediction-log {settings.prediction_log}: cannot create folder {folder}: {exc}") from None
        if not os.access(folder, os.W_OK | os.X_OK):
            raise MlopsError(f"--prediction-log {settings.prediction_log}: folder {folder} is not writable")


def serve(settings: ServerSettings, host: str = "127.0.0.1", port: int = 8080, workers: int = 1) -> None:
    import uvicorn

    preflight(settings)
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
