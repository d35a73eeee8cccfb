"""The monitoring report as one self-contained HTML file.

``render_report(data)`` turns the JSON-safe monitoring dict (model, version, environment, window,
``drift`` as produced by ``DriftReport.to_dict()``, drift ``history``, ``performance``, ``trigger``)
into HTML; ``write_report(data, path)`` writes it. The page needs nothing from the network: the
style sheet is inline, the charts are inline SVG (see :mod:`mlops_helpers.monitoring.svg`), and
there is no script. Every string taken from ``data`` is escaped. A missing or empty part of
``data`` renders as "no data" instead of failing. The same input gives the same bytes.

Optional keys shown when present (the monitoring check produces them): ``findings`` (trigger
condition -> state), ``performance.accuracy_floor`` (drawn as the accuracy chart's threshold),
``performance.min_feedback`` and ``performance.mean_abs_error``. For the tests (``method`` ks or
chi2) the threshold is a significance level compared with the p-value, so the report shows the
p-value against it and draws no threshold line on that feature's statistic over time.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from mlops_helpers.monitoring.svg import distribution_chart, esc, line_chart, number, utc

STYLE = """
body{font-family:system-ui,"Segoe UI","DejaVu Sans",Arial,sans-serif;color:#222;margin:0 auto;max-width:1240px;padding:16px 24px;line-height:1.4}
h1{font-size:1.5em;margin:0 0 4px}h2{font-size:1.2em;border-bottom:2px solid #ddd;padding-bottom:3px;margin-top:28px}
h3{font-size:1em;margin:0 0 4px}h3.sub{margin:16px 0 6px}.meta{color:#555;margin:0}.muted{color:#777}.nodata{color:#777;font-style:italic}
.badge{display:inline-block;white-space:nowrap;padding:2px 10px;border-radius:10px;font-weight:600;font-size:.9em;color:#fff;vertical-align:middle}
.bad{background:#c62828}.good{background:#2e7d32}.neutral{background:#757575}
.wide{overflow-x:auto}table{border-collapse:collapse;font-size:.78em;margin:6px 0}th,td{border:1px solid #ddd;padding:2px 5px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td .badge{font-size:.85em;padding:1px 7px}td.reason{min-width:130px;max-width:300px}td.name{min-width:110px}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}tr.drift td{background:#fdecea}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:14px}.charts.small{grid-template-columns:repeat(auto-fill,minmax(375px,1fr))}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 10px;break-inside:avoid;page-break-inside:avoid}
svg.chart{max-width:100%;height:auto;display:block}svg text{font-family:inherit}
.tick{font-size:10px;fill:#333}.tick.new{fill:#d62728;font-weight:700}.axis-label{font-size:11px;fill:#333}.legend{font-size:11px;fill:#333}
@media print{body{max-width:none;padding:0;font-size:10pt}.wide{overflow:visible}h2{break-after:avoid}.charts{grid-template-columns:1fr 1fr}a{color:inherit;text-decoration:none}}
"""

SMALL_WIDTH = 350  # per-feature drift-score charts, three to a row on a wide screen
_VERDICTS = {"drift": ("drift", "bad"), "no_drift": ("no drift", "good"), "insufficient_data": ("insufficient data", "neutral")}
TESTS = ("ks", "chi2")
_ORDER = {"drift": 0, "insufficient_data": 1}  # everything else after, in the order given


def _badge(verdict: object) -> str:
    known = _VERDICTS.get(verdict) if isinstance(verdict, str) else None
    text, cls = known or (str(verdict) if verdict is not None else "no data", "neutral")
    return f'<span class="badge {cls}">{esc(text)}</span>'


def _no_data(what: str) -> str:
    return f'<p class="nodata">no data: {esc(what)}</p>'


def _percent(value: object) -> str:
    return number(value * 100, 3) + "%" if isinstance(value, (int, float)) and not isinstance(value, bool) else "—"


def _dicts(items: object) -> list[dict]:
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def sorted_features(drift: dict) -> list[dict]:
    """The drift report's features, drifted first, then insufficient data, then the rest (stable)."""
    return sorted(_dicts(drift.get("features")), key=lambda f: _ORDER.get(str(f.get("verdict")), 2))


def _effects(feature: dict) -> dict:
    effects = feature.get("effects")
    return effects if isinstance(effects, dict) else {}


def _effect_names(features: Iterable[dict]) -> list[str]:
    names: list[str] = []
    for feature in features:
        for name in _effects(feature):
            if name not in names:
                names.append(name)
    return names


def is_test(feature: dict) -> bool:
    """ks and chi2 compare their p-value with the threshold (a significance level); distances their statistic."""
    return feature.get("method") in TESTS


def _compared(feature: dict) -> str:
    """The number the verdict rests on, next to its threshold."""
    method, threshold = esc(feature.get("method", "—")), number(feature.get("threshold"))
    if is_test(feature):
        return (f'{method} p-value {number(feature.get("p_value"))} <span class="muted">vs threshold {threshold}</span>'
                f' · statistic {number(feature.get("statistic"))}')
    p_value = feature.get("p_value")
    return (f'{method} {number(feature.get("statistic"))} <span class="muted">vs threshold {threshold}</span>'
            + (f" · p-value {number(p_value)}" if p_value is not None else ""))


def _null_rates(feature: dict) -> str:
    rates = feature.get("null_rate")
    if not isinstance(rates, list) or len(rates) != 2:
        return "—"
    return f"{_percent(rates[0])} → {_percent(rates[1])}"


def _header(data: dict, drift: dict) -> str:
    window = data.get("window") or {}
    trigger = data.get("trigger") or {}
    retrain = ""
    if "retrain" in trigger:
        retrain = (' <span class="badge bad">retrain</span>' if trigger["retrain"]
                   else ' <span class="badge good">no retrain</span>')
    return (f'<header><h1>Monitoring report: {esc(data.get("model", "?"))} '
            f'<span class="muted">version {esc(data.get("version", "?"))}</span> {_badge(drift.get("verdict"))}{retrain}</h1>'
            f'<p class="meta">environment <b>{esc(data.get("environment", "?"))}</b> · window '
            f'{esc(utc(window.get("start")))} → {esc(utc(window.get("end")))} · {number(window.get("rows"))} rows · '
            f'generated {esc(utc(data.get("generated_at")))}</p></header>')


def _summary(drift: dict, features: list[dict]) -> str:
    if not drift:
        return "<h2>Drift summary</h2>" + _no_data("no drift report")
    drifted = sum(1 for f in features if f.get("verdict") == "drift")
    head = (f'<p>Overall verdict {_badge(drift.get("verdict"))}: {drifted} of {len(features)} features drifted, '
            f'drifted share {_percent(drift.get("drifted_share"))} vs threshold {_percent(drift.get("drift_share_threshold"))}, '
            f'{number(drift.get("rows"))} rows.</p>')
    if not features:
        return "<h2>Drift summary</h2>" + head + _no_data("no features in the drift report")
    return "<h2>Drift summary</h2>" + head + _feature_table(features, "feature")


def _feature_table(features: list[dict], anchor: str) -> str:
    effects = _effect_names(features)
    head = "".join(f"<th>{esc(name).replace('_', '_<wbr>')}</th>" for name in effects)  # null_rate_delta may wrap
    rows = []
    for i, f in enumerate(features):
        cells = "".join(f'<td class="num">{number(_effects(f).get(name))}</td>' for name in effects)
        cls = ' class="drift"' if f.get("verdict") == "drift" else ""
        target = anchor if anchor == "prediction" else f"{anchor}-{i}"
        rows.append(f'<tr{cls}><td class="name"><a href="#{target}">{esc(f.get("feature", "?"))}</a></td><td>{esc(f.get("kind", "—"))}</td>'
                    f'<td>{_badge(f.get("verdict"))}</td><td>{esc(f.get("method", "—"))}</td>'
                    f'<td class="num">{number(f.get("statistic"))}</td>'
                    f'<td class="num">{"p &lt; " if is_test(f) else ""}{number(f.get("threshold"))}</td>'
                    f'<td class="num">{number(f.get("p_value"))}</td>{cells}<td class="num">{_null_rates(f)}</td>'
                    f'<td class="num">{number(f.get("samples"))}</td><td class="reason">{esc(f.get("reason") or "")}</td></tr>')
    return (f'<div class="wide"><table><thead><tr><th>feature</th><th>kind</th><th>verdict</th><th>method</th><th>statistic</th><th>threshold</th><th>p-value</th>'
            f'{head}<th>null rate ref → live</th><th>samples</th><th>reason</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
            '<p class="meta">threshold: the limit of the statistic for distances (psi, wasserstein, jensenshannon); '
            'for the tests (ks, chi2) the significance level the p-value is compared with.</p>')


def _feature_card(feature: dict, anchor: str) -> str:
    name = str(feature.get("feature", "?"))
    bins = feature.get("bins")
    chart = distribution_chart(bins, name) if isinstance(bins, dict) and bins else _no_data("no distribution bins")
    return (f'<div class="card" id="{esc(anchor)}"><h3>{esc(name)} {_badge(feature.get("verdict"))}</h3>'
            f'<p class="meta">{_compared(feature)}</p>{chart}</div>')


def _distributions(features: list[dict]) -> str:
    if not features:
        return "<h2>Distributions</h2>" + _no_data("no features")
    cards = "".join(_feature_card(f, f"feature-{i}") for i, f in enumerate(features))
    return f'<h2>Distributions: reference vs live</h2><div class="charts">{cards}</div>'


def _prediction(drift: dict) -> str:
    prediction = drift.get("prediction")
    if not isinstance(prediction, dict):
        return "<h2>Prediction drift</h2>" + _no_data("no prediction drift in the report")
    return ("<h2>Prediction drift</h2>" + _feature_table([prediction], "prediction")
            + f'<div class="charts">{_feature_card(prediction, "prediction")}</div>')


def _history(history: list[dict], features: list[dict], drift: dict) -> str:
    if len(history) < 2:
        return "<h2>Drift over time</h2>" + _no_data(f"{len(history)} drift checks in the history, a chart needs 2")
    # Scores are statistics: a threshold line only where the threshold bounds the statistic.
    thresholds = {f.get("feature"): f.get("threshold") for f in features if not is_test(f)}
    names = [f.get("feature") for f in features]
    for point in history:
        names += [name for name in (point.get("scores") or {}) if name not in names]
    cards = ['<div class="card"><h3>Drifted share</h3>' + line_chart(
        [(p.get("time"), p.get("drifted_share")) for p in history], y_label="drifted share", title="drifted share over time",
        threshold=drift.get("drift_share_threshold")) + "</div>"]
    for name in names:
        points = [(p.get("time"), (p.get("scores") or {}).get(name)) for p in history]
        if sum(1 for _, v in points if v is not None) == 0:
            continue
        cards.append(f'<div class="card"><h3>{esc(name)}</h3>'
                     + line_chart(points, y_label="drift score", title=f"{name}: drift score over time",
                                  threshold=thresholds.get(name), width=SMALL_WIDTH) + "</div>")
    return (f'<h2>Drift over time</h2><div class="charts">{cards[0]}</div>'
            f'<h3 class="sub">Drift score per feature</h3><div class="charts small">{"".join(cards[1:])}</div>')


def _performance(performance: dict) -> str:
    """Live accuracy vs the reference (and the floor below which the trigger fires, when given)."""
    if not performance:
        return "<h2>Model performance</h2>" + _no_data("no performance data")
    accuracy, reference = performance.get("accuracy"), performance.get("reference_accuracy")
    floor = performance.get("accuracy_floor")
    if accuracy is None:
        text = _no_data("no live accuracy (no feedback with ground truth yet)")
    else:
        numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (accuracy, reference))
        delta = f" (Δ {number(accuracy - reference, 3)})" if numeric else ""
        text = f"<p>Live accuracy <b>{number(accuracy)}</b> vs reference accuracy {number(reference)}{delta}"
        text += f", floor {number(floor)}</p>" if floor is not None else "</p>"
    extra = f' (at least {number(performance["min_feedback"])} needed)' if performance.get("min_feedback") is not None else ""
    text += f'<p class="meta">feedback rows: {number(performance.get("feedback_rows"))}{extra}'
    if performance.get("mean_abs_error") is not None:
        text += f' · mean absolute error {number(performance["mean_abs_error"])}'
    text += "</p>"
    history = _dicts(performance.get("history"))
    if len(history) >= 2:
        chart = line_chart([(p.get("time"), p.get("accuracy")) for p in history], y_label="live accuracy",
                           title="live accuracy over time", reference=reference, reference_label="reference accuracy",
                           threshold=floor, threshold_label="accuracy floor", zero_based=False)
        text += f'<div class="charts"><div class="card"><h3>Live accuracy over time</h3>{chart}</div></div>'
    else:
        text += _no_data(f"{len(history)} accuracy points over time, a chart needs 2")
    return "<h2>Model performance</h2>" + text


_SERVING = [("latency_p50_ms", "latency p50", " ms"), ("latency_p99_ms", "latency p99", " ms"),
            ("error_rate", "error rate", "%"), ("cpu_percent", "CPU", "%"), ("memory_mb", "memory", " MB")]


def _serving(performance: dict) -> str:
    if not any(performance.get(key) is not None for key, _, _ in _SERVING):
        return "<h2>Serving</h2>" + _no_data("no serving metrics")
    rows = []
    for key, label, unit in _SERVING:
        value = performance.get(key)
        shown = "no data" if value is None else (_percent(value) if key == "error_rate" else number(value) + unit)
        rows.append(f'<tr><th>{label}</th><td class="num">{esc(shown)}</td></tr>')
    return f'<h2>Serving</h2><table><tbody>{"".join(rows)}</tbody></table>'


def _findings(findings: object) -> str:
    """Each trigger condition's state (fired, clear, insufficient_data, off), when the check reports them."""
    if not isinstance(findings, dict) or not findings:
        return ""
    cells = "".join(f"<tr><th>{esc(name)}</th><td>{esc(state)}</td></tr>" for name, state in findings.items())
    return f'<table><thead><tr><th>condition</th><th>state</th></tr></thead><tbody>{cells}</tbody></table>'


def _trigger(trigger: dict, findings: object = None) -> str:
    if not trigger:
        return "<h2>Retraining trigger</h2>" + _no_data("no trigger decision") + _findings(findings)
    retrain = trigger.get("retrain")
    badge = '<span class="badge bad">retrain</span>' if retrain else '<span class="badge good">no retrain</span>'
    reasons = trigger.get("reasons") or []
    reasons = [reasons] if isinstance(reasons, str) else list(reasons)
    items = "".join(f"<li>{esc(r)}</li>" for r in reasons) if reasons else "<li class=\"muted\">no reasons given</li>"
    cooldown = trigger.get("cooldown_until")
    return (f'<h2>Retraining trigger</h2><p>Decision: {badge}</p><ul>{items}</ul>'
            f'<p class="meta">cooldown until: {esc(utc(cooldown)) if cooldown is not None else "none"}</p>'
            + _findings(findings))


def render_report(data: dict) -> str:
    """The report for ``data`` (see the module docstring) as HTML text."""
    drift = data.get("drift") if isinstance(data.get("drift"), dict) else {}
    performance = data.get("performance") if isinstance(data.get("performance"), dict) else {}
    trigger = data.get("trigger") if isinstance(data.get("trigger"), dict) else {}
    features = sorted_features(drift)
    title = f'Monitoring report: {data.get("model", "?")} {data.get("version", "?")} ({data.get("environment", "?")})'
    body = "".join([
        _header(data, drift), _summary(drift, features), _trigger(trigger, data.get("findings")), _prediction(drift) if drift else "",
        _distributions(features), _history(_dicts(data.get("history")), features, drift),
        _performance(performance), _serving(performance),
    ])
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{esc(title)}</title>'
            f"<style>{STYLE}</style></head><body>{body}</body></html>\n")


def write_report(data: dict, path: Path) -> Path:
    """Write the report for ``data`` to ``path`` (UTF-8, parent folders created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(data), encoding="utf-8")
    return path
