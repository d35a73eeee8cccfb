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
    return {
        "openapi": "3.1.0",
        "info": {"title": f"{model.name} model server", "version": model.version},
        "paths": {
            "/predict": {
                "post": {
                    "summary": "Predict for one row or a batch",
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
                                           "request_id": {"type": "string"}}}}}},
                        **{code: {"description": text, **error} for code, text in (
                            ("400", "Malformed JSON"), ("405", "Wrong method"), ("413", "Body or batch too large"),
                            ("415", "Not JSON"), ("422", "Does not match the feature schema"),
                            ("503", "Model not ready"))},
                    },
                }
            },
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


def docs_page(spec: bytes) -> bytes:
    """A self-contained page (no external assets: servers often have no internet)."""
    body = html.escape(spec.decode())
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Model server API</title></head>"
        "<body><h1>Model server API</h1><p>OpenAPI document (also at <a href='/openapi.json'>/openapi.json</a>):</p>"
        f"<pre>{body}</pre></body></html>"
    ).encode()
