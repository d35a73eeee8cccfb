"""Counters per version on Kubernetes, for the built-in analysis metrics and the A/B test.

There is no router in the cluster: the model-server pods count their own requests, latencies and
feedback (labelled `model_version`), and Prometheus scrapes them (the chart's pods carry the
`prometheus.io/*` annotations). A snapshot is a handful of `sum by (model_version)` instant queries
restricted by the configured label matchers (default: the release's namespace); the engine takes
deltas between two snapshots exactly as it does with the local router's counters.
"""

from __future__ import annotations

import time

from mlops_helpers.rollout.analysis import SERVERS, Snapshot, VersionCounters

_PREDICT = f'{SERVERS.only.lstrip(",")}'


def snapshot_queries(selector: str) -> dict[str, str]:
    """One PromQL per counter, each summed by version (and `le` for the latency buckets)."""
    matchers = ",".join(part for part in (_PREDICT, selector.strip()) if part)
    feedback = selector.strip()
    return {
        "requests": f"sum by (model_version) ({SERVERS.requests}{{{matchers}}})",
        "errors": f'sum by (model_version) ({SERVERS.requests}{{{matchers},{SERVERS.status}=~"5.."}})',
        "buckets": f"sum by (model_version, le) ({SERVERS.duration}_bucket{{{matchers}}})",
        "feedback_rows": f"sum by (model_version) (mlops_feedback_rows_total{{{feedback}}})",
        "feedback_correct": f"sum by (model_version) (mlops_feedback_correct_total{{{feedback}}})",
        "feedback_abs_error": f"sum by (model_version) (mlops_feedback_abs_error_total{{{feedback}}})",
    }


def prometheus_snapshot(provider, selector: str, versions: list[str]) -> Snapshot:
    """The counters of `versions` as Prometheus last scraped them (a version without series reads 0)."""
    at = time.time()
    counters = {version: VersionCounters() for version in versions}
    for field, promql in snapshot_queries(selector).items():
        for labels, value in provider.series(promql):
            version = labels.get("model_version")
            if version not in counters or value is None:
                continue
            if field == "buckets":
                counters[version].buckets[float(labels["le"])] = value
            else:
                setattr(counters[version], field, value)
    return Snapshot(at, counters)
