"""`mlops serve`: one model version over HTTP, from the registry or an artefact folder."""

from __future__ import annotations

from pathlib import Path

import click

from mlops_helpers.cli.options import command_options, project_registry, split_ref
from mlops_helpers.console import Reporter
from mlops_helpers.errors import MlopsError


@click.command()
@click.option("--model", "model_ref", default=None, metavar="[NAME]@VERSION|@STAGE",
              help="Registered model to serve, e.g. @production or churn@3 (uses the registry of mlops.yaml).")
@click.option("--artefact", default=None, metavar="DIR", help="Serve a model artefact folder instead (no mlops.yaml needed).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 in a container).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Server processes.")
@click.option("--max-batch-rows", default=256, show_default=True, type=click.IntRange(1),
              help="Most rows predicted in one model call (micro-batching).")
@click.option("--max-wait-ms", default=2.0, show_default=True, type=click.FloatRange(0, 1000),
              help="Under load, how long a batch may wait for more rows.")
@click.option("--max-body-bytes", default=4 * 1024 * 1024, show_default=True, type=click.IntRange(1),
              help="Largest request body accepted; a bigger one is answered 413.")
@click.option("--prediction-log", default=None, metavar="FILE",
              help="JSON-lines log of inputs and predictions for monitoring (one file per worker, rotated).")
@click.option("--log-sample-rate", default=1.0, show_default=True, type=click.FloatRange(0, 1),
              help="Share of requests written to the prediction log.")
@command_options
def serve(model_ref: str | None, artefact: str | None, host: str, port: int, workers: int, max_batch_rows: int,
          max_wait_ms: float, max_body_bytes: int, prediction_log: str | None, log_sample_rate: float,
          config_path: str, reporter: Reporter) -> None:
    """Serve one model version over HTTP: /predict, /healthz, /readyz, /metadata, /metrics."""
    from mlops_helpers.serving.server import serve as run_server
    from mlops_helpers.serving.settings import ServerSettings

    if bool(model_ref) == bool(artefact):
        raise MlopsError("give exactly one of --model NAME@REF or --artefact DIR")
    label: str | None
    if artefact:
        folder, label = Path(artefact).resolve(), None
    else:
        store, default_model = project_registry(config_path, reporter)
        version = store.verify(*split_ref(model_ref, default_model))
        folder, label = version.path, str(version.version)
    settings = ServerSettings(folder, label, max_body_bytes=max_body_bytes, max_batch_rows=max_batch_rows,
                              max_wait_ms=max_wait_ms, prediction_log=Path(prediction_log).resolve() if prediction_log else None,
                              log_sample_rate=log_sample_rate)
    click.echo(f"serving {folder} on http://{host}:{port} with {workers} worker(s)", err=True)
    run_server(settings, host=host, port=port, workers=workers)
