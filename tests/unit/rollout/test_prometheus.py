"""The Prometheus analysis provider without a Prometheus: an unreachable URL is named, and
query templates substitute placeholders and refuse values that would break out of the query.
(Against a real Prometheus scraping a real `mlops serve`: tests/e2e/rollout/test_prometheus.py.)
"""

from __future__ import annotations

import time

import pytest

from mlops_helpers.rollout.prometheus import PrometheusProvider, ProviderError, render_query
from serving_support import free_port


def test_unreachable_prometheus_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        PrometheusProvider(url, timeout=2).query("up")
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert url in message and "'up'" in message and "connect" in message


def test_render_query_substitutes_placeholders() -> None:
    template = ('sum(rate(x{version="{{version}}",env="{{env}}"}[{{interval}}])) / '
                'sum(rate(x{version=~"{{stable}}|{{ canary }}"}[{{interval}}]))')
    assert render_query(template, version="3", env="staging", interval="1m30s", stable="2", canary="3") == (
        'sum(rate(x{version="3",env="staging"}[1m30s])) / sum(rate(x{version=~"2|3"}[1m30s]))')
    assert render_query("up", version="unused") == "up"
    assert render_query('x{v="{{version}}"}', version=7) == 'x{v="7"}'


@pytest.mark.parametrize("value", ['3"} or vector(1) or x{a="', "3\\", "3\nup", "3'", "3`"])
def test_render_query_refuses_values_that_break_out_of_a_string(value: str) -> None:
    with pytest.raises(ProviderError) as caught:
        render_query('x{version="{{version}}"}', version=value)
    assert "'version'" in str(caught.value)
    with pytest.raises(ProviderError, match="'canary'"):
        render_query('x{version="{{canary}}"}', canary=value, version="1")


def test_render_query_refuses_bad_interval_and_missing_values() -> None:
    with pytest.raises(ProviderError, match="'interval'.*duration"):
        render_query("rate(x[{{interval}}])", interval="5m]) or vector(1")
    with pytest.raises(ProviderError, match=r"\{\{stable\}\}"):
        render_query('x{v="{{stable}}"}', version="1")
    with pytest.raises(ProviderError, match=r"\{\{stabel\}\}"):
        render_query('x{v="{{stabel}}"}', stable="1")
    with pytest.raises(ProviderError, match=r"\{\{env\}\}"):
        render_query('x{e="{{env}}"}', env=None)
