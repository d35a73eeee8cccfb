"""The model server as a plain ASGI application (no framework: it is the hot path).

  POST /predict    {"records": [...]} or {"columns": {...}} -> {"predictions": [...], ...}
  POST /feedback   {"request_id": ..., "labels": [...]} -> rows scored, correct / abs_error_sum
  GET  /healthz    alive            GET /readyz   model loaded and warmed
  GET  /metadata   name, version, feature schema, metrics, data version
  GET  /metrics    Prometheus       GET /openapi.json, /docs

Every response carries `x-model-version` and `x-request-id`. Bad input is a 4xx with a
message naming the problem; an unexpected error is a 500 that is logged, and the server
keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from urllib.parse import parse_qs

import orjson
import pandas as pd

from mlops_helpers.serving import metrics
from mlops_helpers.serving.batching import MicroBatcher
from mlops_helpers.serving.feedback import FeedbackStore, parse_feedback, score
from mlops_helpers.serving.inputs import InputError, parse_body
from mlops_helpers.serving.model import ServedModel, load_served_model
from mlops_helpers.serving.openapi import docs_page, openapi_spec
from mlops_helpers.serving.predlog import PredictionLog
from mlops_helpers.serving.settings import ServerSettings

log = logging.getLogger("mlops.serve")


class ModelServer:
    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.model: ServedModel | None = None
        self.batcher: MicroBatcher | None = None
        self.prediction_log: PredictionLog | None = None
        self.feedback = FeedbackStore(settings.feedback_capacity)
        self.ready = False
        self._classification = False
        self._version = settings.version or "unknown"
        self._header_version = self._version.encode()
        self._spec: bytes = b"{}"

    # --- ASGI -------------------------------------------------------------------------

    async def __call__(self, scope: dict, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self._start()
                except Exception as exc:  # startup failures must stop the process with the reason
                    log.exception("model server failed to start")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _start(self) -> None:
        settings = self.settings
        self.model = load_served_model(settings.artefact_dir, settings.version)
        self._version = self.model.version
        self._header_version = self._version.encode()
        self._spec = orjson.dumps(openapi_spec(self.model))
        classification = self._classification = self.model.metadata.get("task") == "classification"
        metrics.start_feedback(self._version, classification)
        self.batcher = MicroBatcher(
            self.model.predict,
            self.model.feature_names,
            max_batch_rows=settings.max_batch_rows,
            max_wait_ms=settings.max_wait_ms,
            on_batch=lambda rows, predictions: metrics.record_batch(self._version, classification, rows, predictions),
        )
        self.batcher.start()
        if settings.prediction_log:
            self.prediction_log = PredictionLog(settings.prediction_log, sample_rate=settings.log_sample_rate)
        # Warm up (first predict call pays for lazy imports and allocations) before /readyz says yes.
        sample = self.model.sample_frame(settings.artefact_dir)
        if sample is not None and len(sample):
            self.model.predict(sample)
        self.ready = True

    async def _stop(self) -> None:
        self.ready = False
        if self.batcher:
            await self.batcher.stop()
        if self.prediction_log:
            self.prediction_log.close()

    async def _http(self, scope: dict, receive, send) -> None:
        started = time.perf_counter()
        request_id = _header(scope, b"x-request-id") or os.urandom(8).hex()
        path, method = scope["path"], scope["method"]
        endpoint = path if path in _ENDPOINTS else "other"
        try:
            status, body, content_type = await self._route(path, method, scope, receive, request_id)
        except InputError as exc:
            status, body, content_type = exc.status, _error(exc.message, request_id), _JSON
        except Exception:  # never let one request take the server down
            log.exception("request %s failed", request_id)
            status, body, content_type = 500, _error("internal error (logged by the server)", request_id), _JSON
        await send({
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"x-model-version", self._header_version),
                (b"x-request-id", request_id.encode()),
            ],
        })
        await send({"type": "http.response.body", "body": body})
        metrics.REQUESTS.labels(endpoint, str(status), self._version).inc()
        metrics.LATENCY.labels(endpoint, self._version).observe(time.perf_counter() - started)

    async def _route(self, path: str, method: str, scope: dict, receive, request_id: str) -> tuple[int, bytes, bytes]:
        if path == "/predict":
            _allow(method, "POST")
            return 200, await self._predict(scope, receive, request_id), _JSON
        if path == "/feedback":
            _allow(method, "POST")
            return 200, await self._feedback(scope, receive), _JSON
        if path not in _ENDPOINTS:
            raise InputError(404, f"no endpoint {path}; see /openapi.json")
        _allow(method, "GET")
        if path == "/healthz":
            return 200, b'{"status":"alive"}', _JSON
        if path == "/readyz":
            if not self.ready:
                raise InputError(503, "model not loaded yet")
            return 200, b'{"status":"ready"}', _JSON
        if path == "/metadata":
            return 200, orjson.dumps(self.model.describe()), _JSON
        if path == "/metrics":
            return 200, metrics.exposition(), b"text/plain; version=0.0.4; charset=utf-8"
        if path == "/openapi.json":
            return 200, self._spec, _JSON
        return 200, docs_page(self._spec), b"text/html; charset=utf-8"

    async def _json_body(self, scope: dict, receive) -> bytes:
        """The body of a POST to a ready server, if it is JSON by its content type and within the size limit."""
        if not self.ready:
            raise InputError(503, "model not loaded yet")
        content_type = _header(scope, b"content-type")
        if content_type and not content_type.lower().startswith("application/json"):  # media types ignore case
            raise InputError(415, f"content-type must be application/json, got {content_type}")
        return await _read_body(receive, self.settings.max_body_bytes)

    async def _predict(self, scope: dict, receive, request_id: str) -> bytes:
        probabilities = _wants_probabilities(scope)
        if probabilities and not self._has_probabilities():
            raise InputError(422, "probabilities=true: this model gives no class probabilities "
                                  f"({self.model.metadata.get('task')}, {self.model.metadata.get('estimator')})")
        body = await self._json_body(scope, receive)
        columns, rows = parse_body(body, self.model.features, self.settings.max_request_rows)
        metrics.REQUEST_ROWS.observe(rows)
        try:
            result = await self.batcher.predict(columns, rows)
        except ValueError as exc:
            # Rows that match the schema but that the model refuses (scikit-learn raises ValueError
            # for input it cannot use), e.g. 1e300: tree models cast to float32, which overflows.
            raise InputError(422, f"the model cannot predict for these values: {exc}") from None
        self.feedback.remember(request_id, result)
        predictions = result.tolist()
        if self.prediction_log:
            self.prediction_log.log({
                "time": time.time(), "request_id": request_id, "model_version": self._version,
                "inputs": {name: values.tolist() for name, values in columns.items()}, "predictions": predictions,
            })
        answer: dict[str, object] = {"predictions": predictions, "model_version": self._version, "request_id": request_id}
        if probabilities:
            answer["probabilities"] = await self._probabilities(columns)
        return orjson.dumps(answer)

    def _has_probabilities(self) -> bool:
        return self._classification and hasattr(self.model.estimator, "predict_proba")

    async def _probabilities(self, columns: dict) -> list[dict[str, float]]:
        """`?probabilities=true`: each row's class probabilities, keyed by the label as trained."""
        estimator = self.model.estimator
        frame = pd.DataFrame(columns, columns=self.model.feature_names)
        table = await asyncio.get_running_loop().run_in_executor(None, estimator.predict_proba, frame)
        labels = [str(label) for label in estimator.classes_]
        return [dict(zip(labels, row)) for row in table.round(6).tolist()]

    async def _feedback(self, scope: dict, receive) -> bytes:
        feedback = parse_feedback(await self._json_body(scope, receive))
        # No await from here on: the lookup, the scoring and marking the request as scored happen
        # as one step on the event loop, so concurrent feedback for one id cannot count twice.
        predictions = self.feedback.lookup(feedback.request_id)
        result = score(predictions.tolist(), feedback.labels, self._classification)
        self.feedback.mark_scored(feedback.request_id)
        metrics.record_feedback(self._version, result)
        if self.prediction_log:
            # Same log as the predictions, joined offline by request id.
            outcome = {key: value for key, value in result.items() if key != "rows"}
            self.prediction_log.log({"time": time.time(), "type": "feedback", "request_id": feedback.request_id,
                                     "model_version": self._version, "labels": feedback.labels, **outcome})
        return orjson.dumps({"request_id": feedback.request_id, "model_version": self._version, **result})


_JSON = b"application/json"
_ENDPOINTS = frozenset({"/predict", "/feedback", "/healthz", "/readyz", "/metadata", "/metrics", "/openapi.json", "/docs"})


def _wants_probabilities(scope: dict) -> bool:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    value = (query.get("probabilities") or ["false"])[-1].lower()
    if value not in ("true", "1", "false", "0"):
        raise InputError(422, f"probabilities={value!r}: use true or false")
    return value in ("true", "1")


def _allow(method: str, expected: str) -> None:
    if method != expected:
        raise InputError(405, f"method {method} not allowed here; use {expected}")


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


async def _read_body(receive, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise InputError(400, "client disconnected before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise InputError(413, f"body over the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _error(message: str, request_id: str) -> bytes:
    return orjson.dumps({"error": message, "request_id": request_id})


def create_app() -> ModelServer:
    """Factory for uvicorn's worker processes."""
    return ModelServer(ServerSettings.from_env())
