"""Measures analysis metrics of a version with the configured provider (backend counters or Prometheus)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_helpers.rollout import analysis as metrics
from mlops_helpers.rollout.backends.base import Backend, BackendError
from mlops_helpers.rollout.state import Deployment

if TYPE_CHECKING:
    from mlops_helpers.rollout.spec import DeployConfig, MetricSpec


class MetricSource:
    """One provider for one measurement: `start()` before the interval, `measure()` after it."""

    def __init__(self, backend: Backend, config: DeployConfig, variables: dict[str, str | None]) -> None:
        self.backend, self.config, self.variables = backend, config, variables  # {{env}}, {{stable}}, {{canary}}

    def start(self, deployments: list[Deployment]) -> metrics.Snapshot | None:
        if self.config.analysis.provider == "prometheus":
            return None
        try:
            return self.backend.snapshot(deployments)
        except BackendError:
            return None  # reported as a provider error by measure()

    def measure(self, specs: list[MetricSpec], version: str, before: metrics.Snapshot | None,
                deployments: list[Deployment], seconds: float) -> list[metrics.Measurement]:
        if self.config.analysis.provider == "prometheus":
            return [self._prometheus(spec, version, seconds) for spec in specs]
        try:
            after = self.backend.snapshot(deployments)
        except BackendError as exc:
            return [_error(spec, version, str(exc)) for spec in specs]
        if before is None:
            return [_error(spec, version, "no metrics at the start of the interval") for spec in specs]
        delta = after.counters(version).minus(before.counters(version))
        return [metrics.judge(spec, version, metrics.builtin_value(spec.name, delta, seconds)) for spec in specs]

    def _prometheus(self, spec: MetricSpec, version: str, seconds: float) -> metrics.Measurement:
        from mlops_helpers.rollout.prometheus import PrometheusProvider, ProviderError, render_query

        provider = PrometheusProvider(self.config.analysis.prometheus_url)
        try:
            source = metrics.SERVERS if self.config.target == "kubernetes" else metrics.ROUTER
            value = metrics.prometheus_value(provider.query, render_query, spec, version, seconds,
                                             self.variables, self.config.metrics_selector(), source)
        except ProviderError as exc:
            return _error(spec, version, str(exc))
        return metrics.judge(spec, version, value)


def _error(spec: MetricSpec, version: str, message: str) -> metrics.Measurement:
    return metrics.Measurement(spec.name, version, metrics.ERROR, None, None, metrics.describe_threshold(spec),
                               f"{spec.name} of v{version}: provider error: {message}")
