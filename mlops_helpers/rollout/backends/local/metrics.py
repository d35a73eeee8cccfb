"""Counters per version in a local deployment, for the built-in analysis metrics and the A/B test.

The router counts requests, errors and latencies per version (its `/metrics` on the admin port);
the model servers count the feedback they received (labelled `model_version`). A snapshot is
both expositions parsed into `VersionCounters`; the engine takes deltas between two snapshots
exactly as it does with the Kubernetes backend's Prometheus queries.
"""

from __future__ import annotations

import time
from collections import defaultdict

from mlops_helpers.rollout.analysis import ROUTER, Snapshot, VersionCounters

_ROUTER_BUCKET = f"{ROUTER.duration}_bucket"


def parse_snapshot(router_exposition: str, server_expositions: dict[str, list[str]], at: float | None = None) -> Snapshot:
    """Counters per version from the router's exposition and each version's model servers' expositions."""
    from prometheus_client.parser import text_string_to_metric_families

    versions: dict[str, VersionCounters] = defaultdict(VersionCounters)
    for family in text_string_to_metric_families(router_exposition):
        for sample in family.samples:
            version = sample.labels.get(ROUTER.version)
            if version is None:
                continue
            counters = versions[version]
            if sample.name == ROUTER.requests:
                counters.requests += sample.value
                if sample.labels.get(ROUTER.status, "").startswith("5"):
                    counters.errors += sample.value
            elif sample.name == _ROUTER_BUCKET:
                bound = float(sample.labels["le"])
                counters.buckets[bound] = counters.buckets.get(bound, 0.0) + sample.value
    for version, texts in server_expositions.items():
        counters = versions[version]
        for text in texts:
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.labels.get("model_version") != version:
                        continue
                    if sample.name == "mlops_feedback_rows_total":
                        counters.feedback_rows += sample.value
                    elif sample.name == "mlops_feedback_correct_total":
                        counters.feedback_correct += sample.value
                    elif sample.name == "mlops_feedback_abs_error_total":
                        counters.feedback_abs_error += sample.value
    return Snapshot(at if at is not None else time.time(), dict(versions))
