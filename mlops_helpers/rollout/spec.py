"""The `deploy:` section of mlops.yaml: target, strategy and analysis, validated before anything starts.

Keys are snake_case like the rest of mlops.yaml; the camelCase spellings that Argo Rollouts
users know (`setWeight`, `maxSurge`, `autoPromote`, ...) are accepted as aliases.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from mlops_helpers.rollout.strategies import STRATEGIES  # named once, beside their plans

# Built-in analysis metrics, measured per version: requests at the router (what callers
# experienced, including connection failures) and live accuracy from ground-truth feedback.
BUILTIN_METRICS = {
    "error_rate": "share of requests answered with a 5xx status",
    "request_rate": "requests per second",
    "latency_p50_ms": "median latency in milliseconds",
    "latency_p90_ms": "90th-percentile latency in milliseconds",
    "latency_p95_ms": "95th-percentile latency in milliseconds",
    "latency_p99_ms": "99th-percentile latency in milliseconds",
    "accuracy": "live accuracy from ground-truth feedback (classification)",
    "mean_abs_error": "live mean absolute error from ground-truth feedback (regression)",
}
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from 30, 2.5, "30s", "500ms", "5m" or "1h"."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration (use seconds or a string like '30s', '5m')")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration (use seconds or a string like '30s', '5m')")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds < 0:
        raise ValueError(f"{value!r} is negative")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


def camel(name: str) -> AliasChoices:
    """Accept `max_surge` and the `maxSurge` spelling of Argo Rollouts users."""
    first, *rest = name.split("_")
    return AliasChoices(name, first + "".join(word.title() for word in rest))


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Condition(Spec):
    """Pass/fail thresholds on one measured value: `min`/`max`, or expressions over `result`."""

    min: float | None = None
    max: float | None = None
    success_condition: str | None = Field(default=None, validation_alias=camel("success_condition"),
                                          description="e.g. 'result < 0.05'; overrides min/max for success")
    failure_condition: str | None = Field(default=None, validation_alias=camel("failure_condition"),
                                          description="e.g. 'result > 0.2'; between the two is inconclusive")

    @field_validator("success_condition", "failure_condition")
    @classmethod
    def _parses(cls, expression: str | None) -> str | None:
        if expression is not None:
            from mlops_helpers.rollout.conditions import compile_condition

            compile_condition(expression)
        return expression


class MetricSpec(Condition):
    name: str = Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")
    query: str | None = Field(default=None, description="PromQL with {{version}}; needs provider: prometheus")
    min_samples: int = Field(default=20, ge=1, validation_alias=camel("min_samples"),
                             description="fewer requests (or feedback rows) in a measurement is inconclusive")

    @model_validator(mode="after")
    def _known_and_bounded(self) -> MetricSpec:
        if self.query is None and self.name not in BUILTIN_METRICS:
            raise ValueError(f"metric {self.name!r} is not a built-in metric ({', '.join(BUILTIN_METRICS)}); "
                             "give a `query` to measure it with Prometheus")
        if self.min is None and self.max is None and not (self.success_condition or self.failure_condition):
            raise ValueError(f"metric {self.name!r} needs `min`, `max` or a success/failure condition")
        return self


class AnalysisConfig(Spec):
    provider: Literal["builtin", "prometheus"] = Field(
        default="builtin", description="builtin scrapes the router and model servers; prometheus queries its HTTP API")
    prometheus_url: str = Field(default="http://127.0.0.1:9090", validation_alias=camel("prometheus_url"))
    prometheus_selector: str | None = Field(
        default=None, validation_alias=camel("prometheus_selector"),
        description="label matchers added to the built-in metrics' PromQL, so several environments share one "
                    'Prometheus (default: env="{{env}}" locally, namespace="<namespace>" on Kubernetes)')
    interval: Duration = Field(default=5.0, gt=0, description="time between measurements")
    count: int = Field(default=3, ge=1, description="measurements per analysis step")
    sample_timeout: Duration | None = Field(
        default=None, gt=0, validation_alias=camel("sample_timeout"),
        description="how long one measurement keeps collecting while a metric has fewer than its min_samples, "
                    "before it counts as inconclusive (default: 3 × the interval; at most the interval: no waiting)")
    failure_limit: int = Field(default=0, ge=0, validation_alias=camel("failure_limit"),
                               description="failed measurements tolerated; one more aborts")
    inconclusive_limit: int = Field(default=0, ge=0, validation_alias=camel("inconclusive_limit"),
                                    description="inconclusive measurements tolerated; one more pauses")
    consecutive_error_limit: int = Field(default=4, ge=0, validation_alias=camel("consecutive_error_limit"),
                                         description="provider errors in a row before the analysis fails")
    metrics: list[MetricSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _queries_need_prometheus(self) -> AnalysisConfig:
        names = [metric.name for metric in self.metrics]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"metrics: {', '.join(duplicates)} defined more than once")
        for index, metric in enumerate(self.metrics):
            if metric.query and self.provider != "prometheus":
                raise ValueError(f"metrics.{index} ({metric.name}): a `query` needs provider: prometheus")
        return self


class AnalysisStep(Spec):
    """Run the named metrics (default: all of deploy.analysis.metrics) `count` times."""

    metrics: list[str] | None = None
    interval: Duration | None = Field(default=None, gt=0)
    count: int | None = Field(default=None, ge=1)


class PauseStep(Spec):
    duration: Duration | None = Field(default=None, description="omit to wait until `mlops rollout promote`")


class CanaryStep(Spec):
    set_weight: int | None = Field(default=None, validation_alias=camel("set_weight"), ge=0, le=100)
    pause: PauseStep | None = None
    analysis: AnalysisStep | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, raw: Any) -> Any:
        # `- pause: {}`, `- pause: 30s` and `- analysis: {}` are all natural to write.
        if isinstance(raw, dict):
            raw = dict(raw)
            if "pause" in raw and not isinstance(raw["pause"], dict):
                raw["pause"] = {} if raw["pause"] is None else {"duration": raw["pause"]}
            if "analysis" in raw and raw["analysis"] is None:
                raw["analysis"] = {}
        return raw

    @model_validator(mode="after")
    def _exactly_one(self) -> CanaryStep:
        given = [name for name in ("set_weight", "pause", "analysis") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("each step is exactly one of set_weight, pause or analysis"
                             + (f" (got {', '.join(given)})" if given else ""))
        return self


class CanaryConfig(Spec):
    steps: list[CanaryStep] = Field(default_factory=lambda: [
        CanaryStep(set_weight=10), CanaryStep(analysis=AnalysisStep()),
        CanaryStep(set_weight=50), CanaryStep(analysis=AnalysisStep()),
    ])
    background_analysis: bool = Field(default=True, validation_alias=camel("background_analysis"),
                                      description="measure the metrics every interval during pauses too")

    @model_validator(mode="after")
    def _weights_increase(self) -> CanaryConfig:
        previous, where = 0, None
        for index, step in enumerate(self.steps):
            if step.set_weight is None:
                continue
            if step.set_weight <= previous and index:
                raise ValueError(f"steps.{index}.set_weight: {step.set_weight} is not above the previous weight "
                                 f"{previous} (steps.{where}); weights must increase")
            previous, where = step.set_weight, index
        return self


class RampedConfig(Spec):
    max_surge: int = Field(default=1, ge=0, validation_alias=camel("max_surge"), description="extra new servers started at a time")
    max_unavailable: int = Field(default=0, ge=0, validation_alias=camel("max_unavailable"), description="old servers stopped before new ones are ready")

    @model_validator(mode="after")
    def _progress_possible(self) -> RampedConfig:
        if self.max_surge == 0 and self.max_unavailable == 0:
            raise ValueError("max_surge and max_unavailable cannot both be 0 (the rollout could never progress)")
        return self


class SmokeTest(Spec):
    requests: int = Field(default=20, ge=1, description="hold-out rows sent to the preview servers; all must answer 2xx")


class BlueGreenConfig(Spec):
    auto_promote: bool = Field(default=True, validation_alias=camel("auto_promote"), description="switch without waiting for `promote`")
    smoke_test: SmokeTest | None = Field(default_factory=SmokeTest, validation_alias=camel("smoke_test"))
    pre_promotion_analysis: AnalysisStep | None = Field(default=None, validation_alias=camel("pre_promotion_analysis"),
                                          description="analysis on preview traffic (header route) before the switch")
    scale_down_delay: Duration = Field(default=60.0, ge=0, validation_alias=camel("scale_down_delay"),
                               description="how long the old version stays up after the switch (instant `undo`)")


class RouteMatch(Spec):
    header: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]+$")
    cookie: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$")
    value: str = Field(default="b", min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")

    @model_validator(mode="after")
    def _one_kind(self) -> RouteMatch:
        if (self.header is None) == (self.cookie is None):
            raise ValueError("give exactly one of `header` or `cookie`")
        return self


class AbTestConfig(Spec):
    route: list[RouteMatch] = Field(default_factory=list,
                                    description="requests matching any of these go to the new version (B); empty: split by weight")
    weight: int = Field(default=50, ge=1, le=99, description="share of the other requests sent to B")
    metric: Literal["accuracy", "error_rate"] = "accuracy"
    alpha: float = Field(default=0.05, gt=0, lt=0.5, description="significance level over the whole test")
    min_samples: int = Field(default=200, ge=10, validation_alias=camel("min_samples"), description="per version before testing")
    min_effect: float = Field(default=0.0, ge=0, lt=1, validation_alias=camel("min_effect"),
                              description="smallest difference in the metric that counts as a win")
    interval: Duration = Field(default=5.0, gt=0, description="time between looks at the data")
    max_duration: Duration = Field(default=600.0, gt=0, validation_alias=camel("max_duration"),
                                   description="then stop: inconclusive pauses for a human decision")
    on_inconclusive: Literal["pause", "abort"] = Field(default="pause", validation_alias=camel("on_inconclusive"))


class MirrorConfig(Spec):
    percent: int = Field(default=100, ge=1, le=100, description="share of requests copied to the new version")


class LocalTarget(Spec):
    host: str = Field(default="127.0.0.1")
    port: int = Field(default=8000, ge=1, le=65535, description="the router: the URL callers use")
    admin_port: int | None = Field(default=None, ge=1, le=65535, validation_alias=camel("admin_port"), description="default: port + 1")
    replicas: int = Field(default=2, ge=1, le=32, description="model-server processes per version")
    state_dir: str = Field(default=".mlops/deploy", validation_alias=camel("state_dir"), description="rollout state, logs, relative to mlops.yaml")
    ready_timeout: Duration = Field(default=120.0, gt=0, validation_alias=camel("ready_timeout"), description="per server start")

    @model_validator(mode="after")
    def _distinct_ports(self) -> LocalTarget:
        if self.admin_port == self.port:
            raise ValueError(f"admin_port {self.admin_port} must differ from port")
        return self

    @property
    def router_admin_port(self) -> int:
        return self.admin_port or self.port + 1


# Kubernetes names and label syntax (apimachinery's validation), checked before any value
# reaches a template: a name that Kubernetes would refuse is an error naming the key.
_DNS_LABEL = r"^[a-z0-9]+(-+[a-z0-9]+)*$"
_DNS_1035 = r"^[a-z][a-z0-9]*(-+[a-z0-9]+)*$"
_DNS_SUBDOMAIN = r"^[a-z0-9]+(-+[a-z0-9]+)*(\.[a-z0-9]+(-+[a-z0-9]+)*)*$"
_HOSTNAME = r"^(\*\.)?[a-z0-9]+(-+[a-z0-9]+)*(\.[a-z0-9]+(-+[a-z0-9]+)*)*$"
_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
_QUALIFIED_NAME = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                             r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _check_keys(mapping: dict[str, str], what: str, values: bool) -> dict[str, str]:
    for key, value in mapping.items():
        prefix = key.partition("/")[0] if "/" in key else ""
        if not _QUALIFIED_NAME.match(key) or len(prefix) > 253:
            raise ValueError(f"{what} key {key!r} is not a Kubernetes qualified name "
                             "([prefix/]name: letters, digits, '-', '_', '.', at most 63 characters)")
        if values and (len(value) > 63 or not _LABEL_VALUE.match(value)):
            raise ValueError(f"{what} {key!r}: value {value!r} is not a valid label value (at most 63 "
                             "letters, digits, '-', '_', '.', starting and ending with a letter or digit)")
    return mapping


class ResourceAmounts(Spec):
    cpu: str | None = Field(default=None, pattern=_QUANTITY, description="Kubernetes quantity, e.g. 250m or 1")
    memory: str | None = Field(default=None, pattern=_QUANTITY, description="Kubernetes quantity, e.g. 256Mi")


class ComputeResources(Spec):
    requests: ResourceAmounts = Field(default_factory=lambda: ResourceAmounts(cpu="250m", memory="256Mi"),
                                      description="what the scheduler reserves per model-server pod")
    limits: ResourceAmounts = Field(default_factory=lambda: ResourceAmounts(cpu="1", memory="512Mi"),
                                    description="the most a model-server pod may use")


class HpaConfig(Spec):
    enabled: bool = Field(default=False, description="an autoscaling/v2 HorizontalPodAutoscaler per track (replicas then come from it)")
    min_replicas: int = Field(default=2, ge=1, le=1000, validation_alias=camel("min_replicas"), description="lower bound of each track's pods")
    max_replicas: int = Field(default=10, ge=1, le=1000, validation_alias=camel("max_replicas"), description="upper bound of each track's pods")
    target_cpu_utilization: int = Field(default=70, ge=1, le=100, validation_alias=camel("target_cpu_utilization"),
                                        description="average CPU use, in percent of the request, the autoscaler aims at")

    @model_validator(mode="after")
    def _bounds(self) -> HpaConfig:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas {self.min_replicas} is above max_replicas {self.max_replicas}")
        return self


class GatewayRef(Spec):
    name: str = Field(pattern=_DNS_SUBDOMAIN, max_length=253, description="the Gateway the HTTPRoute attaches to")
    namespace: str | None = Field(default=None, pattern=_DNS_LABEL, max_length=63,
                                  description="the Gateway's namespace (default: the release's)")
    section_name: str | None = Field(default=None, pattern=_DNS_SUBDOMAIN, max_length=253,
                                     validation_alias=camel("section_name"), description="one listener of the Gateway")
    hostnames: list[Annotated[str, Field(pattern=_HOSTNAME, max_length=253)]] = Field(
        default_factory=list, description="host names the HTTPRoute answers (default: all of the listener's)")


class IngressConfig(Spec):
    class_name: str = Field(default="nginx", pattern=_DNS_SUBDOMAIN, max_length=253, validation_alias=camel("class_name"),
                            description="ingressClassName; the canary Ingress needs ingress-nginx")
    host: str | None = Field(default=None, pattern=_HOSTNAME, max_length=253, description="host name of both Ingresses (default: any)")
    path: str = Field(default="/", pattern=r"^/[A-Za-z0-9/._~-]*$", max_length=200, description="path prefix routed to the model")


class KubernetesTarget(Spec):
    namespace: str = Field(default="default", pattern=_DNS_LABEL, max_length=63, description="namespace of the release")
    name: str | None = Field(default=None, pattern=_DNS_1035, max_length=40,
                             description="prefix of the objects' names and the Helm release (default: <model>-<environment>)")
    replicas: int = Field(default=2, ge=1, le=1000, description="pods per track (per version) when the autoscaler is off")
    ready_timeout: Duration = Field(default=300.0, gt=0, validation_alias=camel("ready_timeout"),
                                    description="how long a version's pods may take to become Ready before the rollout fails and rolls back")
    resources: ComputeResources = Field(default_factory=ComputeResources, description="requests and limits of each model-server pod")
    hpa: HpaConfig = Field(default_factory=HpaConfig, description="horizontal autoscaling on CPU")
    gateway: GatewayRef | None = Field(default=None, description="route through the Gateway API (HTTPRoute weights and matches)")
    ingress: IngressConfig | None = Field(default=None, description="route through ingress-nginx (main and canary Ingress)")
    labels: dict[str, str] = Field(default_factory=dict, description="extra labels on the model-server pods")
    annotations: dict[str, str] = Field(default_factory=dict, description="extra annotations on the model-server pods")

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:
        return _check_keys(labels, "label", values=True)

    @field_validator("annotations")
    @classmethod
    def _annotations(cls, annotations: dict[str, str]) -> dict[str, str]:
        return _check_keys(annotations, "annotation", values=False)


class DeployConfig(Spec):
    target: Literal["local", "kubernetes"] = Field(
        default="local", description="where versions run (local: processes + router; kubernetes: a Helm release)")
    environment: str = Field(default="production", pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=40)
    strategy: Literal[STRATEGIES] = "canary"  # type: ignore[valid-type]
    on_run: bool = Field(default=False, validation_alias=camel("on_run"), description="`mlops run` rolls the new version out (mlops init sets it)")
    local: LocalTarget = Field(default_factory=LocalTarget)
    kubernetes: KubernetesTarget = Field(default_factory=KubernetesTarget,
                                         description="the Kubernetes target: the mlops-model Helm chart (docs/kubernetes.md)")
    analysis: AnalysisConfig = Field(default_factory=lambda: AnalysisConfig(metrics=[
        MetricSpec(name="error_rate", max=0.05), MetricSpec(name="latency_p99_ms", max=500.0)]))
    recreate: Spec = Field(default_factory=Spec)
    ramped: RampedConfig = Field(default_factory=RampedConfig)
    bluegreen: BlueGreenConfig = Field(default_factory=BlueGreenConfig)
    canary: CanaryConfig = Field(default_factory=CanaryConfig)
    abtest: AbTestConfig = Field(default_factory=AbTestConfig)
    mirror: MirrorConfig | None = Field(default=None, description="shadow traffic to the new version during the rollout")

    def metrics_selector(self) -> str:
        """Label matchers the built-in PromQL adds: the local backend's file_sd targets carry an env
        label; pods scraped the usual way (kubernetes_sd_configs) carry their namespace."""
        if self.analysis.prometheus_selector is not None:
            return self.analysis.prometheus_selector
        if self.target == "kubernetes":
            return f'namespace="{self.kubernetes.namespace}"'
        return 'env="{{env}}"'

    @model_validator(mode="after")
    def _steps_name_known_metrics(self) -> DeployConfig:
        known = {metric.name for metric in self.analysis.metrics}
        named: list[tuple[str, AnalysisStep]] = [
            (f"canary.steps.{index}.analysis", step.analysis)
            for index, step in enumerate(self.canary.steps) if step.analysis is not None]
        if self.bluegreen.pre_promotion_analysis is not None:
            named.append(("bluegreen.pre_promotion_analysis", self.bluegreen.pre_promotion_analysis))
        for where, step in named:
            for name in step.metrics or []:
                if name not in known:
                    raise ValueError(f"{where}.metrics: {name!r} is not defined in deploy.analysis.metrics "
                                     f"(defined: {', '.join(sorted(known)) or 'none'})")
            if step.metrics is None and not known:
                raise ValueError(f"{where}: no metrics to analyse (define deploy.analysis.metrics)")
        return self
