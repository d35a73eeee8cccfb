"""The Kubernetes backend: each environment is one Helm release of resources/helm/mlops-model.

Versions run as *tracks* of that release (the `stable` Deployment and a `canary` or `preview`
Deployment for the new version). Every routing change is a `helm upgrade` with the values the
Jinja templates render for that phase (templates/helm/values-<strategy>.yaml.j2): HTTPRoute
weights and matches for canary and A/B, the main Service's selector for the blue/green switch.
Readiness is the Deployment's ready replicas as the API server reports them; the analysis
metrics are the pods' own counters, through Prometheus.

When a rollout finishes, the stable track moves to the new image while the candidate track
still carries the traffic, and only then is the candidate track removed, so no request ever
goes to a track that is being replaced. Blue/green with a scale_down_delay waits with that
handover until the delay is over: meanwhile the old version's pods stay Ready on the stable track,
and `undo` only moves the Service's selector back to them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlops_helpers.kube import helm as kube_helm
from mlops_helpers.kube import values as kube_values
from mlops_helpers.rollout.analysis import Snapshot
from mlops_helpers.rollout.backends.base import BackendError, PreviewAnswer
from mlops_helpers.rollout.state import Deployment, Routing, Server

VERSION_LABEL = "mlops.dev/version"
# How long pod creation may keep failing (ReplicaFailure) before the rollout fails, not waiting out
# ready_timeout: quota can free up within seconds, a missing PriorityClass never does.
REPLICA_FAILURE_GRACE = 30.0
CLOCK_SKEW = 5.0  # seconds the API server's clock may be behind ours
TRACK_LABEL = "mlops.dev/track"


class KubernetesBackend:
    name = "kubernetes"
    routing_restores_stable = True  # the stable values roll the Deployment back

    def __init__(self, config, environment: str, strategy: Callable[[], str], api_client, kubeconfig: Path | None,
                 helm_path: str, templates_dir: str | None = None) -> None:
        from kubernetes import client

        kube = config.deploy.kubernetes
        self.config, self.environment, self._strategy = config, environment, strategy
        self.namespace, self.release = kube.namespace, kube_values.object_name(config, environment)
        self.replicas, self.ready_timeout = kube.replicas, kube.ready_timeout
        self.kubeconfig, self.helm, self.templates_dir = kubeconfig, helm_path, templates_dir
        self.api_client = api_client
        self.apps, self.core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)

    @property
    def url(self) -> str:
        return f"kube://{self.namespace}/{self.release}"

    def prepare(self) -> None:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        try:
            self.core.read_namespace(self.namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise BackendError(f"cannot read namespace {self.namespace}: {exc.status} {exc.reason}") from None
            self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=self.namespace)))

    # --- versions as tracks ---------------------------------------------------------------

    def start_server(self, version: str, artefact: str, index: int) -> Server:
        """A pod of the version's track; the track itself is created by the next apply_routing."""
        return Server(url=f"{self.url}/v{version}/{index}")

    def server_alive(self, server: Server) -> bool:
        return self._deployment_of(_version_of(server)) is not None

    def wait_ready(self, servers: list[Server], timeout: float, cancelled: Callable[[], bool]) -> None:
        for version in sorted({_version_of(server) for server in servers}):
            wanted = sum(1 for server in servers if _version_of(server) == version)
            self._wait_version(version, wanted, timeout, cancelled)

    def _wait_version(self, version: str, wanted: int, timeout: float, cancelled: Callable[[], bool],
                      track: str | None = None) -> None:
        started, started_at = time.monotonic(), time.time()
        failing_since: float | None = None
        while not cancelled():
            deployment = self._deployment_of(version, track)
            status = deployment.status if deployment else None
            ready = (status.ready_replicas or 0) if status else 0
            updated = (status.updated_replicas or 0) if status else 0
            # The controller has seen the latest spec, and no pod of an older template is left.
            settled = deployment is not None and status is not None \
                and (status.observed_generation or 0) >= deployment.metadata.generation and (status.replicas or 0) == updated
            if settled and ready >= wanted and updated >= wanted:
                return
            now = time.monotonic()
            # Only a failure of this wait counts: one left from an earlier rollout may be retried soon.
            failure = _replica_failure(deployment, since=started_at - CLOCK_SKEW)
            failing_since = (failing_since or now) if failure else None
            if failing_since is not None and now - failing_since > REPLICA_FAILURE_GRACE:
                # Pod creation refused (admission: a missing PriorityClass or ServiceAccount, PodSecurity,
                # quota): waiting out the whole ready_timeout would not change it.
                raise BackendError(f"v{version}: Kubernetes has refused to create its pods in {self.namespace} "
                                   f"for {now - failing_since:.0f}s: {failure}")
            if now - started > timeout:
                pods = self._pods(version)
                ready_pods = sum(1 for pod in pods if getattr(_ready_condition(pod), "status", None) == "True")
                stale = _replica_failure(deployment)
                raise BackendError(f"v{version}: {ready_pods} of {wanted} pod(s) ready after {timeout:.0f}s in "
                                   f"{self.namespace}: {_pod_report(pods) if pods or not stale else stale}")
            time.sleep(0.5)

    def retire(self, servers: list[Server], drain_timeout: float = 30.0) -> None:
        """Nothing to stop one by one: apply_routing removes a version's track with its last route."""

    def apply_routing(self, routing: Routing, stable: Deployment | None, candidate: Deployment | None,
                      warm: Deployment | None) -> None:
        strategy = self._strategy()
        stable_info, candidate_info = self._image(stable), self._image(candidate)
        phase: dict[str, object] = {"mirror": int(routing.mirror["percent"]) if routing.mirror else 0}
        weight = routing.weights.get(candidate.version, 0) if candidate is not None else 0
        if strategy == "bluegreen":
            phase["active"] = "preview" if candidate is not None and weight >= 100 else "stable"
        elif strategy in ("canary", "abtest") and candidate is not None and (strategy == "canary" or routing.weights):
            phase["weight"] = weight
        if strategy == "bluegreen" and candidate is None and _kept_warm(warm):
            # After the switch, for scale_down_delay: the old version's pods stay on the stable track
            # (no traffic) and the Service keeps selecting the new version's preview track, so an
            # undo is one selector change back. The handover below runs once the window is over.
            self._upgrade(strategy, self._image(warm), stable_info, {**phase, "active": "preview"})
            return
        deployed = self._track_version("stable")
        new_track = "preview" if strategy == "bluegreen" else "canary"
        if candidate is None and stable is not None and stable_info is not None and deployed not in (None, stable.version) \
                and self._track_version(new_track) == stable.version:
            # Finishing: the stable track takes the new image while the candidate track still
            # carries every request; then the candidate track goes. (Going back to a version no
            # track runs, as `undo` does, is the stable Deployment's own rolling update.)
            handover = {**phase, "active": "preview"} if strategy == "bluegreen" else {**phase, "weight": 100}
            self._upgrade(strategy, stable_info, stable_info, handover)
            self._wait_version(stable.version, self.replicas, self.ready_timeout, lambda: False, track="stable")
        self._upgrade(strategy, stable_info, candidate_info, phase)

    def preview_predict(self, payload: dict[str, Any]) -> PreviewAnswer:
        """Through the API server's proxy to the preview Service (no port-forward, no ingress needed):
        the caller needs `create` on `services/proxy` in the namespace. The answering pod names its
        version in x-model-version."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        service = f"{self.release}-preview"
        path = f"/api/v1/namespaces/{self.namespace}/services/{service}:http/proxy/predict"
        try:
            method, url, headers, body, _ = self.api_client.param_serialize(
                "POST", path, header_params={"Content-Type": "application/json", "Accept": "application/json"},
                body=payload, auth_settings=["BearerToken"])
            response = self.api_client.call_api(method, url, header_params=headers, body=body, _request_timeout=30)
            text = response.read().decode(errors="replace")
        except (ApiException, HTTPError, OSError) as exc:
            return PreviewAnswer(0, None, f"{service} via the API server: {exc}")
        if response.status != 200:
            text = _status_message(text)  # the API server's own Status ("error trying to reach service: ...")
            if response.status == 403:
                text = f"forbidden: the smoke test needs `create` on services/proxy in {self.namespace}: {text}"
            text = f"{service} via the API server: {text}"
        return PreviewAnswer(response.status, response.getheader("x-model-version"), text)

    def snapshot(self, deployments: list[Deployment]) -> Snapshot:
        """The model-server pods' counters per version, through Prometheus (backends/kubernetes/metrics.py)."""
        from mlops_helpers.rollout.backends.kubernetes.metrics import prometheus_snapshot
        from mlops_helpers.rollout.prometheus import PrometheusProvider, ProviderError

        try:
            provider = PrometheusProvider(self.config.deploy.analysis.prometheus_url)
            return prometheus_snapshot(provider, self.config.deploy.metrics_selector(),
                                       [deployment.version for deployment in deployments])
        except ProviderError as exc:
            raise BackendError(f"metrics of the pods in {self.namespace}: {exc}") from None

    def teardown(self, deployments: list[Deployment]) -> None:
        self._helm(["uninstall", self.release, "--namespace", self.namespace, "--ignore-not-found"], "helm uninstall")

    # --- helm and the API server ----------------------------------------------------------

    def _upgrade(self, strategy: str, stable, candidate, phase: dict[str, object]) -> None:
        if stable is None and candidate is None:
            return
        values = kube_values.render_values(self.config, strategy, stable, candidate, phase, self.templates_dir, self.environment)
        kube_helm.with_values_file(values, lambda path: self._helm(
            ["upgrade", "--install", self.release, str(kube_values.chart_dir()), "--namespace", self.namespace,
             "--values", path], "helm upgrade"))

    def _helm(self, args: list[str], what: str) -> str:
        extra = ["--kubeconfig", str(self.kubeconfig)] if self.kubeconfig else []
        try:
            return kube_helm.run(self.helm, [*args, *extra], what)
        except Exception as exc:  # MlopsError from helm: a backend failure of this rollout
            raise BackendError(str(exc)) from None

    def _image(self, deployment: Deployment | None):
        if deployment is None:
            return None
        from mlops_helpers.registry import open_registry

        store = open_registry(self.config.registry_path())
        return kube_values.version_info(store, self.config.model_name, int(deployment.version))

    def _deployments(self) -> list:
        selector = f"app.kubernetes.io/instance={self.release}"
        return self.apps.list_namespaced_deployment(self.namespace, label_selector=selector).items

    def _deployment_of(self, version: str, track: str | None = None):
        for deployment in self._deployments():
            labels = deployment.spec.template.metadata.labels or {}
            if labels.get(VERSION_LABEL) == version and track in (None, labels.get(TRACK_LABEL)):
                return deployment
        return None

    def _track_version(self, track: str) -> str | None:
        for deployment in self._deployments():
            labels = deployment.spec.template.metadata.labels or {}
            if labels.get(TRACK_LABEL) == track:
                return labels.get(VERSION_LABEL)
        return None

    def _pods(self, version: str) -> list:
        return self.core.list_namespaced_pod(self.namespace, label_selector=f"{VERSION_LABEL}={version}").items


def _kept_warm(previous: Deployment | None) -> bool:
    return previous is not None and bool(previous.servers) and (previous.keep_until or 0) > time.time()


def _status_message(text: str) -> str:
    """The message of a Kubernetes Status object, or the text as it is."""
    try:
        status = json.loads(text)
    except ValueError:
        return text
    if isinstance(status, dict) and status.get("kind") == "Status":
        return status.get("message") or text
    return text


def _ready_condition(pod):
    return next((c for c in (pod.status.conditions or []) if c.type == "Ready"), None)


def _replica_failure(deployment, since: float | None = None) -> str | None:
    """The message of the Deployment's ReplicaFailure condition (its ReplicaSet cannot create pods),
    if it became true after `since` (a Unix time) when given."""
    conditions = (deployment.status.conditions or []) if deployment is not None and deployment.status else []
    failure = next((c for c in conditions if c.type == "ReplicaFailure" and c.status == "True"), None)
    if failure is None:
        return None
    changed = failure.last_transition_time or failure.last_update_time
    if since is not None and (changed is None or changed.timestamp() < since):
        return None
    return f"{failure.reason}: {failure.message}"


def _pod_report(pods: list) -> str:
    lines = []
    for pod in pods[:5]:
        ready = _ready_condition(pod)
        scheduled = next((c for c in (pod.status.conditions or []) if c.type == "PodScheduled"), None)
        if scheduled is not None and scheduled.status == "False":  # e.g. no node matches its nodeSelector
            lines.append(f"{pod.metadata.name} {pod.status.phase}, not scheduled ({scheduled.message})")
            continue
        lines.append(f"{pod.metadata.name} {pod.status.phase}, Ready={ready.status if ready else '?'}"
                     + (f" ({ready.message})" if ready is not None and ready.message else ""))
    return "; ".join(lines) or "no pods"


def _version_of(server: Server) -> str:
    return server.url.rsplit("/", 2)[-2].removeprefix("v")
