"""The model server end to end: the real `mlops serve` process on a loopback port, real HTTP.

Predictions over HTTP must be exactly the model's in-process predictions; every response
carries the model version and a request id; every kind of bad request is a 4xx naming the
problem, never a 500, and leaves the server healthy; /metadata, /openapi.json, /docs and
/metrics tell the truth; concurrent requests are micro-batched without cross-talk; a
corrupt artefact is never served.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cli_support import MLOPS
from serving_support import (
    ENDPOINTS,
    MAX_REQUEST_ROWS,
    Artefact,
    Response,
    Server,
    check_error,
    free_port,
    metric,
    per_worker_metric,
    running_server,
    serve_expecting_refusal,
    wait_for,
    worker_pids,
)

BODY_LIMIT = 6_000_000  # --max-body-bytes: room for MAX_REQUEST_ROWS rows in the columns shape
JSON = {"content-type": "application/json"}
REQUEST_ID = re.compile(r"[0-9a-f]{16}")


@pytest.fixture(scope="module")
def clf_server(classification: Artefact) -> Server:
    with running_server("--artefact", str(classification.dir), "--max-body-bytes", str(BODY_LIMIT),
                        cwd=classification.project.root, workers=2) as server:
        yield server


@pytest.fixture(scope="module")
def reg_server(regression: Artefact) -> Server:
    with running_server("--artefact", str(regression.dir), cwd=regression.project.root, workers=1) as server:
        yield server


def served(request: pytest.FixtureRequest, task: str) -> tuple[Artefact, Server]:
    if task == "classification":
        return request.getfixturevalue("classification"), request.getfixturevalue("clf_server")
    return request.getfixturevalue("regression"), request.getfixturevalue("reg_server")


def predictions(response: Response, version: str = "dev") -> list:
    assert response.status == 200, response
    body = response.json()
    assert set(body) == {"predictions", "model_version", "request_id"}
    assert body["model_version"] == response.headers["x-model-version"] == version
    assert body["request_id"] == response.headers["x-request-id"]
    return body["predictions"]


def assert_healthy(server: Server, artefact: Artefact) -> None:
    assert server.get("/healthz").status == 200
    assert server.get("/readyz").status == 200
    assert predictions(server.predict({"records": artefact.records(0, 3)})) == artefact.expected[:3]


# --- predictions ------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_http_predictions_equal_in_process_predictions(request: pytest.FixtureRequest, task: str) -> None:
    artefact, server = served(request, task)
    expected, rows = artefact.expected, len(artefact.expected)
    assert rows == artefact.metadata["rows"]["holdout"] > 50
    if artefact.classification:
        assert set(expected) <= set(artefact.metadata["classes"]) and all(type(p) is int for p in expected)
    else:
        assert all(type(p) is float for p in expected) and len(set(expected)) > rows // 2

    # One row per request, for a few rows.
    for index in (0, 1, rows // 2, rows - 1):
        assert predictions(server.predict({"records": artefact.records(index, index + 1)})) == [expected[index]]
        assert predictions(server.predict({"columns": artefact.columns(index, index + 1)})) == [expected[index]]
    # The whole hold-out set in one request, in both shapes. Floats compare exactly: the JSON
    # text round-trips float64 both ways (repr/orjson), the model sees the same float64 values
    # and its arithmetic (scaler, then trees summed in a fixed order) does not depend on the
    # process or on how many rows are predicted together.
    assert predictions(server.predict({"records": artefact.records()})) == expected
    assert predictions(server.predict({"columns": artefact.columns()})) == expected
    # A slice in the middle, rows in another order.
    shuffled = artefact.records(10, 40)[::-1]
    assert predictions(server.predict({"records": shuffled})) == expected[10:40][::-1]


def test_probabilities_by_label_on_request(clf_server: Server, classification: Artefact) -> None:
    rows = classification.records(0, 5)
    response = clf_server.request("POST", "/predict?probabilities=true", json.dumps({"records": rows}),
                                  {"content-type": "application/json"})
    assert response.status == 200, response
    body = response.json()
    assert body["predictions"] == classification.expected[:5]
    frame = classification.holdout.iloc[0:5]
    expected = classification.model.predict_proba(frame).round(6).tolist()
    labels = [str(label) for label in classification.model.classes_]
    assert body["probabilities"] == [dict(zip(labels, row)) for row in expected]
    for row, predicted in zip(body["probabilities"], body["predictions"]):
        assert max(row, key=row.get) == str(predicted)  # the predicted class is the most probable one
    bad = clf_server.request("POST", "/predict?probabilities=maybe", json.dumps({"records": rows}),
                             {"content-type": "application/json"})
    check_error(bad, 422, "probabilities='maybe'")


def test_a_regression_model_refuses_probabilities(reg_server: Server, regression: Artefact) -> None:
    response = reg_server.request("POST", "/predict?probabilities=true", json.dumps({"records": regression.records(0, 1)}),
                                  {"content-type": "application/json"})
    check_error(response, 422, "no class probabilities")
    assert predictions(reg_server.predict({"records": regression.records(0, 1)})) == regression.expected[:1]


def test_batch_at_the_row_limit_is_served(clf_server: Server, classification: Artefact) -> None:
    repeats = -(-MAX_REQUEST_ROWS // len(classification.expected))
    columns = {name: (values * repeats)[:MAX_REQUEST_ROWS] for name, values in classification.columns().items()}
    body = json.dumps({"columns": columns})
    assert len(body) <= BODY_LIMIT
    response = clf_server.request("POST", "/predict", body, JSON)
    assert predictions(response) == (classification.expected * repeats)[:MAX_REQUEST_ROWS]


# --- identity: model version and request id ---------------------------------------------


def test_every_response_carries_model_version_and_request_id(clf_server: Server, classification: Artefact) -> None:
    valid = json.dumps({"records": classification.records(0, 2)})
    requests = [
        ("GET", "/healthz", None, {}, 200), ("GET", "/readyz", None, {}, 200), ("GET", "/metadata", None, {}, 200),
        ("GET", "/metrics", None, {}, 200), ("GET", "/openapi.json", None, {}, 200), ("GET", "/docs", None, {}, 200),
        ("POST", "/predict", valid, JSON, 200), ("POST", "/predict", valid, {}, 200),  # no content-type is fine
        ("POST", "/predict", "{", JSON, 400), ("POST", "/predict", "[]", JSON, 422),
        ("POST", "/predict", valid, {"content-type": "text/csv"}, 415), ("GET", "/predict", None, {}, 405),
        ("GET", "/nowhere", None, {}, 404), ("POST", "/predict", b" " * (BODY_LIMIT + 1), JSON, 413),
    ]
    seen = set()
    for method, path, body, headers, status in requests:
        response = clf_server.request(method, path, body, headers)
        assert response.status == status, (method, path, response)
        assert response.headers["x-model-version"] == "dev"
        request_id = response.headers["x-request-id"]
        assert REQUEST_ID.fullmatch(request_id), request_id
        seen.add(request_id)
        if status == 200 and path == "/predict":
            predictions(response)
        elif status != 200:
            check_error(response, status)
    assert len(seen) == len(requests), "request ids must be unique"

    # A request id sent by the client is echoed, on success and on error.
    for body, status in ((valid, 200), ("{", 400), (json.dumps({"records": []}), 422)):
        response = clf_server.request("POST", "/predict", body, {**JSON, "x-request-id": "trace-42/abc"})
        assert response.status == status, response
        assert response.headers["x-request-id"] == "trace-42/abc"
        assert response.json()["request_id"] == "trace-42/abc"
    response = clf_server.get("/healthz", headers={"x-request-id": "probe-7"})
    assert response.headers["x-request-id"] == "probe-7"


def test_registered_model_served_by_stage(classification: Artefact) -> None:
    project = classification.project
    registered = project.mlops("register", "--output", "json").json()
    assert registered["ok"] and str(registered["version"]) == "1", registered
    with running_server("--model", "@staging", cwd=project.root) as server:
        response = server.predict({"records": classification.records(0, 5)})
        assert predictions(response, version="1") == classification.expected[:5]
        error = server.predict({"records": []})
        check_error(error, 422, "empty batch")
        assert error.headers["x-model-version"] == "1"
        metadata = server.get("/metadata")
        assert metadata.headers["x-model-version"] == "1" and metadata.json()["version"] == "1"
        assert server.get("/openapi.json").json()["info"]["version"] == "1"


# --- bad requests -----------------------------------------------------------------------


@dataclass
class Bad:
    status: int
    fragments: tuple[str, ...]
    body: bytes | str | None = None
    method: str = "POST"
    path: str = "/predict"
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))
    chunked: bool = False


SENTINEL = 424242.25  # replaced in the JSON text by numbers json.dumps cannot write


def _row(a: Artefact, **changes: Any) -> dict[str, Any]:
    row = a.records(0, 1)[0]
    row.update(changes)
    return row


def _with(a: Artefact, value: Any, row: int = 0) -> dict[str, Any]:
    """Three valid rows, one value of the first feature replaced."""
    rows = a.records(0, 3)
    rows[row][a.features[0]] = value
    return {"records": rows}


def _without(mapping: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k != name}


def _over_limit(a: Artefact) -> str:
    """A valid request, but larger than --max-body-bytes."""
    body = json.dumps({"records": a.records() * (BODY_LIMIT // len(json.dumps(a.records())) + 1)})
    assert BODY_LIMIT < len(body) < 2 * BODY_LIMIT
    return body


def _text(payload: Any, replacement: str) -> str:
    return json.dumps(payload).replace(repr(SENTINEL), replacement)


BAD_REQUESTS: dict[str, Callable[[Artefact], Bad]] = {
    # the feature schema
    "missing feature (records)": lambda a: Bad(422, ("row 1: missing feature(s):", repr(a.features[3])), json.dumps(
        {"records": [_row(a), _without(_row(a), a.features[3])]})),
    "missing feature (columns)": lambda a: Bad(422, ("missing feature(s):", repr(a.features[0])), json.dumps(
        {"columns": _without(a.columns(0, 2), a.features[0])})),
    "extra feature (records)": lambda a: Bad(422, ("row 0: unknown feature(s): 'colour'",), json.dumps(
        {"records": [_row(a, colour=1.0)]})),
    "extra feature (columns)": lambda a: Bad(422, ("unknown feature(s): 'colour'",), json.dumps(
        {"columns": {**a.columns(0, 2), "colour": [1, 2]}})),
    "string for a number": lambda a: Bad(422, (f"feature {a.features[0]!r}: row 1: expected a number, got \"14.2\"",),
                                         json.dumps(_with(a, "14.2", row=1))),
    "word for a number": lambda a: Bad(422, ("expected a number, got \"abc\"",), json.dumps(_with(a, "abc"))),
    "string nan for a number": lambda a: Bad(422, ("expected a number, got \"nan\"",), json.dumps(_with(a, "nan"))),
    "boolean for a number": lambda a: Bad(422, (f"feature {a.features[0]!r}: row 0: expected a number, got true",),
                                          json.dumps(_with(a, True))),
    "list for a number": lambda a: Bad(422, ("expected a number, got [14.2]",), json.dumps(_with(a, [14.2]))),
    "list for a number (one row)": lambda a: Bad(422, ("expected a number, got [14.2]",), json.dumps(  # was a 2-D column
        {"records": [_row(a, **{a.features[0]: [14.2]})]})),
    "lists for a number (columns)": lambda a: Bad(422, ("expected a number, got [1]",), json.dumps(
        {"columns": {**a.columns(0, 2), a.features[0]: [[1], [2]]}})),
    "object for a number": lambda a: Bad(422, ("expected a number, got {\"v\":1}",), json.dumps(_with(a, {"v": 1}))),
    "null where not allowed (records)": lambda a: Bad(
        422, (f"feature {a.features[0]!r}: null at row 2, and this feature may not be null",), json.dumps(_with(a, None, row=2))),
    "null where not allowed (columns)": lambda a: Bad(422, (f"feature {a.features[1]!r}: null at row 1",), json.dumps(
        {"columns": {**a.columns(0, 3), a.features[1]: [1.0, None, 2.0]}})),
    "number too large (1e400)": lambda a: Bad(400, ("not valid JSON", "infinity"), _text(_with(a, SENTINEL), "1e400")),
    "number too small (-1e400)": lambda a: Bad(400, ("not valid JSON", "infinity"), _text(_with(a, SENTINEL), "-1e400")),
    "integer too large (400 digits)": lambda a: Bad(400, ("infinity",), _text(_with(a, SENTINEL), "9" * 400)),
    "NaN literal": lambda a: Bad(400, ("not valid JSON",), _text(_with(a, SENTINEL), "NaN")),
    "finite but too large for the model": lambda a: Bad(
        422, ("the model cannot predict for these values", "too large"), json.dumps(_with(a, 1e300))),
    # the body's shape
    "malformed JSON": lambda a: Bad(400, ("body is not valid JSON",), '{"records": [{"a": 1,}]}'),
    "truncated JSON": lambda a: Bad(400, ("body is not valid JSON",), json.dumps({"records": a.records(0, 2)})[:-7]),
    "not UTF-8": lambda a: Bad(400, ("body is not valid JSON", "UTF-8"), b'{"records": [{"\xff\xfe": 1}]}'),
    "empty body": lambda a: Bad(400, ("body is not valid JSON",), b""),
    "body is a JSON list": lambda a: Bad(422, ('exactly one key: "records"',), json.dumps(a.records(0, 2))),
    "body is a JSON number": lambda a: Bad(422, ('exactly one key: "records"',), "42"),
    "body is null": lambda a: Bad(422, ('exactly one key: "records"',), "null"),
    "both records and columns": lambda a: Bad(422, ('exactly one key: "records" (a list of rows) or "columns"',),
                                              json.dumps({"records": a.records(0, 1), "columns": a.columns(0, 1)})),
    "neither records nor columns": lambda a: Bad(422, ('exactly one key',), json.dumps({})),
    "another key": lambda a: Bad(422, ('exactly one key',), json.dumps({"rows": a.records(0, 1)})),
    "an extra key": lambda a: Bad(422, ('exactly one key',), json.dumps({"records": a.records(0, 1), "model": "x"})),
    "records not a list": lambda a: Bad(422, ('"records" must be a list of objects',), json.dumps({"records": _row(a)})),
    "record not an object": lambda a: Bad(422, ("row 1: must be an object of feature values, got list",), json.dumps(
        {"records": [_row(a), list(_row(a).values())]})),
    "columns not an object": lambda a: Bad(422, ('"columns" must be an object',), json.dumps({"columns": [[1.0]]})),
    "column not a list": lambda a: Bad(422, (f"feature {a.features[2]!r}: must be a list of values",), json.dumps(
        {"columns": {**a.columns(0, 1), a.features[2]: 1.0}})),
    "columns of unequal length": lambda a: Bad(422, ("all feature columns must have the same length",), json.dumps(
        {"columns": {**a.columns(0, 3), a.features[4]: a.columns(0, 2)[a.features[4]]}})),
    "empty batch (records)": lambda a: Bad(422, ("empty batch",), json.dumps({"records": []})),
    "empty batch (columns)": lambda a: Bad(422, ("empty batch",), json.dumps({"columns": {n: [] for n in a.features}})),
    # sizes
    "body over --max-body-bytes": lambda a: Bad(413, (f"body over the limit of {BODY_LIMIT} bytes",), _over_limit(a)),
    "body over --max-body-bytes (chunked)": lambda a: Bad(413, (f"body over the limit of {BODY_LIMIT} bytes",),
                                                          _over_limit(a), chunked=True),
    "batch over the row limit": lambda a: Bad(
        413, (f"batch of {MAX_REQUEST_ROWS + 1} rows is over the limit of {MAX_REQUEST_ROWS}",),
        json.dumps({"columns": {n: [1] * (MAX_REQUEST_ROWS + 1) for n in a.features}}, separators=(",", ":"))),
    # HTTP
    "wrong content-type": lambda a: Bad(415, ("content-type must be application/json, got text/plain",),
                                        json.dumps({"records": a.records(0, 1)}), headers={"content-type": "text/plain"}),
    "form content-type": lambda a: Bad(415, ("got application/x-www-form-urlencoded",), "a=1",
                                       headers={"content-type": "application/x-www-form-urlencoded"}),
    "GET /predict": lambda a: Bad(405, ("method GET not allowed here; use POST",), method="GET"),
    "PUT /predict": lambda a: Bad(405, ("method PUT not allowed here; use POST",), json.dumps({"records": a.records(0, 1)}),
                                  method="PUT"),
    "POST /healthz": lambda a: Bad(405, ("method POST not allowed here; use GET",), "{}", path="/healthz"),
    "DELETE /metadata": lambda a: Bad(405, ("method DELETE not allowed here; use GET",), method="DELETE", path="/metadata"),
    "unknown path": lambda a: Bad(404, ("no endpoint /predictions",), "{}", path="/predictions"),
    "unknown path, GET": lambda a: Bad(404, ("no endpoint /", "see /openapi.json"), method="GET", path="/"),
    "trailing slash": lambda a: Bad(404, ("no endpoint /predict/",), json.dumps({"records": a.records(0, 1)}),
                                    path="/predict/"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_request_is_a_4xx_naming_the_problem(case: str, clf_server: Server, classification: Artefact) -> None:
    bad = BAD_REQUESTS[case](classification)
    response = clf_server.request(bad.method, bad.path, bad.body, bad.headers, chunked=bad.chunked)
    check_error(response, bad.status, *bad.fragments)
    assert response.headers["x-model-version"] == "dev"
    assert_healthy(clf_server, classification)


def test_media_type_is_case_insensitive(clf_server: Server, classification: Artefact) -> None:
    for content_type in ("application/json; charset=utf-8", "Application/JSON"):
        response = clf_server.request("POST", "/predict", json.dumps({"records": classification.records(0, 2)}),
                                      {"content-type": content_type})
        assert predictions(response) == classification.expected[:2]


def test_one_bad_request_does_not_fail_the_requests_batched_with_it(clf_server: Server, classification: Artefact) -> None:
    """Values the model refuses (1e300 overflows float32 in the trees) sent among valid ones,
    concurrently: only the bad requests fail, with a 422, and the batcher survives."""
    name = classification.features[0]
    bodies = []
    for index in range(48):
        row = classification.records(index, index + 1)[0]
        if index % 4 == 0:
            row[name] = 1e300
        bodies.append(json.dumps({"records": [row]}))
    with ThreadPoolExecutor(24) as pool:
        responses = list(pool.map(lambda body: clf_server.request("POST", "/predict", body, JSON), bodies))
    for index, response in enumerate(responses):
        if index % 4 == 0:
            check_error(response, 422, "the model cannot predict for these values")
        else:
            assert predictions(response) == [classification.expected[index]]
    assert_healthy(clf_server, classification)


# --- metadata, OpenAPI, docs ------------------------------------------------------------


def test_metadata_describes_the_served_model(clf_server: Server, classification: Artefact) -> None:
    response = clf_server.get("/metadata")
    assert response.status == 200 and response.headers["content-type"] == "application/json"
    body, metadata = response.json(), classification.metadata
    assert body["name"] == metadata["model_name"] == classification.project.root.name
    assert body["version"] == "dev"
    assert body["task"] == "classification" and body["estimator"] == metadata["estimator"]
    assert body["features"] == metadata["features"]
    assert [f["name"] for f in body["features"]] == classification.features
    assert all(f["dtype"] == "float64" and f["nullable"] is False for f in body["features"])
    assert body["target"] == metadata["target"] and body["classes"] == metadata["classes"]
    assert body["metrics"] == metadata["metrics"] and 0.8 < body["metrics"]["accuracy"] <= 1
    assert re.fullmatch(r"[0-9a-f]{32}", body["data_version"])
    assert body["data_version"] == metadata["data"]["md5"]
    assert body["git_commit"] == metadata["git"]["commit"] == classification.project.git("rev-parse", "HEAD")
    assert body["versions"]["sklearn"] == metadata["versions"]["sklearn"]


def test_openapi_document_lists_predict_and_the_features(clf_server: Server, classification: Artefact) -> None:
    response = clf_server.get("/openapi.json")
    assert response.status == 200 and response.headers["content-type"] == "application/json"
    spec = response.json()
    assert spec["openapi"].startswith("3.1")
    assert spec["info"]["version"] == "dev" and classification.metadata["model_name"] in spec["info"]["title"]
    assert {"/predict", "/healthz", "/readyz", "/metadata", "/metrics"} <= set(spec["paths"])
    predict = spec["paths"]["/predict"]["post"]
    records_shape, columns_shape = predict["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    row = records_shape["properties"]["records"]["items"]
    assert list(row["properties"]) == classification.features and row["required"] == classification.features
    assert row["properties"][classification.features[0]] == {"type": "number"}
    assert row["additionalProperties"] is False
    columns = columns_shape["properties"]["columns"]
    assert list(columns["properties"]) == classification.features
    assert {"200", "400", "413", "415", "422"} <= set(predict["responses"])
    # Every $ref resolves.
    for reference in re.findall(r'"\$ref":\s*"#/([^"]+)"', response.body.decode()):
        node = spec
        for part in reference.split("/"):
            node = node[part]


def test_docs_page_is_html_with_the_api(clf_server: Server, classification: Artefact) -> None:
    response = clf_server.get("/docs")
    assert response.status == 200 and response.headers["content-type"].startswith("text/html")
    page = response.body.decode()
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "/openapi.json" in page and "/predict" in page and classification.features[-1] in page
    assert "<script" not in page and "http://" not in page and "https://" not in page  # self-contained


# --- metrics and micro-batching ---------------------------------------------------------


def _deltas(before: list, after: list) -> Callable[..., float]:
    return lambda name, **labels: metric(after, name, **labels) - metric(before, name, **labels)


def test_metrics_count_requests_and_predictions_across_workers(clf_server: Server, classification: Artefact) -> None:
    assert len(worker_pids(clf_server)) == 2
    before = clf_server.metrics()
    served_before = per_worker_metric(clf_server, "mlops_requests_total", endpoint="/predict", status="200")
    sizes, answers = [], []

    def call(index: int) -> list:
        size = 1 + index % 5
        start = index % (len(classification.expected) - size)
        answer = predictions(clf_server.predict({"records": classification.records(start, start + size)}))
        assert answer == classification.expected[start:start + size]
        return answer

    # Concurrent rounds until both workers have served some (the kernel picks the worker per connection).
    for _ in range(10):
        with ThreadPoolExecutor(8) as pool:
            answers += pool.map(call, range(len(sizes), len(sizes) + 24))
        sizes += [1 + i % 5 for i in range(len(sizes), len(sizes) + 24)]
        served = per_worker_metric(clf_server, "mlops_requests_total", endpoint="/predict", status="200")
        if all(served[pid] > served_before.get(pid, 0) for pid in served):
            break
    else:
        pytest.fail(f"one worker served every request: {served}")
    calls, rows = len(sizes), sum(sizes)
    # A request is counted just after its response is sent: wait for the last ones to land.
    counted = lambda samples: metric(samples, "mlops_requests_total", endpoint="/predict", status="200")  # noqa: E731
    assert wait_for(lambda: counted(clf_server.metrics()) - counted(before) >= calls, timeout=5)
    after = clf_server.metrics()
    served = per_worker_metric(clf_server, "mlops_requests_total", endpoint="/predict", status="200")
    delta = _deltas(before, after)

    assert delta("mlops_requests_total", endpoint="/predict", status="200", model_version="dev") == calls
    assert sum(served.values()) - sum(served_before.values()) == calls  # /metrics is the sum of the workers
    assert delta("mlops_request_duration_seconds_count", endpoint="/predict") == calls
    assert delta("mlops_request_rows_count") == calls and delta("mlops_request_rows_sum") == rows
    assert delta("mlops_batch_rows_sum") == rows
    by_class = Counter(p for answer in answers for p in answer)
    assert set(by_class) <= set(classification.metadata["classes"])
    for label in classification.metadata["classes"]:
        assert delta("mlops_predictions_total", model_version="dev", prediction=str(label)) == by_class[label]
    assert delta("mlops_predictions_total") == rows
    # The /metrics request itself is counted under its own endpoint; unknown paths share one label.
    assert delta("mlops_requests_total", endpoint="/metrics") >= 1
    clf_server.get("/no/such/path/123")
    assert metric(clf_server.metrics(), "mlops_requests_total", endpoint="other", status="404") >= 1
    assert not [s for s in clf_server.metrics() if s.labels.get("endpoint", "/").startswith("/no")]


def test_concurrent_requests_are_micro_batched_without_cross_talk(clf_server: Server, classification: Artefact) -> None:
    # Alone, a request is one model call of its own rows.
    before = clf_server.metrics()
    assert predictions(clf_server.predict({"records": classification.records(5, 6)})) == [classification.expected[5]]
    delta = _deltas(before, clf_server.metrics())
    assert delta("mlops_batch_rows_count") == 1 and delta("mlops_batch_rows_sum") == 1

    # 32 single-row requests at once: several rows per model call, each answer for its own row.
    before = clf_server.metrics()
    barrier = threading.Barrier(32)

    def one_row(index: int) -> list:
        body = json.dumps({"records": classification.records(index, index + 1)})
        barrier.wait()
        return predictions(clf_server.request("POST", "/predict", body, JSON))

    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(one_row, range(32)))
    assert answers == [[classification.expected[i]] for i in range(32)]
    delta = _deltas(before, clf_server.metrics())
    calls, batched_rows = delta("mlops_batch_rows_count"), delta("mlops_batch_rows_sum")
    assert batched_rows == 32
    print(f"32 concurrent rows in {calls:.0f} model calls")
    assert batched_rows / calls > 1, f"{calls:.0f} model calls for 32 concurrent rows: no micro-batching"

    # Requests of different sizes batched together each get their own slice, in order.
    barrier = threading.Barrier(32)
    spans = [(3 * i % 80, 3 * i % 80 + 1 + i % 7) for i in range(32)]

    def span(index: int) -> list:
        start, stop = spans[index]
        body = json.dumps({"records": classification.records(start, stop)} if index % 2 else
                          {"columns": classification.columns(start, stop)})
        barrier.wait()
        return predictions(clf_server.request("POST", "/predict", body, JSON))

    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(span, range(32)))
    assert answers == [classification.expected[start:stop] for start, stop in spans]


def test_no_internal_errors_were_logged(clf_server: Server) -> None:
    """After everything above (all bad requests included), the server logged no exception."""
    output = clf_server.stderr()
    assert "Traceback" not in output and "internal error" not in output, output
    assert metric(clf_server.metrics(), "mlops_requests_total", status="500") == 0


# --- a model that cannot be loaded is never served ---------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_corrupt_artefact_is_never_served(tmp_path: Path, classification: Artefact, workers: int) -> None:
    corrupt = tmp_path / "model"
    shutil.copytree(classification.dir, corrupt)
    with open(corrupt / "model.joblib", "r+b") as handle:  # flip one byte, same size
        handle.seek(100)
        byte = handle.read(1)
        handle.seek(100)
        handle.write(bytes([byte[0] ^ 0xFF]))
    returncode, stderr = serve_expecting_refusal(["--artefact", str(corrupt), "--workers", str(workers)],
                                                 "a corrupt model")
    assert returncode == 2, f"exit {returncode}:\n{stderr}"
    assert f"{corrupt / 'model.joblib'}: checksum mismatch" in stderr
    assert "modified or truncated" in stderr and "Traceback" not in stderr


def test_folder_without_metadata_is_not_served(tmp_path: Path) -> None:
    (tmp_path / "model.joblib").write_bytes(b"not a model")
    completed = subprocess.run([MLOPS, "serve", "--artefact", str(tmp_path), "--port", str(free_port()), "--workers", "2"],
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 2
    assert f"{tmp_path}: not a model artefact (no metadata.json)" in completed.stderr


def test_endpoints_constant_matches_the_server(clf_server: Server) -> None:
    """The fuzz tests' oracle relies on this list of endpoints: every one answers GET or POST."""
    for path in ENDPOINTS:
        status = clf_server.request("POST" if path == "/predict" else "GET", path, "{}" if path == "/predict" else None,
                                    JSON).status
        assert status != 404, path
