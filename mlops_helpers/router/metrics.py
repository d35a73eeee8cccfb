"""The router's Prometheus metrics, kept as plain dicts (one process, one thread: no locks needed).

prometheus_client would cost several microseconds per observation on the hot path; these
are a dict lookup and an add. Exposition follows the Prometheus text format 0.0.4.

  mlops_router_requests_total{version,code}          counter  (version="none" when none could be chosen)
  mlops_router_request_duration_seconds{version}     histogram, received -> response sent
  mlops_router_upstream_errors_total{version}        counter  connection failures before any response byte
  mlops_router_mirror_requests_total{version,code}   counter  (code="error" when the copy got no response)
  mlops_router_inflight{version}                     gauge
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"


class _Histogram:
    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(BUCKETS, seconds)] += 1  # bisect_left: a value equal to a bound is in that bucket (le)
        self.sum += seconds


class RouterMetrics:
    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.durations: dict[str, _Histogram] = defaultdict(_Histogram)
        self.upstream_errors: dict[str, int] = defaultdict(int)
        self.mirror_requests: dict[tuple[str, str], int] = defaultdict(int)
        self.inflight: dict[str, int] = defaultdict(int)

    def request_done(self, version: str, code: int, seconds: float) -> None:
        self.requests[(version, code)] += 1
        self.durations[version].observe(seconds)

    def exposition(self) -> bytes:
        lines: list[str] = []
        _family(lines, "mlops_router_requests_total", "counter", "Requests answered, by version and HTTP status.")
        for (version, code), value in sorted(self.requests.items()):
            lines.append(f'mlops_router_requests_total{{version="{_escape(version)}",code="{code}"}} {value}')
        _family(lines, "mlops_router_request_duration_seconds", "histogram",
                "Time from receiving a request to sending its response, by version.")
        for version, histogram in sorted(self.durations.items()):
            label = f'version="{_escape(version)}"'
            cumulative = 0
            for bound, count in zip((*map(repr, BUCKETS), "+Inf"), histogram.counts):
                cumulative += count
                lines.append(f'mlops_router_request_duration_seconds_bucket{{{label},le="{bound}"}} {cumulative}')
            lines.append(f"mlops_router_request_duration_seconds_sum{{{label}}} {histogram.sum!r}")
            lines.append(f"mlops_router_request_duration_seconds_count{{{label}}} {cumulative}")
        _family(lines, "mlops_router_upstream_errors_total", "counter",
                "Connection failures to an upstream before any response byte, by version.")
        for version, value in sorted(self.upstream_errors.items()):
            lines.append(f'mlops_router_upstream_errors_total{{version="{_escape(version)}"}} {value}')
        _family(lines, "mlops_router_mirror_requests_total", "counter", "Shadow copies sent, by mirror version and status.")
        for (version, outcome), value in sorted(self.mirror_requests.items()):
            lines.append(f'mlops_router_mirror_requests_total{{version="{_escape(version)}",code="{outcome}"}} {value}')
        _family(lines, "mlops_router_inflight", "gauge", "Requests being forwarded, by version.")
        for version, value in sorted(self.inflight.items()):
            lines.append(f'mlops_router_inflight{{version="{_escape(version)}"}} {value}')
        return ("\n".join(lines) + "\n").encode()


def _family(lines: list[str], name: str, kind: str, help_text: str) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
