"""The chart installed with the real helm into the real test cluster (kube-apiserver, controllers,
kwok nodes; scripts/services/kube-cluster.sh), phase by phase as a rollout would move it: the API
server accepts every object (including the Gateway API HTTPRoute against its CRD schema), the
Pods of each track become Ready, and the routes and Service selectors change as the phases say.

No Gateway controller runs here, so these tests check the objects, not traffic through them.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from helm_support import DIGESTS, REPOSITORY
from mlops_helpers.config import parse_config
from mlops_helpers.kube import values as kube
from mlops_helpers.kube.values import VersionInfo

STABLE = VersionInfo(3, REPOSITORY, DIGESTS[3])
CANDIDATE = VersionInfo(4, REPOSITORY, DIGESTS[4])
GATEWAY = {"gateway": {"name": "public", "namespace": "gateways"}, "replicas": 2}
NAME = "churn-production"


@pytest.fixture
def cluster(kube_cluster, helm: str):
    from kubernetes import client

    api_client = kube_cluster.api_client()
    namespace = f"chart-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    yield Cluster(kube_cluster.kubeconfig, namespace, helm, api_client)
    core.delete_namespace(namespace)


class Cluster:
    def __init__(self, kubeconfig: Path, namespace: str, helm_path: str, api_client) -> None:
        from kubernetes import client

        self.kubeconfig, self.namespace, self.helm = kubeconfig, namespace, helm_path
        self.apps = client.AppsV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)

    def apply(self, strategy: str, stable: VersionInfo | None, candidate: VersionInfo | None,
              phase: dict[str, Any] | None = None, deploy: dict[str, Any] | None = None) -> None:
        """`helm upgrade --install --wait` with the values the templates make for this phase."""
        config = parse_config({"version": 1, "project": "churn", "data": {"path": "d.csv", "target": "y"},
                               "deploy": {"target": "kubernetes", "kubernetes": GATEWAY, **(deploy or {})}})
        values = kube.render_values(config, strategy, stable, candidate, phase or {}, None)
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as handle:
            yaml.safe_dump(values, handle)
            handle.flush()
            completed = subprocess.run(
                [self.helm, "upgrade", "--install", NAME, str(kube.chart_dir()), "--namespace", self.namespace,
                 "--kubeconfig", str(self.kubeconfig), "--values", handle.name, "--wait", "--timeout", "90s"],
                capture_output=True, text=True, timeout=150)
        assert completed.returncode == 0, f"helm upgrade failed:\n{completed.stderr}\n{completed.stdout}"

    def ready_tracks(self) -> dict[str, tuple[int, str]]:
        """Deployment track → (ready replicas, image) as the API server reports them."""
        tracks = {}
        for deployment in self.apps.list_namespaced_deployment(self.namespace).items:
            track = deployment.spec.template.metadata.labels["mlops.dev/track"]
            tracks[track] = (deployment.status.ready_replicas or 0, deployment.spec.template.spec.containers[0].image)
        return tracks

    def route_weights(self) -> list[list[tuple[str, int | None]]]:
        route = self.custom.get_namespaced_custom_object("gateway.networking.k8s.io", "v1", self.namespace,
                                                         "httproutes", NAME)
        return [[(ref["name"], ref.get("weight")) for ref in rule["backendRefs"]] for rule in route["spec"]["rules"]]

    def route_matches(self) -> list[Any]:
        route = self.custom.get_namespaced_custom_object("gateway.networking.k8s.io", "v1", self.namespace,
                                                         "httproutes", NAME)
        return [rule.get("matches") for rule in route["spec"]["rules"]]

    def selector(self, service: str) -> str:
        return self.core.read_namespaced_service(service, self.namespace).spec.selector["mlops.dev/track"]

    def wait_gone(self, track: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while track in self.ready_tracks():
            assert time.monotonic() < deadline, f"the {track} Deployment was not removed"
            time.sleep(0.2)


def test_canary_phases_on_a_real_api_server(cluster: Cluster) -> None:
    cluster.apply("canary", STABLE, None)
    assert cluster.ready_tracks() == {"stable": (2, STABLE.reference)}
    assert cluster.route_weights() == [[(NAME, 100)]]

    for weight in (10, 50):
        cluster.apply("canary", STABLE, CANDIDATE, {"weight": weight})
        assert cluster.ready_tracks() == {"stable": (2, STABLE.reference), "canary": (2, CANDIDATE.reference)}
        assert cluster.route_weights() == [[(NAME, 100 - weight), (f"{NAME}-canary", weight)]]

    # Abort: the stable values alone put every request back and remove the canary track.
    cluster.apply("canary", STABLE, None)
    cluster.wait_gone("canary")
    assert cluster.route_weights() == [[(NAME, 100)]]


def test_bluegreen_switches_the_service_selector_on_a_real_api_server(cluster: Cluster) -> None:
    cluster.apply("bluegreen", STABLE, None)
    cluster.apply("bluegreen", STABLE, CANDIDATE)
    assert cluster.ready_tracks() == {"stable": (2, STABLE.reference), "preview": (2, CANDIDATE.reference)}
    assert cluster.selector(NAME) == "stable" and cluster.selector(f"{NAME}-preview") == "preview"
    cluster.apply("bluegreen", STABLE, CANDIDATE, {"active": "preview"})
    assert cluster.selector(NAME) == "preview"  # the switch: one selector change, both tracks still up
    assert set(cluster.ready_tracks()) == {"stable", "preview"}


def test_abtest_header_and_cookie_matches_on_a_real_api_server(cluster: Cluster) -> None:
    routes = [{"header": "x-mlops-variant", "value": "b"}, {"cookie": "mlops-variant", "value": "b"}]
    cluster.apply("abtest", STABLE, None, deploy={"abtest": {"route": routes}})
    cluster.apply("abtest", STABLE, CANDIDATE, deploy={"abtest": {"route": routes}})
    matches, default = cluster.route_matches()
    assert matches[0]["headers"][0] == {"type": "Exact", "name": "x-mlops-variant", "value": "b"}
    assert matches[1]["headers"][0]["name"] == "Cookie"
    assert cluster.route_weights()[1] == [(NAME, 100), (f"{NAME}-canary", 0)]


def test_ramped_rolls_the_one_deployment_to_the_new_image(cluster: Cluster) -> None:
    cluster.apply("ramped", None, STABLE)
    assert cluster.ready_tracks() == {"stable": (2, STABLE.reference)}
    cluster.apply("ramped", STABLE, CANDIDATE)
    assert cluster.ready_tracks() == {"stable": (2, CANDIDATE.reference)}
    deployment = cluster.apps.read_namespaced_deployment(f"{NAME}-stable", cluster.namespace)
    assert deployment.spec.strategy.type == "RollingUpdate"
    assert deployment.status.updated_replicas == 2
