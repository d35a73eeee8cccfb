"""Fuzzing one running model server with malformed requests (hypothesis).

Random JSON values, dicts mixing real feature names with junk, valid rows with one value
replaced, mutated and random bytes, random methods, paths and content types. For each
request an independent oracle says what the answer must be: the server never answers 5xx;
it answers 200 only for a body that is valid for the feature schema (and then exactly the
in-process predictions), otherwise a 4xx with a JSON error message.
"""

from __future__ import annotations

import json
import math
import string
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serving_support import ENDPOINTS, MAX_REQUEST_ROWS, Artefact, Server, check_error, metric, running_server

FUZZ = settings(deadline=None, derandomize=True, database=None, print_blob=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                                       HealthCheck.large_base_example])

METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE"]
CONTENT_TYPES = [None, "", "application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "text/plain",
                 "text/json", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
PATH_CHARS = string.ascii_letters + string.digits + "/-_.~"

json_leaves = (st.none() | st.booleans() | st.integers() | st.integers(-(10**400), 10**400)
               | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
json_values = st.recursive(
    json_leaves, lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)
numbers = st.floats(allow_nan=False, allow_infinity=False) | st.integers() | st.floats(-100, 100)

sent = {"requests": 0, "ok": 0, "refused": 0}


@pytest.fixture(scope="module")
def server(classification: Artefact) -> Server:
    with running_server("--artefact", str(classification.dir), cwd=classification.project.root, workers=2) as server:
        yield server
        print(f"\nfuzz: {server.requests_sent} requests sent to one server; {sent['requests']} fuzzed, "
              f"{sent['ok']} of them answered 200, {sent['refused']} schema-valid but refused by the model (422)")


# --- the oracle ------------------------------------------------------------------------


class Invalid(Exception):
    pass


def _no_constants(name: str) -> Any:
    raise Invalid(f"{name} is not JSON")


def _check_numbers(value: Any) -> None:
    """Numbers must be float64-finite (the server parses them as doubles)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, (int, float)):
        try:
            if not math.isfinite(float(value)):
                raise Invalid("infinite")
        except OverflowError:
            raise Invalid("too large") from None
    elif isinstance(value, list):
        for item in value:
            _check_numbers(item)
    else:
        for item in value.values():
            _check_numbers(item)


def decode(body: bytes) -> Any:
    """The JSON value of a body for a strict RFC 8259 parser with float64 numbers, else Invalid."""
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Invalid("not JSON") from None
    _check_numbers(value)
    return value


@dataclass
class Verdict:
    kind: str  # "invalid" (a 4xx), "refused" (schema-valid, the model raises: 422), "ok" (200)
    predictions: list | None = None


def value_ok(feature: dict[str, Any], value: Any) -> bool:
    if value is None:
        return bool(feature["nullable"])
    if feature["dtype"] == "bool":
        return type(value) is bool
    if feature["dtype"] in ("object", "string", "category"):
        return type(value) is str
    return type(value) in (int, float)  # finite: checked by decode


def judge(artefact: Artefact, body: bytes) -> Verdict:
    try:
        payload = decode(body)
    except Invalid:
        return Verdict("invalid")
    features = artefact.metadata["features"]
    names = [f["name"] for f in features]
    if not isinstance(payload, dict) or len(payload) != 1:
        return Verdict("invalid")
    if "records" in payload:
        records = payload["records"]
        if not isinstance(records, list) or not records:
            return Verdict("invalid")
        if not all(isinstance(r, dict) and set(r) == set(names) for r in records):
            return Verdict("invalid")
        rows = records
    elif "columns" in payload:
        columns = payload["columns"]
        if not isinstance(columns, dict) or set(columns) != set(names):
            return Verdict("invalid")
        if not all(isinstance(v, list) for v in columns.values()) or len({len(v) for v in columns.values()}) != 1:
            return Verdict("invalid")
        count = len(columns[names[0]])
        if count == 0:
            return Verdict("invalid")
        rows = [{name: columns[name][i] for name in names} for i in range(count)]
    else:
        return Verdict("invalid")
    if len(rows) > MAX_REQUEST_ROWS:
        return Verdict("invalid")
    if not all(value_ok(f, row[f["name"]]) for row in rows for f in features):
        return Verdict("invalid")
    frame = pd.DataFrame({n: np.array([np.nan if r[n] is None else float(r[n]) for r in rows]) for n in names})
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):  # huge values overflow in the scaler
            warnings.simplefilter("ignore", RuntimeWarning)
            return Verdict("ok", artefact.model.predict(frame).tolist())
    except ValueError:
        return Verdict("refused")


def expect_status(method: str, path: str, content_type: str | None) -> int | None:
    """The HTTP-level answer, or None when the body decides."""
    path = path.split("?", 1)[0]
    if path not in ENDPOINTS:
        return 404
    if path != "/predict":
        return 200 if method == "GET" else 405
    if method != "POST":
        return 405
    if content_type and not content_type.lower().startswith("application/json"):
        return 415
    return None


def exchange(server: Server, artefact: Artefact, body: bytes | None, method: str = "POST", path: str = "/predict",
             content_type: str | None = "application/json") -> None:
    """Send one request and check the answer against the oracle."""
    sent["requests"] += 1
    headers = {} if content_type is None else {"content-type": content_type}
    response = server.request(method, path, body, headers)
    assert response.status < 500, (method, path, body, response)
    assert response.headers["x-model-version"] == "dev" and response.headers["x-request-id"]
    status = expect_status(method, path, content_type)
    if method == "HEAD":  # no body to check
        assert response.status == status, (method, path, response)
        return
    if status is not None and status != 200:
        check_error(response, status)
        return
    if status == 200:
        sent["ok"] += 1
        assert response.status == 200, (method, path, response)
        return
    verdict = judge(artefact, body or b"")
    if verdict.kind == "ok":
        sent["ok"] += 1
        assert response.status == 200, (body, response)
        assert response.json()["predictions"] == verdict.predictions, body
    elif verdict.kind == "refused":
        sent["refused"] += 1
        check_error(response, 422, "the model cannot predict for these values")
    else:
        assert 400 <= response.status < 500 and response.status != 200, (body, response)
        body_json = check_error(response, response.status)
        assert len(body_json["error"]) > 10


# --- the fuzzers ------------------------------------------------------------------------


@settings(FUZZ, max_examples=600)
@given(value=json_values, wrap=st.sampled_from(["bare", "records", "columns", "records-list"]))
def fuzz_random_json_values(server: Server, classification: Artefact, value: Any, wrap: str) -> None:
    payload = {"bare": value, "records": {"records": value}, "columns": {"columns": value},
               "records-list": {"records": [value]}}[wrap]
    exchange(server, classification, json.dumps(payload).encode())


@settings(FUZZ, max_examples=500)
@given(data=st.data())
def fuzz_dicts_mixing_feature_names_and_junk(server: Server, classification: Artefact, data: st.DataObject) -> None:
    names = classification.features
    keys = st.sampled_from(names) | st.text(max_size=8)
    values = numbers | json_values
    if data.draw(st.booleans(), label="records"):
        records = data.draw(st.lists(st.dictionaries(keys, values, max_size=len(names) + 2), max_size=3))
        # Often start from a complete row, so that the junk is the only problem (or there is none).
        if records and data.draw(st.booleans()):
            complete = {name: data.draw(numbers) for name in names}
            records[0] = {**complete, **records[0]}
        payload = {"records": records}
    else:
        length = data.draw(st.integers(0, 3))
        columns = data.draw(st.dictionaries(keys, st.lists(values, min_size=length, max_size=length + 1), max_size=len(names) + 2))
        if data.draw(st.booleans()):
            columns = {**{name: data.draw(st.lists(numbers, min_size=length, max_size=length)) for name in names}, **columns}
        payload = {"columns": columns}
    exchange(server, classification, json.dumps(payload).encode())


@settings(FUZZ, max_examples=600)
@given(data=st.data())
def fuzz_valid_rows_with_one_value_replaced(server: Server, classification: Artefact, data: st.DataObject) -> None:
    names, rows = classification.features, len(classification.expected)
    start = data.draw(st.integers(0, rows - 3), label="start")
    size = data.draw(st.integers(1, 3), label="size")
    action = data.draw(st.sampled_from(["number", "number", "json", "json", "drop", "add", "none"]), label="action")
    name = data.draw(st.sampled_from(names), label="feature")
    row = data.draw(st.integers(0, size - 1), label="row")
    replacement = data.draw(numbers if action == "number" else json_values, label="value")
    if data.draw(st.booleans(), label="records"):
        payload: dict[str, Any] = {"records": classification.records(start, start + size)}
        target = payload["records"][row]
        if action in ("number", "json"):
            target[name] = replacement
        elif action == "drop":
            del target[name]
        elif action == "add":
            target[data.draw(st.text(max_size=8), label="key")] = replacement
    else:
        payload = {"columns": classification.columns(start, start + size)}
        if action in ("number", "json"):
            payload["columns"][name][row] = replacement
        elif action == "drop":
            if data.draw(st.booleans(), label="whole column"):
                del payload["columns"][name]
            else:
                del payload["columns"][name][row]
        elif action == "add":
            payload["columns"][data.draw(st.text(max_size=8), label="key")] = replacement
    exchange(server, classification, json.dumps(payload).encode())


@settings(FUZZ, max_examples=400)
@given(data=st.data())
def fuzz_random_and_mutated_bytes(server: Server, classification: Artefact, data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(["random", "prefixed", "mutated", "mutated"]), label="kind")
    if kind == "random":
        body = data.draw(st.binary(max_size=300))
    elif kind == "prefixed":
        prefix = data.draw(st.sampled_from([b'{"records": [', b'{"columns": {', b'{"records": [{"mean radius": ', b"\xef\xbb\xbf"]))
        body = prefix + data.draw(st.binary(max_size=100))
    else:  # a valid body with a few bytes overwritten, inserted or deleted
        start = data.draw(st.integers(0, len(classification.expected) - 2))
        shape = data.draw(st.sampled_from(["records", "columns"]))
        rows = classification.records(start, start + 2) if shape == "records" else classification.columns(start, start + 2)
        body = bytearray(json.dumps({shape: rows}).encode())
        for _ in range(data.draw(st.integers(1, 3))):
            position = data.draw(st.integers(0, len(body) - 1))
            byte = data.draw(st.sampled_from(list(b'0123456789.-+eE,:{}[]" tfn\\')) | st.integers(0, 255))
            edit = data.draw(st.sampled_from(["overwrite", "insert", "delete"]))
            if edit == "overwrite":
                body[position] = byte
            elif edit == "insert":
                body.insert(position, byte)
            else:
                del body[position]
        body = bytes(body)
    exchange(server, classification, body)


@settings(FUZZ, max_examples=400)
@given(data=st.data())
def fuzz_random_methods_paths_and_content_types(server: Server, classification: Artefact, data: st.DataObject) -> None:
    method = data.draw(st.sampled_from(METHODS) | st.just("POST"), label="method")
    path = data.draw(st.sampled_from(ENDPOINTS) | st.just("/predict") | st.text(PATH_CHARS, max_size=16).map(lambda p: "/" + p),
                     label="path")
    if data.draw(st.booleans(), label="query"):
        path += "?" + data.draw(st.text(string.ascii_letters + "=&", max_size=8))
    content_type = data.draw(st.sampled_from(CONTENT_TYPES), label="content-type")
    body_kind = data.draw(st.sampled_from(["none", "valid", "json"]), label="body")
    if body_kind == "valid" or (method == "POST" and path.startswith("/predict") and data.draw(st.booleans())):
        start = data.draw(st.integers(0, len(classification.expected) - 4))
        body = json.dumps({"records": classification.records(start, start + 3)}).encode()
    elif body_kind == "json":
        body = json.dumps(data.draw(json_values)).encode()
    else:
        body = None
    if method == "HEAD":
        body = None
    exchange(server, classification, body, method, path, content_type)


def assert_healthy(server: Server, artefact: Artefact) -> None:
    assert server.get("/healthz").status == 200 and server.get("/readyz").status == 200
    response = server.predict({"records": artefact.records()})
    assert response.status == 200 and response.json()["predictions"] == artefact.expected
    assert metric(server.metrics(), "mlops_requests_total", status="500") == 0
    output = server.stderr()
    assert "Traceback" not in output and "internal error" not in output, output


@pytest.mark.parametrize("fuzzer, examples, valid", [
    (fuzz_random_json_values, 600, 0),
    (fuzz_dicts_mixing_feature_names_and_junk, 500, 1),
    (fuzz_valid_rows_with_one_value_replaced, 600, 50),
    (fuzz_random_and_mutated_bytes, 400, 1),
    (fuzz_random_methods_paths_and_content_types, 400, 5),
], ids=lambda value: value.__name__.removeprefix("fuzz_") if callable(value) else None)
def test_fuzzed_requests_never_fail_the_server(server: Server, classification: Artefact, fuzzer, examples: int,
                                               valid: int) -> None:
    before = dict(sent)
    fuzzer(server, classification)
    requests, ok = sent["requests"] - before["requests"], sent["ok"] - before["ok"]
    print(f"\n{fuzzer.__name__}: {requests} requests, {ok} answered 200, "
          f"{sent['refused'] - before['refused']} schema-valid but refused by the model (422)")
    assert requests >= examples  # hypothesis ran them all (derandomized: the same ones every time)
    assert ok >= valid, ok  # the oracle also saw requests that must be answered 200
    assert_healthy(server, classification)


def test_unknown_http_methods_are_rejected_by_the_parser(server: Server, classification: Artefact) -> None:
    """Tokens that are not HTTP methods never reach the app: uvicorn's parser answers 400."""
    for method in ("FOO", "BREW", "GETS"):
        response = server.request(method, "/predict", b"{}", {"content-type": "application/json"})
        assert response.status == 400, response
    assert server.predict({"records": classification.records(0, 2)}).json()["predictions"] == classification.expected[:2]
