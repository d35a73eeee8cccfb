"""The HTML monitoring report: self-contained, escaped, complete.

The report data is built from scikit-learn's breast-cancer data with injected drift
(tests/support/report_support.py). (Rendered by a real browser: tests/e2e/monitoring/test_report_chromium.py.)
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np
import pytest

from mlops_helpers.monitoring import svg
from mlops_helpers.monitoring.report_html import render_report, sorted_features, write_report
from report_support import NASTY, NEW_CATEGORY, Outline, breast_cancer_report, feature_rows, read_png, section


@pytest.fixture(scope="module")
def data() -> dict:
    # Through JSON, as the report gets it from the monitoring code.
    return json.loads(json.dumps(breast_cancer_report()))


@pytest.fixture(scope="module")
def page(data: dict) -> str:
    return render_report(data)


# --- the HTML itself ---------------------------------------------------------------------------

def test_report_is_self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", page, re.I), "the page refers to the network"
    assert "<script" not in page.lower() and "<link" not in page.lower() and "<img" not in page.lower()
    assert "@import" not in page and "url(" not in page and "@font-face" not in page
    for tag, attrs in Outline(page).tags:
        for name in ("src", "href", "xlink:href"):
            if name in attrs:
                assert attrs[name].startswith("#"), f"<{tag} {name}={attrs[name]!r}> leaves the page"
    assert page.count("<style>") == 1


def test_every_feature_and_the_prediction_have_a_distribution_chart(data: dict, page: str) -> None:
    outline = Outline(page)
    features = sorted_features(data["drift"])
    for i, feature in enumerate(features):
        card = outline.cards[f"feature-{i}"]
        assert card["title"].strip() == feature["feature"]
        assert len(card["svgs"]) == 1, feature["feature"]
        assert card["svgs"][0]["aria-label"] == f"{feature['feature']}: reference vs live distribution"
        n = len(feature["bins"]["reference"])
        assert card["bars"] == {"reference": n, "live": n}, feature["feature"]
    prediction = outline.cards["prediction"]
    assert len(prediction["svgs"]) == 1 and prediction["bars"] == {"reference": 2, "live": 2}
    # Each card links from its table row.
    hrefs = [attrs["href"] for tag, attrs in outline.tags if tag == "a"]
    assert sorted(hrefs) == sorted([f"#feature-{i}" for i in range(len(features))] + ["#prediction"])


def test_axes_are_labelled_and_new_categories_highlighted(data: dict, page: str) -> None:
    outline = Outline(page)
    features = sorted_features(data["drift"])
    index = next(i for i, f in enumerate(features) if f["feature"] == NASTY)
    card = outline.cards[f"feature-{index}"]
    assert len(card["new"]) == 1 and card["new"][0]["fill"] == svg.NEW_COLOR
    chart = page.split(f'id="feature-{index}"')[1].split("</svg>")[0]
    assert "share of rows" in chart and "(category)" in chart and "new in live" in chart
    assert "&lt;giant&gt; &amp; co (new)" in chart
    numeric = page.split('id="feature-0"')[1].split("</svg>")[0]
    assert "share of rows" in numeric and f"{features[0]['feature']} (bin edges)" in numeric
    # Tick labels are the bin edges, first and last included.
    edges = features[0]["bins"]["edges"]
    assert f">{svg.number(edges[0], 3)}</text>" in numeric and f">{svg.number(edges[-1], 3)}</text>" in numeric


def test_strings_from_the_data_are_escaped(data: dict) -> None:
    hostile = copy.deepcopy(data)
    hostile["model"] = "<script>alert('model')</script>"
    hostile["environment"] = '"><img src=x onerror=alert(1)>'
    hostile["version"] = "3 & <4>"
    hostile["trigger"]["reasons"].append("<iframe src='https://evil.example'></iframe>")
    hostile["drift"]["features"][0]["method"] = "<u>psi</u>"
    page = render_report(hostile)
    for raw in ("<script", "<img", "<iframe", "<u>", NASTY, NEW_CATEGORY, "<b>\"size\""):
        assert raw not in page, f"{raw!r} reached the page unescaped"
    assert "&lt;script&gt;alert(&#x27;model&#x27;)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;b&gt;&quot;size&quot; &amp; &#x27;class&#x27;&lt;/b&gt;" in page
    # The text survives the round trip through a parser, in the table, the cards and the history.
    outline = Outline(page)
    assert NASTY in [row["feature"] for row in feature_rows(outline)]
    assert sum(card["title"].strip() == NASTY for card in outline.cards.values()) == 1
    assert page.count("<h3>&lt;b&gt;&quot;size&quot; &amp; &#x27;class&#x27;&lt;/b&gt;") == 2  # distribution + history
    assert "<iframe src='https://evil.example'></iframe>" in section(outline, "Retraining trigger")
    # Attribute values cannot be broken out of either.
    assert [a for t, a in outline.tags if t == "svg" and a.get("aria-label", "").startswith(NASTY)]


def test_features_are_sorted_drifted_first_with_numbers_and_thresholds(data: dict, page: str) -> None:
    outline = Outline(page)
    rows = feature_rows(outline)
    features = data["drift"]["features"]
    assert len(rows) == len(features)
    verdicts = [row["verdict"] for row in rows]
    drifted = sum(f["verdict"] == "drift" for f in features)
    assert drifted >= 3 and verdicts == ["drift"] * drifted + ["no drift"] * (len(features) - drifted)
    by_name = {f["feature"]: f for f in features}
    for row in rows:
        f = by_name[row["feature"]]
        assert row["method"] == f["method"] and row["statistic"] == svg.number(f["statistic"])
        if f["method"] == "ks":  # a test: the threshold is the significance level of the p-value
            assert row["threshold"] == "p < " + svg.number(f["threshold"]) and row["p-value"] == svg.number(f["p_value"])
        else:
            assert row["threshold"] == svg.number(f["threshold"]) and row["p-value"] == "—"
        for effect, value in f["effects"].items():
            assert row[effect] == svg.number(value), (f["feature"], effect)
        assert row["null rate ref → live"] == ("0% → 0%" if f["null_rate"] == [0.0, 0.0] else "0% → 2.5%")
        assert row["reason"] == f["reason"]
    prediction = data["drift"]["prediction"]
    assert feature_rows(outline, 1) == [{
        "feature": "prediction", "kind": "categorical", "verdict": "no drift", "method": "psi",
        "statistic": svg.number(prediction["statistic"]), "threshold": "0.2", "p-value": "—",
        "psi": svg.number(prediction["effects"]["psi"]), "jensenshannon": svg.number(prediction["effects"]["jensenshannon"]),
        "null_rate_delta": "0", "null rate ref → live": "0% → 0%", "samples": "285", "reason": prediction["reason"]}]
    # Statistic next to its threshold in each card, shares vs their threshold in the summary.
    top = sorted_features(data["drift"])[0]
    assert f"psi {svg.number(top['statistic'])} <span class=\"muted\">vs threshold 0.2</span>" in page
    ks = next(f for f in features if f["method"] == "ks")
    assert (f"ks p-value {svg.number(ks['p_value'])} <span class=\"muted\">vs threshold {svg.number(ks['threshold'])}</span>"
            f" · statistic {svg.number(ks['statistic'])}") in page
    share = data["drift"]["drifted_share"]
    assert f"drifted share {svg.number(share * 100, 3)}% vs threshold 10%" in page
    perf = data["performance"]
    assert (f"Live accuracy <b>{svg.number(perf['accuracy'])}</b> vs reference accuracy {svg.number(perf['reference_accuracy'])}"
            f" (Δ {svg.number(perf['accuracy'] - perf['reference_accuracy'], 3)}), floor {svg.number(perf['accuracy_floor'])}") in page


def test_history_performance_serving_and_trigger(data: dict, page: str) -> None:
    outline = Outline(page)
    svgs = [a["aria-label"] for t, a in outline.tags if t == "svg"]
    n_features = len(data["drift"]["features"])
    assert svgs.count("drifted share over time") == 1
    assert sum(label.endswith(": drift score over time") for label in svgs) == n_features
    assert svgs.count("live accuracy over time") == 1
    assert len(svgs) == (n_features + 1) + (n_features + 1) + 1
    history = section(outline, "Drift over time")
    assert "threshold 0.2" in history and "threshold 0.1" in history and "no data" not in history
    # A threshold line per distance feature (not for the ks one: its threshold is for the p-value), the
    # drifted-share threshold, the accuracy floor and the reference accuracy.
    tests = sum(f["method"] == "ks" for f in data["drift"]["features"])
    assert tests == 1 and page.count('class="ref-line"') == (n_features - tests) + 1 + 2
    ks_chart = page.split("worst texture: drift score over time")[1].split("</svg>")[0]
    assert "ref-line" not in ks_chart and "threshold" not in ks_chart
    performance = section(outline, "Model performance")
    assert "reference accuracy " + svg.number(data["performance"]["reference_accuracy"], 3) in performance
    assert "accuracy floor " + svg.number(data["performance"]["accuracy_floor"], 3) in performance
    assert "feedback rows: 285 (at least 100 needed)" in performance
    serving = section(outline, "Serving")
    for text in ("latency p50", "3.1 ms", "latency p99", "9 ms", "error rate", "0.2%", "CPU", "12%", "memory", "180 MB"):
        assert text in serving
    trigger = section(outline, "Retraining trigger")
    assert "retrain" in trigger and "cooldown until: none" in trigger
    assert all(reason in trigger for reason in data["trigger"]["reasons"]) and "& falling" in trigger
    findings = next(t for t in outline.tables if t[0] == ["condition", "state"])
    assert findings[1:] == [["drift", "fired"], ["accuracy", "fired"], ["data", "off"]]


@pytest.mark.parametrize("missing", ["absent", "empty"])
def test_missing_sections_say_no_data(data: dict, missing: str) -> None:
    partial = copy.deepcopy(data)
    for key in ("history", "performance", "trigger"):
        if missing == "absent":
            del partial[key]
        else:
            partial[key] = [] if key == "history" else {}
    partial["drift"]["prediction"] = None
    outline = Outline(render_report(partial))
    for title in ("Drift over time", "Model performance", "Serving", "Retraining trigger", "Prediction drift"):
        assert "no data" in section(outline, title), title
    assert "no data" not in section(outline, "Distributions")
    assert sum(1 for t, _ in outline.tags if t == "svg") == len(data["drift"]["features"])


def test_short_history_and_partial_performance_say_no_data(data: dict) -> None:
    partial = copy.deepcopy(data)
    partial["history"] = partial["history"][:1]
    partial["performance"] = {"accuracy": None, "feedback_rows": 0, "reference_accuracy": 0.95, "history": [],
                              "latency_p50_ms": 2.5, "latency_p99_ms": None, "error_rate": None, "cpu_percent": None,
                              "memory_mb": None}
    partial["trigger"] = {"retrain": False, "reasons": [], "cooldown_until": 1795953600.0}
    outline = Outline(render_report(partial))
    assert "no data: 1 drift checks in the history, a chart needs 2" in section(outline, "Drift over time")
    performance = section(outline, "Model performance")
    assert "no data: no live accuracy" in performance and "no data: 0 accuracy points" in performance
    serving = section(outline, "Serving")
    assert "2.5 ms" in serving and serving.count("no data") == 4
    trigger = section(outline, "Retraining trigger")
    assert "no retrain" in trigger and "no reasons given" in trigger and "2026-11-29 12:00:00 UTC" in trigger


def test_sparse_or_odd_data_still_renders() -> None:
    assert "no data" in render_report({})
    odd = {"model": None, "window": {}, "drift": {"verdict": "warning", "features": [
        {"feature": "empty", "bins": {}},
        {"feature": "nan", "kind": "numeric", "statistic": float("nan"), "threshold": None, "verdict": "insufficient_data",
         "bins": {"edges": [0.0, 1.0, None], "reference": [0.5, None], "live": [1.0]}},
        {"feature": "many", "kind": "categorical", "verdict": "drift",
         "bins": {"categories": [f"c{i}" for i in range(60)], "reference": [1 / 60] * 60, "live": [0.0] * 59 + [1.0]}},
        "not a feature"]},
        "history": [{"time": 1.0, "scores": {"x": None}}, {"time": 2.0, "scores": {"x": 0.1}}, {"time": None}],
        "trigger": {"retrain": True, "reasons": "one reason as a string"}}
    page = render_report(odd)
    outline = Outline(page)
    assert [row["feature"] for row in feature_rows(outline)] == ["many", "nan", "empty"]  # drift, insufficient, rest
    assert "no distribution bins" in page and "warning" in page and "NaN" in page
    many = outline.cards["feature-0"]
    assert many["bars"] == {"reference": svg.MAX_CATEGORIES, "live": svg.MAX_CATEGORIES} and "other (37)" in page
    assert "<li>one reason as a string</li>" in page


def test_output_is_deterministic(data: dict, page: str, tmp_path: Path) -> None:
    assert render_report(copy.deepcopy(data)) == page
    ids = re.findall(r'\sid="([^"]*)"', page)
    assert ids == sorted(ids, key=lambda x: (x != "prediction", int(x.split("-")[1]) if "-" in x else 0))
    assert all(i == "prediction" or re.fullmatch(r"feature-\d+", i) for i in ids)
    path = write_report(data, tmp_path / "deep" / "report.html")
    assert path == tmp_path / "deep" / "report.html" and path.read_bytes() == page.encode("utf-8")


def test_png_reader_handles_every_filter() -> None:
    rng = np.random.default_rng(1)
    for bpp, color in ((3, 2), (4, 6)):
        image = rng.integers(0, 256, size=(10, 7, bpp), dtype=np.uint8)
        png = read_png(_encode_png(image, color))
        assert (png.width, png.height) == (7, 10)
        assert np.array_equal(png.pixels, image[:, :, :3])


def _encode_png(image: np.ndarray, color: int) -> bytes:
    """A PNG whose rows use the five filter types in turn (straight from the PNG spec)."""
    import struct
    import zlib

    height, width, bpp = image.shape
    lines, prior = [], [0] * (width * bpp)
    for r in range(height):
        cur = image[r].reshape(-1).tolist()
        kind = r % 5
        out = []
        for i, x in enumerate(cur):
            a = cur[i - bpp] if i >= bpp else 0
            b, c = prior[i], prior[i - bpp] if i >= bpp else 0
            if kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
            else:
                pred = [0, a, b, (a + b) >> 1][kind]
            out.append((x - pred) & 0xFF)
        lines.append(bytes([kind, *out]))
        prior = cur

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(lines)))
            + chunk(b"IEND", b""))
