"""Test data for the monitoring report, and a small PNG reader for its screenshots.

``breast_cancer_report()`` builds a realistic report dict from scikit-learn's breast-cancer data:
the first half of a shuffled split is the reference, the second half the live window, with shifts
injected into a few features and a new category in a categorical feature. Drift statistics are
computed here with numpy/scipy histograms, independently of mlops_helpers.monitoring's own drift
code. ``read_png()`` decodes an 8-bit RGB(A) PNG with zlib/struct and numpy (no Pillow).
``Outline`` parses a rendered page (or a browser's DOM dump) into what the report tests look at.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from html.parser import HTMLParser

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.stats import ks_2samp, wasserstein_distance
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

PSI_THRESHOLD = 0.2
T0 = 1795950000.0 - 12 * 3600
# A feature name with every character HTML cares about.
NASTY = """<b>"size" & 'class'</b>"""
NEW_CATEGORY = "<giant> & co"
KS_FEATURES = ("worst texture",)  # judged by a test: its threshold is a significance level for the p-value


def _psi(ref: np.ndarray, live: np.ndarray, eps: float = 1e-4) -> float:
    r, lv = np.clip(ref, eps, None), np.clip(live, eps, None)
    return float(np.sum((lv - r) * np.log(lv / r)))


def _numeric(name: str, ref: np.ndarray, live: np.ndarray, tests: int) -> dict:
    """PSI on reference deciles; a name in KS_FEATURES is judged by the KS test instead (Bonferroni over `tests`)."""
    inner = np.unique(np.quantile(ref, np.linspace(0, 1, 11))[1:-1])
    edges = [float(min(ref.min(), live.min())), *map(float, inner), float(max(ref.max(), live.max()))]
    ref_share = np.histogram(ref, edges)[0] / len(ref)
    live_share = np.histogram(live, edges)[0] / len(live)
    psi = _psi(ref_share, live_share)
    ks = ks_2samp(ref, live)
    verdict = "drift" if psi > PSI_THRESHOLD else "no_drift"
    method, statistic, threshold, p_value = "psi", round(psi, 6), PSI_THRESHOLD, None
    reason = f"psi {psi:.3g} {'>' if verdict == 'drift' else '<='} {PSI_THRESHOLD}"
    if name in KS_FEATURES:
        method, statistic, threshold, p_value = "ks", round(float(ks.statistic), 6), 0.05 / tests, float(ks.pvalue)
        verdict = "drift" if p_value < threshold else "no_drift"
        reason = f"KS p={p_value:.2g} {'<' if verdict == 'drift' else '>='} {threshold:.2g} (0.05 / {tests} columns)"
    return {
        "feature": name, "kind": "numeric", "method": method, "statistic": statistic, "threshold": threshold,
        "p_value": p_value, "verdict": verdict, "samples": int(len(live)),
        "effects": {"psi": round(psi, 6), "ks": round(float(ks.statistic), 6),
                    "wasserstein": round(float(wasserstein_distance(ref, live)), 6),
                    "jensenshannon": round(float(jensenshannon(ref_share, live_share)), 6), "null_rate_delta": 0.0},
        "null_rate": [0.0, 0.0], "reason": reason,
        "bins": {"edges": edges, "reference": ref_share.round(6).tolist(), "live": live_share.round(6).tolist()},
    }


def _categorical(name: str, ref: list[str], live: list[str], null_rate: list[float]) -> dict:
    categories = sorted(set(ref)) + sorted(set(live) - set(ref))
    ref_share = np.array([ref.count(c) for c in categories]) / len(ref)
    live_share = np.array([live.count(c) for c in categories]) / len(live)
    psi = _psi(ref_share, live_share)
    verdict = "drift" if psi > PSI_THRESHOLD else "no_drift"
    return {
        "feature": name, "kind": "categorical", "method": "psi", "statistic": round(psi, 6), "threshold": PSI_THRESHOLD,
        "p_value": None, "verdict": verdict, "samples": len(live),
        "effects": {"psi": round(psi, 6), "jensenshannon": round(float(jensenshannon(ref_share, live_share)), 6),
                    "null_rate_delta": round(null_rate[1] - null_rate[0], 6)},
        "null_rate": null_rate, "reason": f"psi {psi:.3g}; new categories: {[c for c in categories if c not in ref]}",
        "bins": {"categories": categories, "reference": ref_share.round(6).tolist(), "live": live_share.round(6).tolist()},
    }


def _size_class(area: np.ndarray) -> list[str]:
    return ["small" if a < 500 else "medium" if a < 900 else NEW_CATEGORY if a > 1500 else "large" for a in area]


def breast_cancer_report(shift: bool = True) -> dict:
    """A report dict as the monitoring code produces it, with drift injected when ``shift``."""
    data = load_breast_cancer()
    x, y, names = data.data, data.target, list(data.feature_names)
    order = np.random.default_rng(7).permutation(len(y))
    ref_idx, live_idx = order[: len(y) // 2], order[len(y) // 2:]
    ref, live = x[ref_idx].copy(), x[live_idx].copy()
    if shift:
        live[:, names.index("mean radius")] *= 1.35
        live[:, names.index("worst texture")] += 6.0
        live[:, names.index("mean smoothness")] = np.random.default_rng(3).normal(0.12, 0.01, len(live))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(ref, y[ref_idx])
    features = [_numeric(str(name), ref[:, i], live[:, i], len(names) + 1) for i, name in enumerate(names)]
    area = names.index("mean area")
    ref_cls = _size_class(np.minimum(x[ref_idx, area], 1500))  # the reference never saw a giant tumour
    live_cls = _size_class(live[:, area] * (1.1 if shift else 1.0))
    features.append(_categorical(NASTY, ref_cls, live_cls, [0.0, 0.025]))
    labels = np.array(["malignant", "benign"])
    prediction = _categorical("prediction", labels[model.predict(ref)].tolist(), labels[model.predict(live)].tolist(), [0.0, 0.0])
    drifted = sum(f["verdict"] == "drift" for f in features)
    share = drifted / len(features)
    history = []
    for k in range(12):  # the shift grows over the window
        scale = (k + 1) / 12
        history.append({"time": T0 + k * 3600, "verdict": "drift" if share * scale >= 0.1 else "no_drift",
                        "drifted_share": round(share * scale, 4),
                        "scores": {f["feature"]: round(0.01 + f["statistic"] * scale, 6) for f in features}})
    chunks = np.array_split(np.arange(len(live)), 8)
    accuracy_history = [{"time": T0 + 1.5 * k * 3600, "accuracy": round(float(model.score(live[c], y[live_idx][c])), 4),
                         "rows": int(len(c))} for k, c in enumerate(chunks)]
    accuracy = round(float(model.score(live, y[live_idx])), 4)
    reference_accuracy = round(float(model.score(ref, y[ref_idx])), 4)
    floor = round(reference_accuracy - 0.05, 4)
    return {
        "model": "breast-cancer", "version": "3", "environment": "production", "generated_at": 1795950000.0,
        "window": {"start": T0, "end": T0 + 12 * 3600, "rows": int(len(live))},
        "drift": {"verdict": "drift" if share >= 0.1 else "no_drift", "drifted_share": round(share, 6),
                  "drift_share_threshold": 0.1, "rows": int(len(live)), "features": features,
                  "prediction": prediction, "settings": {"numeric_method": "psi", "bins": 10}},
        "history": history,
        "findings": {"drift": "fired" if drifted else "clear", "accuracy": "fired" if accuracy < floor else "clear",
                     "data": "off"},
        "performance": {"accuracy": accuracy, "feedback_rows": int(len(live)), "reference_accuracy": reference_accuracy,
                        "history": accuracy_history, "accuracy_floor": floor, "min_feedback": 100,
                        "latency_p50_ms": 3.1, "latency_p99_ms": 9.0, "error_rate": 0.002, "cpu_percent": 12.0,
                        "memory_mb": 180.0},
        "trigger": {"retrain": drifted > 0 or accuracy < floor,
                    "reasons": [f"{drifted} of {len(features)} features drifted (share {share:.2f} >= 0.1)"]
                    + ([f"live accuracy {accuracy:.3f} < floor {floor:.3f} over {len(live)} rows & falling"]
                       if accuracy < floor else []),
                    "cooldown_until": None},
    }


@dataclass
class Png:
    width: int
    height: int
    pixels: np.ndarray  # (height, width, 3) uint8, RGB (alpha dropped)


def read_png(raw: bytes) -> Png:
    """Decode an 8-bit, non-interlaced RGB or RGBA PNG; raise ValueError for anything else."""
    if raw[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG (bad signature)")
    pos, idat, header = 8, [], None
    while pos < len(raw):
        length, kind = struct.unpack(">I4s", raw[pos:pos + 8])
        body = raw[pos + 8:pos + 8 + length]
        if zlib.crc32(kind + body) != struct.unpack(">I", raw[pos + 8 + length:pos + 12 + length])[0]:
            raise ValueError(f"bad CRC in chunk {kind!r}")
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if header is None:
        raise ValueError("no IHDR chunk")
    width, height, depth, color, _, _, interlace = header
    if depth != 8 or color not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG: bit depth {depth}, colour type {color}, interlace {interlace}")
    bpp = 3 if color == 2 else 4
    stride = width * bpp
    data = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8)
    if len(data) != height * (stride + 1):
        raise ValueError(f"image data has {len(data)} bytes, expected {height * (stride + 1)}")
    rows = data.reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.uint8)
    prior = np.zeros(stride, dtype=np.uint8)
    for r in range(height):
        kind, line = rows[r, 0], rows[r, 1:]
        if kind == 0:
            cur = line.copy()
        elif kind == 1:  # Sub: running sum per channel, modulo 256
            cur = np.cumsum(line.reshape(width, bpp), axis=0, dtype=np.uint8).reshape(stride)
        elif kind == 2:
            cur = line + prior
        elif kind in (3, 4):
            cur = _unfilter_slow(kind, line.tolist(), prior.tolist(), bpp)
        else:
            raise ValueError(f"bad filter type {kind} in row {r}")
        out[r] = cur
        prior = out[r]
    return Png(width, height, out.reshape(height, width, bpp)[:, :, :3])


def _unfilter_slow(kind: int, line: list[int], prior: list[int], bpp: int) -> np.ndarray:
    """Average (3) and Paeth (4) filters, byte by byte."""
    cur = [0] * len(line)
    for i, value in enumerate(line):
        a = cur[i - bpp] if i >= bpp else 0
        b = prior[i]
        if kind == 3:
            cur[i] = (value + ((a + b) >> 1)) & 0xFF
        else:
            c = prior[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            cur[i] = (value + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
    return np.array(cur, dtype=np.uint8)


def color_count(png: Png, hex_color: str) -> int:
    """How many pixels have exactly this colour (#rrggbb)."""
    rgb = np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.uint8)
    return int(np.all(png.pixels == rgb, axis=2).sum())


def distinct_colors(png: Png) -> int:
    flat = png.pixels.reshape(-1, 3).astype(np.uint32)
    return int(len(np.unique((flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2])))


class Outline(HTMLParser):
    """What the tests look at in a page: cards with their SVG elements, table rows, sections, links."""

    VOID = {"meta", "link", "br", "img", "input", "hr", "rect", "line", "circle", "polyline", "path"}

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict]] = []
        self.cards: dict[str, dict] = {}  # card id -> {"svgs", "bars", "new", "labels", "title"}
        self.tables: list[list[list[str]]] = []  # rows of cell texts, per table
        self.sections: dict[str, str] = {}  # h2 text -> text of everything up to the next h2
        self.tags: list[tuple[str, dict]] = []
        self._section: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._h2: list[str] | None = None
        self._card: str | None = None
        self._card_depth = 0
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append((tag, a))
        if tag == "div" and "card" in a.get("class", "").split() and a.get("id"):
            self._card, self._card_depth = a["id"], len(self.stack)
            self.cards[self._card] = {"svgs": [], "bars": {"reference": 0, "live": 0}, "new": [], "title": ""}
        card = self.cards.get(self._card) if self._card else None
        if card is not None:
            if tag == "svg":
                card["svgs"].append(a)
            classes = a.get("class", "").split()
            if tag == "rect" and "bar-reference" in classes:
                card["bars"]["reference"] += 1
            if tag == "rect" and "bar-live" in classes:
                card["bars"]["live"] += 1
            if tag == "rect" and "bar-new" in classes:
                card["new"].append(a)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "h2":
            self._h2 = []
        if tag not in self.VOID:
            self.stack.append((tag, a))

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        while self.stack:
            open_tag, _ = self.stack.pop()
            if open_tag == tag:
                break
        if tag == "div" and self._card and len(self.stack) == self._card_depth:
            self._card = None
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None
        elif tag == "h2" and self._h2 is not None:
            self._section = " ".join("".join(self._h2).split())
            self.sections[self._section] = ""
            self._h2 = None

    def handle_data(self, text: str) -> None:
        for part in (self._cell, self._h2):
            if part is not None:
                part.append(text)
        if self._section is not None and self._h2 is None:
            self.sections[self._section] += text
        if self._card and not self.cards[self._card]["title"] and self.stack and self.stack[-1][0] == "h3":
            self.cards[self._card]["title"] = text


def section(outline: Outline, prefix: str) -> str:
    matches = [text for title, text in outline.sections.items() if title.startswith(prefix)]
    assert len(matches) == 1, f"no single section {prefix!r} in {list(outline.sections)}"
    return matches[0]


def feature_rows(outline: Outline, table: int = 0) -> list[dict[str, str]]:
    """The rows of a feature table (0: the drift summary, 1: the prediction) as {column: text}."""
    tables = [t for t in outline.tables if t and t[0][:3] == ["feature", "kind", "verdict"]]
    header, *rows = tables[table]
    return [dict(zip(header, row)) for row in rows]
