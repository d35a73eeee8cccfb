"""The OpenAPI 3 description of the server, built from the model's own feature schema."""

from __future__ import annotations

import html
from typing import Any

from mlops_helpers.serving.model import ServedModel


def _feature_schema(feature) -> dict[str, Any]:
    kind = "boolean" if feature.boolean else "number" if feature.numeric else "string"
    return {"type": [kind, "null"]} if feature.nullable else {"type": kind}


def openapi_spec(model: ServedModel) -> dict[str, Any]:
    row = {
        "type": "object",
        "properties": {f.name: _feature_schema(f) for f in model.features},
        "required": model.feature_names,
        "additionalProperties": False,
    }
    columns = {
        "type": "object",
        "properties": {f.name: {"type": "array", "items": _feature_schema(f), "minItems": 1} for f in model.features},
        "required": model.feature_names,
        "additionalProperties": False,
    }
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    json_ok = {"200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}}
    classification = model.metadata.get("task") == "classification"
    return {
        "openapi": "3.1.0",
        "info": {"title": f"{model.name} model server", "version": model.version},
        "paths": {
            "/predict": {
                "post": {
                    "summary": "Predict for one row or a batch",
                    "parameters": [{"name": "probabilities", "in": "query", "required": False,
                                    "schema": {"type": "boolean", "default": False},
                                    "description": "also answer each row's class probabilities, keyed by label "
                                                   "(classifiers with predict_proba)"}],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": [
                        {"type": "object", "properties": {"records": {"type": "array", "items": row, "minItems": 1}},
                         "required": ["records"], "additionalProperties": False},
                        {"type": "object", "properties": {"columns": columns}, "required": ["columns"],
                         "additionalProperties": False},
                    ]}}}},
                    "responses": {
                        "200": {"description": "Predictions, in row order", "content": {"application/json": {"schema": {
                            "type": "object", "required": ["predictions", "model_version", "request_id"],
                            "properties": {"predictions": {"type": "array"}, "model_version": {"type": "string"},
                                           "request_id": {"type": "string"},
                                           "probabilities": {"type": "array", "items": {
                                               "type": "object", "additionalProperties": {"type": "number"}}}}}}}},
                        **{code: {"description": text, **error} for code, text in (
                            ("400", "Malformed JSON"), ("405", "Wrong method"), ("413", "Body or batch too large"),
                            ("415", "Not JSON"), ("422", "Does not match the feature schema"),
                            ("503", "Model not ready"))},
                    },
                }
            },
            "/feedback": {"post": _feedback_operation(classification, error)},
            "/healthz": {"get": {"summary": "The process is alive", "responses": json_ok}},
            "/readyz": {"get": {"summary": "The model is loaded and warmed", "responses": {
                **json_ok, "503": {"description": "Not ready", **error}}}},
            "/metadata": {"get": {"summary": "Model name, version, features, metrics, lineage", "responses": json_ok}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "OK"}}}},
        },
        "components": {"schemas": {"Error": {
            "type": "object", "required": ["error", "request_id"],
            "properties": {"error": {"type": "string"}, "request_id": {"type": "string"}}}}},
    }


def _feedback_operation(classification: bool, error: dict[str, Any]) -> dict[str, Any]:
    label = {"type": ["number", "string", "boolean"]} if classification else {"type": "number"}
    request_id = {"type": "string", "minLength": 1, "description": "request_id of an earlier /predict response"}
    outcome = ({"correct": {"type": "integer", "description": "rows whose predicted class equals the label"}}
               if classification else {"abs_error_sum": {"type": "number", "description": "sum of |label - prediction|"}})
    return {
        "summary": "Send the true labels of an earlier prediction (live accuracy / error per model version)",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": [
            {"type": "object", "properties": {"request_id": request_id,
                                              "labels": {"type": "array", "items": label,
                                                         "description": "one label per predicted row, in order"}},
             "required": ["request_id", "labels"], "additionalProperties": False},
            {"type": "object", "properties": {"request_id": request_id, "label": label},
             "required": ["request_id", "label"], "additionalProperties": False},
        ]}}}},
        "responses": {
            "200": {"description": "The labels were scored", "content": {"application/json": {"schema": {
                "type": "object", "required": ["request_id", "model_version", "rows", *outcome],
                "properties": {"request_id": {"type": "string"}, "model_version": {"type": "string"},
                               "rows": {"type": "integer"}, **outcome}}}}},
            **{code: {"description": text, **error} for code, text in (
                ("400", "Malformed JSON"), ("404", "Unknown or evicted request id"), ("405", "Wrong method"),
                ("409", "Feedback for this request was already given"), ("413", "Body too large"),
                ("415", "Not JSON"), ("422", "Wrong number of labels, or a label of the wrong type"),
                ("503", "Model not ready"))},
        },
    }


def docs_page(spec: bytes) -> bytes:
    """A self-contained page (no external assets: servers often have no internet)."""
    body = html.escape(spec.decode())
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Model server API</title></head>"
        "<body><h1>Model server API</h1><p>OpenAPI document (also at <a href='/openapi.json'>/openapi.json</a>):</p>"
        f"<pre>{body}</pre></body></html>"
    ).encode()
