"""Ground-truth feedback on the real model server: POST /feedback scores true labels against
the predictions the server gave for a request id. (The store and the scoring in-process:
tests/unit/serving/test_feedback.py.)

The counts must equal what the model gets right in-process on the hold-out set, and land in
/metrics; every bad feedback is a 4xx naming the problem and counts nothing; a request is
scored at most once; the remembered predictions are bounded (oldest forgotten); regression
sums absolute errors; the prediction log gets a feedback record to join by request id.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cli_support import MLOPS
from serving_support import Artefact, Response, Server, check_error, free_port, metric, running_server, wait_for

JSON = {"content-type": "application/json"}
BODY_LIMIT = 4 * 1024 * 1024  # the server's default --max-body-bytes


def truth(artefact: Artefact) -> list:
    """The true targets of the hold-out rows, as the trainer wrote them."""
    return pd.read_csv(artefact.dir / "holdout.csv")[artefact.metadata["target"]].tolist()


def predict(server: Server, artefact: Artefact, start: int, stop: int, request_id: str | None = None) -> str:
    """Predict hold-out rows start:stop; check the answer and return the response's request id."""
    response = server.predict({"records": artefact.records(start, stop)},
                              headers={"x-request-id": request_id} if request_id else None)
    assert response.status == 200, response
    assert response.json()["predictions"] == artefact.expected[start:stop]
    return response.json()["request_id"]


def send_feedback(server: Server, payload: Any, headers: dict[str, str] | None = None) -> Response:
    body = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
    return server.request("POST", "/feedback", body, {**JSON, **(headers or {})})


def scored(response: Response) -> dict[str, Any]:
    assert response.status == 200, response
    assert response.headers["content-type"] == "application/json" and response.headers["x-model-version"] == "dev"
    return response.json()


@pytest.fixture(scope="module")
def log_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("feedback-log")


@pytest.fixture(scope="module")
def clf_server(classification: Artefact, log_folder: Path) -> Server:
    with running_server("--artefact", str(classification.dir), "--prediction-log", str(log_folder / "log.jsonl"),
                        cwd=classification.project.root) as server:
        yield server


@pytest.fixture(scope="module")
def reg_server(regression: Artefact) -> Server:
    with running_server("--artefact", str(regression.dir), cwd=regression.project.root) as server:
        yield server


# --- classification ---------------------------------------------------------------------


def test_correct_counts_equal_the_in_process_accuracy(clf_server: Server, classification: Artefact) -> None:
    labels, expected = truth(classification), classification.expected
    rows = len(labels)
    assert set(labels) <= set(classification.metadata["classes"]) and all(type(y) is int for y in labels)
    before = clf_server.metrics()
    # Chunks of several sizes; the labels sent as ints, floats and strings (all the same classes).
    spans = [(0, 1), (1, 9), (9, 40), (40, rows)]
    encodings = [int, float, str, int]
    total = 0
    for (start, stop), encode in zip(spans, encodings):
        request_id = predict(clf_server, classification, start, stop)
        sent = [encode(y) for y in labels[start:stop]]
        payload = {"request_id": request_id, **({"label": sent[0]} if stop - start == 1 else {"labels": sent})}
        correct = sum(p == y for p, y in zip(expected[start:stop], labels[start:stop]))
        assert scored(send_feedback(clf_server, payload)) == {
            "request_id": request_id, "model_version": "dev", "rows": stop - start, "correct": correct}
        total += correct
    in_process = sum(p == y for p, y in zip(expected, labels))
    assert total == in_process and in_process / rows > 0.8

    after = clf_server.metrics()
    delta = lambda name, **labels: metric(after, name, **labels) - metric(before, name, **labels)  # noqa: E731
    assert delta("mlops_feedback_rows_total", model_version="dev") == rows
    assert delta("mlops_feedback_correct_total", model_version="dev") == in_process
    assert delta("mlops_feedback_abs_error_total") == 0  # a classifier has no absolute errors
    assert wait_for(lambda: metric(clf_server.metrics(), "mlops_requests_total", endpoint="/feedback", status="200")
                    - metric(before, "mlops_requests_total", endpoint="/feedback", status="200") == len(spans))

    # Wrong labels (every class flipped) score the complement.
    request_id = predict(clf_server, classification, 0, rows)
    flipped = [1 - y for y in labels]
    assert scored(send_feedback(clf_server, {"request_id": request_id, "labels": flipped}))["correct"] == rows - in_process


def test_labels_match_the_predicted_class_by_value(clf_server: Server, classification: Artefact) -> None:
    index = classification.expected.index(1)
    sent = [1, 1.0, "1", "1.0", " 1", "1.5", 1.5, 0, "0", "abc", "", True, 2]
    matches = [True, True, True, True, True, False, False, False, False, False, False, False, False]
    response = clf_server.predict({"records": classification.records(index, index + 1) * len(sent)})
    assert response.json()["predictions"] == [1] * len(sent)
    result = scored(send_feedback(clf_server, {"request_id": response.json()["request_id"], "labels": sent}))
    assert result["rows"] == len(sent) and result["correct"] == sum(matches)


def test_client_request_ids_work_and_a_reused_id_scores_the_latest_prediction(clf_server: Server,
                                                                                classification: Artefact) -> None:
    predict(clf_server, classification, 0, 5, request_id="order-77/a")
    predict(clf_server, classification, 10, 12, request_id="order-77/a")
    labels = truth(classification)[10:12]
    check_error(send_feedback(clf_server, {"request_id": "order-77/a", "labels": truth(classification)[0:5]}),
                422, "5 label(s) for 2 predicted row(s)")
    assert scored(send_feedback(clf_server, {"request_id": "order-77/a", "labels": labels}))["rows"] == 2


def _bad_payloads(request_id: str) -> list[tuple[str, Any, tuple[str, ...]]]:
    shape = ('body must be an object {"request_id": "...", "labels": [...]}',)
    return [
        ("empty object", {}, shape),
        ("no labels", {"request_id": request_id}, shape),
        ("no request id", {"labels": [0, 1, 0]}, shape),
        ("labels and label", {"request_id": request_id, "labels": [0, 1, 0], "label": 0}, shape),
        ("another key", {"request_id": request_id, "truth": [0, 1, 0]}, shape),
        ("a list", [request_id, [0, 1, 0]], shape),
        ("request id not a string", {"request_id": 7, "labels": [0, 1, 0]}, ('"request_id" must be the request id',)),
        ("empty request id", {"request_id": "", "labels": [0, 1, 0]}, ('"request_id" must be the request id',)),
        ("labels not a list", {"request_id": request_id, "labels": 0}, ('"labels" must be a list',)),
        ("too few labels", {"request_id": request_id, "labels": [0, 1]}, ("2 label(s) for 3 predicted row(s)",)),
        ("too many labels", {"request_id": request_id, "labels": [0, 1, 0, 1]}, ("4 label(s) for 3 predicted row(s)",)),
        ("no labels at all", {"request_id": request_id, "labels": []}, ("0 label(s) for 3 predicted row(s)",)),
        ("one label for three rows", {"request_id": request_id, "label": 0}, ("1 label(s) for 3 predicted row(s)",)),
        ("null label", {"request_id": request_id, "labels": [0, None, 1]}, ("label at row 1: expected a class", "null")),
        ("list label", {"request_id": request_id, "labels": [0, 1, [1]]}, ("label at row 2: expected a class", "[1]")),
        ("object label", {"request_id": request_id, "labels": [{"y": 1}, 1, 0]}, ("label at row 0", '{"y":1}')),
    ]


def test_bad_feedback_is_a_4xx_that_counts_nothing(clf_server: Server, classification: Artefact) -> None:
    request_id = predict(clf_server, classification, 20, 23)
    before = clf_server.metrics()
    for case, payload, fragments in _bad_payloads(request_id):
        response = send_feedback(clf_server, payload, {"x-request-id": f"bad-{case}"})
        body = check_error(response, 422, *fragments)
        assert body["request_id"] == f"bad-{case}", case  # the feedback request's own id, as for every error
    for body, headers, status, fragments in [
        ("{", JSON, 400, ("body is not valid JSON",)),
        (b'{"request_id": "\xff", "labels": []}', JSON, 400, ("body is not valid JSON", "UTF-8")),
        ('{"request_id": "a", "labels": [1e400]}', JSON, 400, ("body is not valid JSON",)),
        (b" " * (BODY_LIMIT + 1), JSON, 413, (f"body over the limit of {BODY_LIMIT} bytes",)),
        (json.dumps({"request_id": request_id, "labels": [0, 1, 0]}), {"content-type": "text/plain"}, 415,
         ("content-type must be application/json, got text/plain",)),
    ]:
        check_error(clf_server.request("POST", "/feedback", body, headers), status, *fragments)
    check_error(clf_server.get("/feedback"), 405, "method GET not allowed here; use POST")
    check_error(clf_server.request("POST", "/feedback/", "{}", JSON), 404, "no endpoint /feedback/")
    check_error(send_feedback(clf_server, {"request_id": "never-seen-42", "labels": [1]}), 404,
                "no predictions for request id 'never-seen-42'")
    after = clf_server.metrics()
    assert metric(after, "mlops_feedback_rows_total") == metric(before, "mlops_feedback_rows_total")

    # None of that used the request up: good feedback is still scored, once.
    labels = truth(classification)[20:23]
    result = scored(send_feedback(clf_server, {"request_id": request_id, "labels": labels}))
    assert result["rows"] == 3
    check_error(send_feedback(clf_server, {"request_id": request_id, "labels": labels}), 409,
                f"feedback for request id {request_id!r} was already given")
    check_error(send_feedback(clf_server, {"request_id": request_id, "labels": [0, 0]}), 409)
    assert metric(clf_server.metrics(), "mlops_feedback_rows_total") == metric(before, "mlops_feedback_rows_total") + 3
    assert clf_server.get("/readyz").status == 200


def test_concurrent_feedback_for_one_request_counts_once(clf_server: Server, classification: Artefact) -> None:
    request_id = predict(clf_server, classification, 70, 80)
    body = json.dumps({"request_id": request_id, "labels": truth(classification)[70:80]})
    before = metric(clf_server.metrics(), "mlops_feedback_rows_total")
    barrier = threading.Barrier(16)

    def send(_: int) -> int:
        barrier.wait()
        return clf_server.request("POST", "/feedback", body, JSON).status

    with ThreadPoolExecutor(16) as pool:
        statuses = Counter(pool.map(send, range(16)))
    assert statuses == {200: 1, 409: 15}
    assert metric(clf_server.metrics(), "mlops_feedback_rows_total") == before + 10


def test_failed_predictions_are_not_remembered(clf_server: Server, classification: Artefact) -> None:
    response = clf_server.predict({"records": []}, headers={"x-request-id": "failed-1"})
    assert response.status == 422
    check_error(send_feedback(clf_server, {"request_id": "failed-1", "labels": []}), 404, "'failed-1'")


def test_feedback_records_in_the_prediction_log(clf_server: Server, classification: Artefact, log_folder: Path) -> None:
    labels = truth(classification)
    first = predict(clf_server, classification, 50, 54, request_id="logged-1")
    second = predict(clf_server, classification, 60, 61, request_id="logged-2")
    sent = {first: [float(y) for y in labels[50:54]], second: [str(labels[60])]}
    answers = {first: scored(send_feedback(clf_server, {"request_id": first, "labels": sent[first]})),
               second: scored(send_feedback(clf_server, {"request_id": second, "label": sent[second][0]}))}

    def records() -> list[dict]:
        return [json.loads(line) for path in log_folder.glob("log.*.jsonl") for line in path.read_text().splitlines()]

    assert wait_for(lambda: sum(r.get("type") == "feedback" and r["request_id"] in sent for r in records()) == 2)
    by_id: dict[str, dict[str, dict]] = {}
    for record in records():
        by_id.setdefault(record["request_id"], {})[record.get("type", "prediction")] = record
    for request_id, answer in answers.items():
        prediction, feedback = by_id[request_id]["prediction"], by_id[request_id]["feedback"]
        assert set(prediction) == {"time", "request_id", "model_version", "inputs", "predictions"}  # unchanged
        assert set(feedback) == {"time", "type", "request_id", "model_version", "labels", "correct"}
        assert feedback["labels"] == sent[request_id] and feedback["correct"] == answer["correct"]
        assert feedback["model_version"] == "dev" and feedback["time"] >= prediction["time"]
        # Joined offline: the logged predictions against the logged labels give the same count.
        assert sum(p == float(y) for p, y in zip(prediction["predictions"], feedback["labels"])) == answer["correct"]


def test_openapi_and_docs_describe_feedback(clf_server: Server) -> None:
    spec = clf_server.get("/openapi.json").json()
    operation = spec["paths"]["/feedback"]["post"]
    labels_shape, label_shape = operation["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert labels_shape["required"] == ["request_id", "labels"] and label_shape["required"] == ["request_id", "label"]
    assert {"200", "400", "404", "409", "413", "415", "422"} <= set(operation["responses"])
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer["required"] == ["request_id", "model_version", "rows", "correct"]
    assert "/feedback" in clf_server.get("/docs").body.decode()


# --- regression -------------------------------------------------------------------------


def test_regression_feedback_sums_absolute_errors(reg_server: Server, regression: Artefact) -> None:
    assert any(s.name == "mlops_feedback_abs_error_total" for s in reg_server.metrics())  # there from the start, at 0
    labels, expected = truth(regression), regression.expected
    assert all(type(y) in (int, float) for y in labels)
    before = reg_server.metrics()
    total = 0.0
    for start, stop in ((0, 1), (1, 30), (30, len(labels))):
        request_id = predict(reg_server, regression, start, stop)
        errors = float(np.abs(np.array(labels[start:stop]) - np.array(expected[start:stop])).sum())
        result = scored(send_feedback(reg_server, {"request_id": request_id, "labels": labels[start:stop]}))
        assert result.keys() == {"request_id", "model_version", "rows", "abs_error_sum"}
        assert result["rows"] == stop - start and result["abs_error_sum"] == pytest.approx(errors, rel=1e-12)
        total += errors
    after = reg_server.metrics()
    assert metric(after, "mlops_feedback_rows_total", model_version="dev") - \
        metric(before, "mlops_feedback_rows_total", model_version="dev") == len(labels)
    added = metric(after, "mlops_feedback_abs_error_total", model_version="dev") - \
        metric(before, "mlops_feedback_abs_error_total", model_version="dev")
    assert added == pytest.approx(total, rel=1e-9) and added > 0
    assert not any(s.name == "mlops_feedback_correct_total" for s in after)


@pytest.mark.parametrize("label, shown", [("151.0", '"151.0"'), (True, "true"), (None, "null"), ([151], "[151]")])
def test_regression_label_must_be_a_number(reg_server: Server, regression: Artefact, label: Any, shown: str) -> None:
    request_id = predict(reg_server, regression, 0, 2)
    check_error(send_feedback(reg_server, {"request_id": request_id, "labels": [150.5, label]}), 422,
                f"label at row 1: expected a number, got {shown}")
    assert scored(send_feedback(reg_server, {"request_id": request_id, "labels": [150, 151.5]}))["rows"] == 2


# --- bounded memory ---------------------------------------------------------------------


def test_oldest_predictions_are_forgotten(classification: Artefact, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_SERVE_FEEDBACK_CAPACITY", "5")
    with running_server("--artefact", str(classification.dir), cwd=classification.project.root) as server:
        labels = truth(classification)
        for index in range(8):
            predict(server, classification, index, index + 1, request_id=f"r{index}")
        for index in range(3):
            check_error(send_feedback(server, {"request_id": f"r{index}", "label": labels[index]}), 404,
                        f"no predictions for request id 'r{index}'", "remembers at most its 5 most recent requests")
        for index in range(3, 8):
            assert scored(send_feedback(server, {"request_id": f"r{index}", "label": labels[index]}))["rows"] == 1
        # Scored requests still take their place (so that repeats are refused), then are forgotten too.
        check_error(send_feedback(server, {"request_id": "r7", "label": labels[7]}), 409)
        for index in range(8, 13):
            predict(server, classification, index, index + 1, request_id=f"r{index}")
        check_error(send_feedback(server, {"request_id": "r7", "label": labels[7]}), 404)


@pytest.mark.parametrize("value", ["0", "many", "-3"])
def test_invalid_capacity_stops_the_server_at_start(classification: Artefact, value: str) -> None:
    completed = subprocess.run([MLOPS, "serve", "--artefact", str(classification.dir), "--port", str(free_port())],
                               capture_output=True, text=True, timeout=60,
                               env={**os.environ, "MLOPS_SERVE_FEEDBACK_CAPACITY": value})
    assert completed.returncode == 2, completed
    assert f"MLOPS_SERVE_FEEDBACK_CAPACITY must be a whole number >= 1, got {value!r}" in completed.stderr
