"""Metric checks: measure a version over an interval, judge the value against its thresholds.

Four outcomes, as in Argo Rollouts, with one deliberate difference: no data, too few
samples or a NaN is **inconclusive** (the rollout pauses), never a pass. Provider errors
(Prometheus down, bad query) are kept apart from metric failures.

Two sources:
- builtin: scrapes the router's and model servers' Prometheus `/metrics` text before and
  after the interval and computes the value from the counter deltas;
- prometheus: instant queries against a Prometheus HTTP API.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mlops_helpers.rollout.conditions import compile_condition

if TYPE_CHECKING:  # the spec imports the strategies, whose steps use this module
    from mlops_helpers.rollout.spec import AnalysisConfig, MetricSpec

PASS, FAIL, INCONCLUSIVE, ERROR = "pass", "fail", "inconclusive", "error"
_QUANTILES = {"latency_p50_ms": 0.50, "latency_p90_ms": 0.90, "latency_p95_ms": 0.95, "latency_p99_ms": 0.99}


@dataclass
class VersionCounters:
    requests: float = 0.0
    errors: float = 0.0  # 5xx answered to callers
    buckets: dict[float, float] = field(default_factory=dict)  # latency histogram: upper bound -> cumulative count
    feedback_rows: float = 0.0
    feedback_correct: float = 0.0
    feedback_abs_error: float = 0.0

    def minus(self, earlier: VersionCounters) -> VersionCounters:
        # A restarted process resets its counters; a negative delta then means "unknown", not a gain.
        return VersionCounters(
            requests=max(self.requests - earlier.requests, 0.0),
            errors=max(self.errors - earlier.errors, 0.0),
            buckets={bound: max(count - earlier.buckets.get(bound, 0.0), 0.0) for bound, count in self.buckets.items()},
            feedback_rows=max(self.feedback_rows - earlier.feedback_rows, 0.0),
            feedback_correct=max(self.feedback_correct - earlier.feedback_correct, 0.0),
            feedback_abs_error=max(self.feedback_abs_error - earlier.feedback_abs_error, 0.0),
        )


@dataclass
class Snapshot:
    time: float
    versions: dict[str, VersionCounters]

    def counters(self, version: str) -> VersionCounters:
        return self.versions.get(version, VersionCounters())


def histogram_quantile(quantile: float, buckets: dict[float, float]) -> float | None:
    """Prometheus' histogram_quantile over cumulative bucket counts (linear within a bucket)."""
    ordered = sorted(buckets.items())
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = quantile * ordered[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound  # the top finite bucket is the best estimate, as Prometheus does
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


@dataclass
class Value:
    value: float | None
    samples: float | None  # requests or feedback rows behind the value; None when unknown (custom query)
    seconds: float | None = None  # the interval measured


def builtin_value(metric: str, delta: VersionCounters, seconds: float) -> Value:
    """A built-in metric from the counters accumulated during one interval."""
    if metric == "error_rate":
        return Value(delta.errors / delta.requests if delta.requests else None, delta.requests, seconds)
    if metric == "request_rate":
        return Value(delta.requests / seconds if seconds > 0 else None, delta.requests, seconds)
    if metric in _QUANTILES:
        quantile = histogram_quantile(_QUANTILES[metric], delta.buckets)
        return Value(None if quantile is None else quantile * 1000.0, delta.requests, seconds)
    if metric == "accuracy":
        return Value(delta.feedback_correct / delta.feedback_rows if delta.feedback_rows else None, delta.feedback_rows,
                     seconds)
    if metric == "mean_abs_error":
        return Value(delta.feedback_abs_error / delta.feedback_rows if delta.feedback_rows else None, delta.feedback_rows,
                     seconds)
    raise ValueError(f"unknown built-in metric {metric!r}")


@dataclass(frozen=True)
class RequestMetrics:
    """Where the request counters of a version live: the local router's, or the model servers' own
    (on Kubernetes there is no router; the pods' metrics are scraped instead)."""

    requests: str  # counter of answered requests
    duration: str  # latency histogram (base name)
    version: str  # label naming the version
    status: str  # label with the HTTP status
    only: str  # extra matchers: which requests count


ROUTER = RequestMetrics("mlops_router_requests_total", "mlops_router_request_duration_seconds", "version", "code", "")
SERVERS = RequestMetrics("mlops_requests_total", "mlops_request_duration_seconds", "model_version", "status",
                         ',endpoint="/predict"')


def builtin_promql(source: RequestMetrics) -> tuple[dict[str, str], dict[str, str]]:
    """The built-in metrics as PromQL over `source`'s counters and the servers' feedback counters,
    and the queries counting their samples. `or vector(0)` on error counts: with no 5xx at all the
    series does not exist, which must read as 0, not no-data."""
    matchers = f'{source.version}="{{{{version}}}}"{source.only}SELECTOR'
    requests = f"sum(increase({source.requests}{{{matchers}}}[{{{{interval}}}}]))"
    errors = f'sum(increase({source.requests}{{{matchers},{source.status}=~"5.."}}[{{{{interval}}}}]))'
    feedback = 'sum(increase(mlops_feedback_{what}_total{{model_version="{{{{version}}}}"SELECTOR}}[{{{{interval}}}}]))'
    metrics = {
        "error_rate": f"({errors} or vector(0)) / {requests}",
        "request_rate": f"sum(rate({source.requests}{{{matchers}}}[{{{{interval}}}}]))",
        "accuracy": f"{feedback.format(what='correct')} / {feedback.format(what='rows')}",
        "mean_abs_error": f"{feedback.format(what='abs_error')} / {feedback.format(what='rows')}",
        **{name: f"1000 * histogram_quantile({q}, sum by (le) (rate({source.duration}_bucket{{{matchers}}}[{{{{interval}}}}])))"
           for name, q in _QUANTILES.items()},
    }
    return metrics, {"requests": requests, "feedback": feedback.format(what="rows")}


def prometheus_value(query_fn: Callable[[str], float | None], render: Callable[..., str], metric: MetricSpec,
                     version: str, seconds: float, variables: dict[str, str | None], selector: str = "",
                     source: RequestMetrics = ROUTER) -> Value:
    """A metric through Prometheus: the user's query, or the built-in one, plus its sample count."""
    interval = f"{max(int(math.ceil(seconds)), 2)}s"
    params = {**variables, "version": version, "interval": interval}
    if metric.query:
        return Value(query_fn(render(metric.query, **params)), None, seconds)
    queries, sample_queries = builtin_promql(source)
    value = query_fn(render(with_selector(queries[metric.name], selector), **params))
    kind = "feedback" if metric.name in ("accuracy", "mean_abs_error") else "requests"
    samples = query_fn(render(with_selector(sample_queries[kind], selector), **params))
    return Value(value, samples or 0.0, seconds)


def with_selector(template: str, selector: str) -> str:
    """Add the configured label matchers (trusted config, e.g. env="{{env}}") to a built-in query."""
    return template.replace("SELECTOR", f",{selector}" if selector.strip() else "")


@dataclass
class Measurement:
    metric: str
    version: str
    outcome: str
    value: float | None
    samples: float | None
    threshold: str
    message: str
    time: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def judge(metric: MetricSpec, version: str, value: Value) -> Measurement:
    """Compare a measured value with the metric's thresholds; the message always holds both."""
    threshold = describe_threshold(metric)
    shown = "no data" if value.value is None else f"{value.value:.4g}"
    base = f"{metric.name} of v{version}"
    if value.samples is not None and value.samples < metric.min_samples:
        during = f" in {seconds_text(value.seconds)}" if value.seconds is not None else ""
        return Measurement(metric.name, version, INCONCLUSIVE, value.value, value.samples, threshold,
                           f"{base}: only {value.samples:.0f} samples{during}, fewer than min_samples "
                           f"{metric.min_samples} (is the version receiving traffic/feedback?)")
    if value.value is None or math.isnan(value.value) or math.isinf(value.value):
        return Measurement(metric.name, version, INCONCLUSIVE, None, value.samples, threshold, f"{base}: {shown}")
    result = value.value
    failed = _fails(metric, result)
    passed = not failed and _passes(metric, result)
    outcome = FAIL if failed else PASS if passed else INCONCLUSIVE
    verb = {FAIL: "breaks", PASS: "meets", INCONCLUSIVE: "is between the success and failure conditions of"}[outcome]
    return Measurement(metric.name, version, outcome, result, value.samples, threshold,
                       f"{base} = {shown} {verb} {threshold}")


SAMPLE_TIMEOUT_INTERVALS = 3  # deploy.analysis.sample_timeout's default, in intervals


def sample_timeout(config: AnalysisConfig, interval: float) -> float:
    """How long a measurement every `interval` may keep collecting for want of min_samples."""
    return config.sample_timeout if config.sample_timeout is not None else SAMPLE_TIMEOUT_INTERVALS * interval


def seconds_text(seconds: float) -> str:
    return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"


def short_of_samples(metric: MetricSpec, measurement: Measurement) -> bool:
    """Inconclusive only for want of samples: a longer interval may still decide it."""
    return (measurement.outcome == INCONCLUSIVE and measurement.samples is not None
            and measurement.samples < metric.min_samples)


def inconclusive_reason(measurements: list[dict[str, Any]]) -> str:
    """Why an analysis was inconclusive, each cause once: the latest inconclusive measurement of
    each metric, metrics with the same cause (e.g. too few requests) named together."""
    latest = {m["metric"]: m for m in measurements if m["outcome"] in (INCONCLUSIVE, ERROR)}
    causes: dict[str, list[str]] = {}
    for metric, measurement in latest.items():
        prefix = f"{metric} of v{measurement['version']}"
        message: str = measurement["message"]
        cause = message[len(prefix):] if message.startswith(prefix) else f": {message}"
        causes.setdefault(f"v{measurement['version']}{cause}", []).append(metric)
    return "; ".join(f"{', '.join(metrics)} of {cause}" for cause, metrics in causes.items())


def _fails(metric: MetricSpec, result: float) -> bool:
    if metric.failure_condition:
        return compile_condition(metric.failure_condition)(result)
    if metric.success_condition:
        return False  # only a success condition: not meeting it is inconclusive, not a failure
    return (metric.max is not None and result > metric.max) or (metric.min is not None and result < metric.min)


def _passes(metric: MetricSpec, result: float) -> bool:
    if metric.success_condition:
        return compile_condition(metric.success_condition)(result)
    within_max = metric.max is None or result <= metric.max
    within_min = metric.min is None or result >= metric.min
    return within_max and within_min


def describe_threshold(metric: MetricSpec) -> str:
    parts = []
    if metric.success_condition:
        parts.append(f"success when {metric.success_condition}")
    if metric.failure_condition:
        parts.append(f"failure when {metric.failure_condition}")
    if not parts:
        if metric.min is not None:
            parts.append(f"min {metric.min:g}")
        if metric.max is not None:
            parts.append(f"max {metric.max:g}")
    return ", ".join(parts)


@dataclass
class Tally:
    """Counts of one analysis step's measurements; decides the step's verdict."""

    config: AnalysisConfig
    failures: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    inconclusive: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    consecutive_errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, measurement: Measurement) -> str | None:
        """Record one measurement; return 'failed' when the analysis must stop now."""
        name = measurement.metric
        if measurement.outcome == ERROR:
            # An error measured nothing: below the error limit it still counts as inconclusive, so an
            # analysis whose provider kept failing never ends "successful" (Argo Rollouts #4479).
            self.inconclusive[name] += 1
            self.consecutive_errors[name] += 1
            return "failed" if self.consecutive_errors[name] > self.config.consecutive_error_limit else None
        self.consecutive_errors[name] = 0
        if measurement.outcome == FAIL:
            self.failures[name] += 1
            return "failed" if self.failures[name] > self.config.failure_limit else None
        if measurement.outcome == INCONCLUSIVE:
            self.inconclusive[name] += 1
        return None

    def verdict(self) -> str:
        if any(count > self.config.inconclusive_limit for count in self.inconclusive.values()):
            return "inconclusive"
        return "successful"
