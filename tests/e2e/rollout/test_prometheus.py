"""The Prometheus analysis provider against a real Prometheus scraping a real `mlops serve`.

Prometheus comes from scripts/services/prometheus.sh (Debian package, 127.0.0.1:9090, 1 s scrapes,
file_sd targets); a test that cannot reach it fails. Each module run uses its own job label, so
parallel workers and earlier runs never mix their series. (Query templates and an unreachable URL:
tests/unit/rollout/test_prometheus.py.)
"""

from __future__ import annotations

import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from mlops_helpers.errors import MlopsError
from mlops_helpers.rollout.prometheus import PrometheusProvider, ProviderError, render_query
from services import PrometheusServer
from serving_support import Artefact, Server, running_server

SCRAPE_TIMEOUT = 30.0  # file_sd refresh (1 s) + a few 1 s scrapes, with room for a slow machine


@dataclass
class Scraped:
    """A model server whose /predict traffic Prometheus has scraped (rate > 0) under `job`."""

    server: Server
    job: str
    version: str
    provider: PrometheusProvider
    prometheus: PrometheusServer


def poll(provider: PrometheusProvider, query: str, accept, timeout: float = SCRAPE_TIMEOUT, each=None):
    """Run `query` until accept(value) holds; fail with the last value (and the targets' state) otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        if each:
            each()
        value = provider.query(query)
        if accept(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{query} is still {value!r} after {timeout:.0f} s; Prometheus targets: "
                        f"{provider.query('count(up)')} targets, up: {provider.query('sum(up)')}")
        time.sleep(0.25)


@pytest.fixture(scope="module")
def scraped(prometheus_server: PrometheusServer, classification: Artefact) -> Iterator[Scraped]:
    job = f"mlops-test-{uuid.uuid4().hex[:10]}"
    provider = PrometheusProvider(prometheus_server.url)
    with running_server("--artefact", str(classification.dir), cwd=classification.project.root) as server:
        response = server.predict({"records": classification.records(0, 2)})
        assert response.status == 200, response
        version = response.headers["x-model-version"]
        prometheus_server.add_targets(job, [f"127.0.0.1:{server.port}"], {"job": job, "role": "canary"})
        try:
            poll(provider, f'sum(up{{job="{job}"}})', lambda value: value == 1.0)
            # A new series' first sample is not an increase: keep the traffic going until the rate shows it.
            poll(provider, f'sum(rate(mlops_requests_total{{job="{job}",endpoint="/predict"}}[10s]))',
                 lambda value: value is not None and value > 0,
                 each=lambda: server.predict({"records": classification.records(0, 3)}))
            yield Scraped(server, job, version, provider, prometheus_server)
        finally:
            prometheus_server.remove_targets(job)


def test_target_file_is_file_sd_json_written_atomically(prometheus_server: PrometheusServer) -> None:
    name = f"format-{uuid.uuid4().hex[:8]}"
    path = prometheus_server.add_targets(name, ["127.0.0.1:1"], {"job": name, "__metrics_path__": "/x/metrics"})
    try:
        assert path == prometheus_server.targets_dir / f"{name}.json"
        assert json.loads(path.read_text()) == [
            {"targets": ["127.0.0.1:1"], "labels": {"job": name, "__metrics_path__": "/x/metrics"}}]
        assert not [p for p in prometheus_server.targets_dir.iterdir() if p.name.startswith(f".{name}.")]
    finally:
        prometheus_server.remove_targets(name)
    assert not path.exists()


class _CustomPathMetrics(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802  (http.server's naming)
        found = self.path == "/custom/metrics"
        body = b"# TYPE custom_path_total counter\ncustom_path_total 5\n" if found else b"not here\n"
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_metrics_path_label_scrapes_another_path(prometheus_server: PrometheusServer) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CustomPathMetrics)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    job = f"mlops-test-path-{uuid.uuid4().hex[:8]}"
    provider = PrometheusProvider(prometheus_server.url)
    try:
        prometheus_server.add_targets(job, [f"127.0.0.1:{server.server_port}"],
                                      {"job": job, "__metrics_path__": "/custom/metrics"})
        assert poll(provider, f'sum(custom_path_total{{job="{job}"}})', lambda value: value is not None) == 5.0
        assert provider.query(f'sum(up{{job="{job}"}})') == 1.0
    finally:
        prometheus_server.remove_targets(job)
        server.shutdown()
        server.server_close()


def test_rate_of_scraped_predictions_is_positive(scraped: Scraped) -> None:
    value = scraped.provider.query(f'sum(rate(mlops_requests_total{{job="{scraped.job}",endpoint="/predict"}}[10s]))')
    assert value is not None and value > 0
    # The file's labels are on the series, the job name from the file replaced the scrape job's.
    by_role = scraped.provider.query(f'sum(mlops_requests_total{{job="{scraped.job}",role="canary",endpoint="/predict"}})')
    assert by_role is not None and by_role >= 3


def test_rendered_template_measures_the_served_version(scraped: Scraped) -> None:
    template = ('sum(rate(mlops_requests_total{job="{{env}}",model_version="{{version}}",endpoint="/predict"}'
                '[{{ interval }}]))')
    query = render_query(template, version=scraped.version, env=scraped.job, interval="10s")
    assert "{{" not in query and f'model_version="{scraped.version}"' in query
    value = scraped.provider.query(query)
    assert value is not None and value > 0


def test_version_that_never_served_is_no_data_not_zero(scraped: Scraped) -> None:
    query = f'sum(rate(mlops_requests_total{{job="{scraped.job}",model_version="never-served",endpoint="/predict"}}[10s]))'
    assert scraped.provider.query(query) is None


def test_ratio_without_traffic_is_no_data(scraped: Scraped) -> None:
    # /readyz was only called before the target was registered: the series exists, its rate is 0.
    rate = f'sum(rate(mlops_requests_total{{job="{scraped.job}",endpoint="/readyz"}}[10s]))'
    assert scraped.provider.query(rate) == 0.0
    assert scraped.provider.query(f"{rate} / {rate}") is None  # 0/0 = NaN
    assert scraped.provider.query("vector(0) / vector(0)") is None
    assert scraped.provider.query("0 / 0") is None  # a scalar NaN
    assert scraped.provider.query("vector(1) / vector(0)") is None  # +Inf
    assert scraped.provider.query("scalar(vector(2.5))") == 2.5


def test_several_series_is_an_error_unless_aggregated(scraped: Scraped) -> None:
    query = f'mlops_requests_total{{job="{scraped.job}"}}'
    with pytest.raises(ProviderError) as caught:
        scraped.provider.query(query)
    message = str(caught.value)
    assert query in message and scraped.provider.url in message
    assert "series" in message and "sum(" in message
    assert scraped.provider.query(f"sum({query})") >= 3


def test_snapshot_of_the_pods_counters_per_version(scraped: Scraped) -> None:
    """On Kubernetes the analysis reads the model servers' own counters through Prometheus."""
    from mlops_helpers.rollout.analysis import SERVERS, histogram_quantile
    from mlops_helpers.rollout.backends.kubernetes.metrics import prometheus_snapshot

    served = scraped.server.predict({"records": [{"x": 1.0}]})  # a 422: counted, not a 5xx
    assert served.status == 422, served
    selector = f'job="{scraped.job}"'
    want = poll(scraped.provider, f'sum(mlops_requests_total{{{selector},endpoint="/predict"}})',
                lambda value: value is not None and value >= 4)
    snapshot = prometheus_snapshot(scraped.provider, selector, [scraped.version, "never-served"])
    counters = snapshot.counters(scraped.version)
    assert counters.requests == want and counters.errors == 0.0
    assert counters.buckets[float("inf")] == want and histogram_quantile(0.5, counters.buckets) > 0
    assert snapshot.counters("never-served").requests == 0.0
    # The selector keeps other releases (namespaces, jobs) out.
    elsewhere = prometheus_snapshot(scraped.provider, 'job="another-release"', [scraped.version])
    assert elsewhere.counters(scraped.version).requests == 0.0
    # The built-in PromQL over the servers' metrics measures the same version.
    from mlops_helpers.rollout.analysis import prometheus_value
    from mlops_helpers.rollout.spec import MetricSpec

    value = prometheus_value(scraped.provider.query, render_query, MetricSpec(name="error_rate", max=0.05),
                             scraped.version, 30.0, {}, selector, SERVERS)
    assert value.value == 0.0 and value.samples > 0


def test_syntax_error_names_the_query_and_prometheus_reason(prometheus_server: PrometheusServer) -> None:
    query = 'sum(rate(mlops_requests_total{endpoint="/predict"}[10s]'
    with pytest.raises(ProviderError) as caught:
        PrometheusProvider(prometheus_server.url).query(query)
    message = str(caught.value)
    assert query in message and prometheus_server.url in message
    assert "bad_data" in message and "parse error" in message
    assert isinstance(caught.value, MlopsError)


def test_range_vector_result_is_refused(prometheus_server: PrometheusServer) -> None:
    with pytest.raises(ProviderError, match="range vector"):
        PrometheusProvider(prometheus_server.url).query("up[1m]")


def test_http_error_without_api_body(prometheus_server: PrometheusServer) -> None:
    url = prometheus_server.url + "/no/such/prefix"
    with pytest.raises(ProviderError) as caught:
        PrometheusProvider(url).query("up")
    assert url in str(caught.value) and "HTTP 404" in str(caught.value)
