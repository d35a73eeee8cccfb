"""Hand-written inline SVG charts for the monitoring report (no plotting library, no scripts).

Two charts, both returned as an ``<svg>`` string ready to be placed in HTML:

- :func:`distribution_chart`: reference vs live shares as overlaid bars (the live bar drawn
  narrower in front of the reference bar), for numeric bins (ticks at the bin edges) or
  categories (new categories, absent from the reference, drawn and labelled in red);
- :func:`line_chart`: one series over time with an optional dashed threshold line (drift scores)
  or reference line (accuracy).

Every string that ends up in the markup goes through :func:`esc`. Bars are drawn with
``shape-rendering="crispEdges"`` and solid fills, so their colours appear as exact pixels in a
screenshot. The output depends only on the input (no ids, no randomness).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import UTC, datetime

REFERENCE_COLOR = "#5b8bd0"
LIVE_COLOR = "#f28e2b"
NEW_COLOR = "#d62728"
THRESHOLD_COLOR = "#d62728"
AXIS_COLOR = "#555555"
GRID_COLOR = "#e4e4e4"

WIDTH = 540
MAX_CATEGORIES = 24  # more are folded into one "other" bar


def esc(value: object) -> str:
    """HTML/SVG-escape any value's text (quotes included)."""
    return html.escape(str(value), quote=True)


def number(value: object, digits: int = 4) -> str:
    """A number as short text: ``digits`` significant digits, ``—`` when missing or not a number."""
    if value is None or isinstance(value, bool):
        return "—" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if not isinstance(value, float):
        return esc(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if 1 <= abs(value) < 1e9:  # never hide integer digits behind an exponent (2501, not 2.5e+03)
        digits = max(digits, int(math.log10(abs(value))) + 1)
    return f"{value:.{digits}g}"


def utc(timestamp: object, fmt: str = "%Y-%m-%d %H:%M:%S UTC") -> str:
    """A Unix timestamp as UTC text, ``—`` when missing."""
    if not _finite(timestamp):
        return "—"
    return datetime.fromtimestamp(float(timestamp), tz=UTC).strftime(fmt)  # type: ignore[arg-type]


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _shares(values: Sequence[object] | None, n: int) -> list[float]:
    out = [max(float(v), 0.0) if _finite(v) else 0.0 for v in (values or [])][:n]  # type: ignore[arg-type]
    return out + [0.0] * (n - len(out))


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (about ``count`` of them)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(lo / step) * step
    ticks, k = [], 0
    while True:
        tick = first + k * step
        ticks.append(round(tick, 12))
        if tick >= hi - step * 1e-9:
            return ticks
        k += 1


def _svg_open(width: int, height: int, label: str) -> str:
    return (f'<svg class="chart" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(label)}"><title>{esc(label)}</title>')


def _y_axis(ticks: list[float], y_of, left: int, right: int, label: str, top: int, bottom: int) -> list[str]:
    parts = []
    for tick in ticks:
        y = y_of(tick)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="{GRID_COLOR}" shape-rendering="crispEdges"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 3:.1f}" text-anchor="end" class="tick">{number(tick, 3)}</text>')
    middle = (top + bottom) / 2
    parts.append(f'<text x="12" y="{middle:.1f}" text-anchor="middle" class="axis-label" '
                 f'transform="rotate(-90 12 {middle:.1f})">{esc(label)}</text>')
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="{AXIS_COLOR}" shape-rendering="crispEdges"/>')
    parts.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="{AXIS_COLOR}" shape-rendering="crispEdges"/>')
    return parts


def _legend(items: list[tuple[str, str, str]], x: int, y: int) -> list[str]:
    """Legend entries (colour, kind "box"|"dash", text) in one row starting at (x, y)."""
    parts = []
    for color, kind, text in items:
        if kind == "box":
            parts.append(f'<rect x="{x}" y="{y - 9}" width="12" height="10" fill="{color}" shape-rendering="crispEdges"/>')
        else:
            parts.append(f'<line x1="{x}" y1="{y - 4}" x2="{x + 14}" y2="{y - 4}" stroke="{color}" stroke-width="2" stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{x + 17}" y="{y}" class="legend">{esc(text)}</text>')
        x += 24 + 7 * len(text)
    return parts


def _fold_categories(labels: list[str], reference: list[float], live: list[float]) -> tuple[list[str], list[float], list[float], list[bool]]:
    """Keep the largest MAX_CATEGORIES - 1 categories (in their order) and fold the rest into one bar."""
    new = [r <= 0.0 and lv > 0.0 for r, lv in zip(reference, live)]
    if len(labels) <= MAX_CATEGORIES:
        return labels, reference, live, new
    by_size = sorted(range(len(labels)), key=lambda i: (-max(reference[i], live[i]), i))
    keep = sorted(by_size[: MAX_CATEGORIES - 1])
    rest = sorted(by_size[MAX_CATEGORIES - 1:])
    return ([labels[i] for i in keep] + [f"other ({len(rest)})"],
            [reference[i] for i in keep] + [sum(reference[i] for i in rest)],
            [live[i] for i in keep] + [sum(live[i] for i in rest)],
            [new[i] for i in keep] + [False])


def _category_text(label: str, is_new: bool, limit: int) -> str:
    return (label if len(label) <= limit else label[:limit - 1] + "…") + (" (new)" if is_new else "")


def distribution_chart(bins: dict, x_label: str) -> str:
    """Reference vs live shares as overlaid bars.

    ``bins`` is either ``{"edges": [n+1 numbers], "reference": [n], "live": [n]}`` (numeric, equal-width
    slots with the edge values as ticks, so quantile bins stay readable) or
    ``{"categories": [n labels], "reference": [n], "live": [n]}``.
    """
    categorical = "categories" in bins
    if categorical:
        labels = [str(c) for c in bins.get("categories") or []]
        reference, live = _shares(bins.get("reference"), len(labels)), _shares(bins.get("live"), len(labels))
        labels, reference, live, new = _fold_categories(labels, reference, live)
    else:
        edges = list(bins.get("edges") or [])
        n = max(len(edges) - 1, 0)
        labels = [f"{number(edges[i], 3)} – {number(edges[i + 1], 3)}" for i in range(n)]
        reference, live, new = _shares(bins.get("reference"), n), _shares(bins.get("live"), n), [False] * n
    n = len(labels)
    left, right, top = 52, WIDTH - 24, 30
    slot = (right - left) / max(n, 1)
    shown_labels = [_category_text(label, is_new, 16) for label, is_new in zip(labels, new)] if categorical else []
    rotate = any(len(text) * 6.5 > slot - 4 for text in shown_labels)  # about 6.5 px per character at 10 px
    if rotate:  # slanted labels: shorter, so they stay inside the chart
        shown_labels = [_category_text(label, is_new, 12) for label, is_new in zip(labels, new)]
    height = 280 if rotate else 220
    bottom = height - (118 if rotate else 44)
    top_value = max([*reference, *live, 0.0]) or 1.0
    ticks = nice_ticks(0.0, top_value, 5)

    def y_of(v: float) -> float:
        return bottom - (bottom - top) * v / ticks[-1]

    parts = [_svg_open(WIDTH, height, f"{x_label}: reference vs live distribution")]
    parts += _y_axis(ticks, y_of, left, right, "share of rows", top, bottom)
    for i in range(n):
        x0 = left + i * slot
        name = esc(labels[i])
        ref_h, live_h = bottom - y_of(reference[i]), bottom - y_of(live[i])
        live_fill = NEW_COLOR if new[i] else LIVE_COLOR
        parts.append(f'<g><title>{name}: reference {number(reference[i], 3)}, live {number(live[i], 3)}'
                     f'{" (new category)" if new[i] else ""}</title>')
        parts.append(f'<rect class="bar-reference" x="{x0 + 1:.1f}" y="{bottom - ref_h:.1f}" width="{max(slot - 2, 1):.1f}" '
                     f'height="{ref_h:.1f}" fill="{REFERENCE_COLOR}" shape-rendering="crispEdges"/>')
        parts.append(f'<rect class="bar-live{" bar-new" if new[i] else ""}" x="{x0 + slot * 0.25:.1f}" y="{bottom - live_h:.1f}" '
                     f'width="{max(slot * 0.5, 1):.1f}" height="{live_h:.1f}" fill="{live_fill}" shape-rendering="crispEdges"/></g>')
        if categorical:
            text = shown_labels[i]
            cx, ty = x0 + slot / 2, bottom + 12
            cls = "tick new" if new[i] else "tick"
            if rotate:
                parts.append(f'<text x="{cx:.1f}" y="{ty:.1f}" text-anchor="end" class="{cls}" '
                             f'transform="rotate(-45 {cx:.1f} {ty:.1f})">{esc(text)}</text>')
            else:
                parts.append(f'<text x="{cx:.1f}" y="{ty:.1f}" text-anchor="middle" class="{cls}">{esc(text)}</text>')
    if not categorical and n:
        step = math.ceil((n + 1) / 7)
        shown = list(range(0, n + 1, step))
        if shown[-1] != n:  # the last edge always; it replaces a neighbour too close to it
            shown[-1:] = [n] if n - shown[-1] <= step / 2 else [shown[-1], n]
        for i in shown:
            x = left + i * slot
            parts.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" stroke="{AXIS_COLOR}"/>')
            parts.append(f'<text x="{x:.1f}" y="{bottom + 15}" text-anchor="middle" class="tick">{number(edges[i], 3)}</text>')
    axis_text = f"{x_label} ({'category' if categorical else 'bin edges'})"
    parts.append(f'<text x="{(left + right) / 2:.1f}" y="{height - 6}" text-anchor="middle" class="axis-label">{esc(axis_text)}</text>')
    legend = [(REFERENCE_COLOR, "box", "reference"), (LIVE_COLOR, "box", "live")]
    if any(new):
        legend.append((NEW_COLOR, "box", "new in live"))
    parts += _legend(legend, left, 16)
    parts.append("</svg>")
    return "".join(parts)


def line_chart(points: Sequence[tuple[float, float | None]], *, y_label: str, title: str,
               threshold: float | None = None, threshold_label: str = "threshold",
               reference: float | None = None, reference_label: str = "reference",
               zero_based: bool = True, width: int = WIDTH) -> str:
    """One series over time (x: Unix timestamps, shown in UTC) with optional dashed horizontal lines.

    Missing values (None, NaN) leave a gap. ``threshold`` is drawn in red, ``reference`` in blue.
    """
    pts = sorted((float(t), float(v) if _finite(v) else None) for t, v in points if _finite(t))
    values = [v for _, v in pts if v is not None]
    extra = [x for x in (threshold, reference) if _finite(x)]
    lo = min([*values, *extra]) if values or extra else 0.0
    hi = max([*values, *extra]) if values or extra else 1.0
    if zero_based:
        lo = min(lo, 0.0)
    else:
        pad = (hi - lo) * 0.1 or 0.05
        lo = lo - pad
    ticks = nice_ticks(lo, hi if hi > lo else lo + 1.0, 5)
    height, left, right, top, bottom = 210, 52, width - 24, 30, 210 - 40
    t0, t1 = (pts[0][0], pts[-1][0]) if pts else (0.0, 1.0)
    span = (t1 - t0) or 1.0

    def x_of(t: float) -> float:
        return left + (right - left) * (t - t0) / span

    def y_of(v: float) -> float:
        return bottom - (bottom - top) * (v - ticks[0]) / ((ticks[-1] - ticks[0]) or 1.0)

    parts = [_svg_open(width, height, title)]
    parts += _y_axis(ticks, y_of, left, right, y_label, top, bottom)
    fmt = "%m-%d %H:%M" if span < 300 * 86400 else "%Y-%m-%d"
    last = (4 if width >= 450 else 2) if len(pts) > 2 else 1
    for k in range(last + 1):
        t = t0 + span * k / last
        x = x_of(t)
        anchor = "start" if k == 0 else "end" if k == last else "middle"
        parts.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" stroke="{AXIS_COLOR}"/>')
        parts.append(f'<text x="{x:.1f}" y="{bottom + 15}" text-anchor="{anchor}" class="tick">{esc(utc(t, fmt))}</text>')
    parts.append(f'<text x="{(left + right) / 2:.1f}" y="{height - 6}" text-anchor="middle" class="axis-label">time (UTC)</text>')
    legend = [(LIVE_COLOR, "box", y_label)]
    for value, color, label in ((threshold, THRESHOLD_COLOR, threshold_label), (reference, REFERENCE_COLOR, reference_label)):
        if _finite(value):
            y = y_of(value)  # type: ignore[arg-type]
            parts.append(f'<line class="ref-line" x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="{color}" '
                         f'stroke-width="1.5" stroke-dasharray="6 4"/>')
            legend.append((color, "dash", f"{label} {number(value, 3)}"))
    runs: list[list[str]] = [[]]
    for t, v in pts:
        if v is None:
            runs.append([])
        else:
            runs[-1].append(f"{x_of(t):.1f},{y_of(v):.1f}")
    for run in runs:
        if len(run) > 1:
            parts.append(f'<polyline class="series" points="{" ".join(run)}" fill="none" stroke="{LIVE_COLOR}" stroke-width="2"/>')
    if len(pts) <= 60:
        for t, v in pts:
            if v is not None:
                parts.append(f'<circle cx="{x_of(t):.1f}" cy="{y_of(v):.1f}" r="2.5" fill="{LIVE_COLOR}">'
                             f'<title>{esc(utc(t))}: {number(v)}</title></circle>')
    parts += _legend(legend, left, 16)
    parts.append("</svg>")
    return "".join(parts)
