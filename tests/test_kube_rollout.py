"""`mlops deploy` and `mlops rollout` with deploy.target kubernetes, against the real test cluster
(kube-apiserver, controllers, kwok nodes) with the real helm: the engine drives Helm upgrades of
the mlops-model chart, and the rollout state lives in the cluster.

No Gateway controller runs here: the tests check what the API server holds (Deployments and
their Ready pods, HTTPRoute weights, Service selectors), not traffic.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from conftest import run_mlops
from helm_support import DIGESTS, REPOSITORY, helm, register_packaged, write_config  # noqa: F401

NAME = "churn-production"


@pytest.fixture
def cluster_project(kube_cluster, helm: str, tmp_path: Path):
    from kubernetes import client

    namespace = f"rollout-{uuid.uuid4().hex[:8]}"
    root = tmp_path / "churn"
    register_packaged(root, "churn", 4)
    env = {"KUBECONFIG": str(kube_cluster.kubeconfig), "MLOPS_HELM": helm}
    api_client = kube_cluster.api_client()
    yield KubeProject(root, namespace, env, client.AppsV1Api(api_client), client.CoreV1Api(api_client),
                      client.CustomObjectsApi(api_client))
    client.CoreV1Api(api_client).delete_namespace(namespace)


class KubeProject:
    def __init__(self, root: Path, namespace: str, env: dict[str, str], apps, core, custom) -> None:
        self.root, self.namespace, self.env = root, namespace, env
        self.apps, self.core, self.custom = apps, core, custom

    def configure(self, **deploy) -> None:
        kubernetes = {"namespace": self.namespace, "replicas": 2, "gateway": {"name": "public", "namespace": "gateways"}}
        write_config(self.root, {"kubernetes": kubernetes, "local": {"ready_timeout": 60}, **deploy})

    def mlops(self, *args: str, check: int = 0) -> dict:
        return run_mlops(*args, "--output", "json", cwd=self.root, env=self.env, check=check).json()

    def tracks(self) -> dict[str, tuple[str, int]]:
        found = {}
        for deployment in self.apps.list_namespaced_deployment(self.namespace).items:
            labels = deployment.spec.template.metadata.labels
            found[labels["mlops.dev/track"]] = (labels["mlops.dev/version"], deployment.status.ready_replicas or 0)
        return found

    def weights(self) -> list[tuple[str, int]]:
        route = self.custom.get_namespaced_custom_object("gateway.networking.k8s.io", "v1", self.namespace,
                                                         "httproutes", NAME)
        return [(ref["name"], ref.get("weight")) for ref in route["spec"]["rules"][-1]["backendRefs"]]

    def image(self, track: str) -> str:
        deployment = self.apps.read_namespaced_deployment(f"{NAME}-{track}", self.namespace)
        return deployment.spec.template.spec.containers[0].image


def test_canary_on_kubernetes_steps_the_route_weights_and_abort_restores_stable(cluster_project: KubeProject) -> None:
    project = cluster_project
    project.configure(strategy="canary", canary={"steps": [{"set_weight": 20}, {"pause": {}}, {"set_weight": 60}]})
    first = project.mlops("deploy", "--version", "1")
    assert first["status"] == "promoted" and project.tracks() == {"stable": ("1", 2)}

    paused = project.mlops("deploy", "--version", "2", check=3)
    assert paused["status"] == "paused" and paused["weights"] == {"1": 80, "2": 20}
    assert project.tracks() == {"stable": ("1", 2), "canary": ("2", 2)}
    assert project.weights() == [(NAME, 80), (f"{NAME}-canary", 20)]
    promoted = project.mlops("rollout", "promote")
    assert promoted["status"] == "promoted" and promoted["stable"] == "2"
    assert project.tracks() == {"stable": ("2", 2)} and project.image("stable") == f"{REPOSITORY}@{DIGESTS[2]}"
    assert project.weights() == [(NAME, 100)]

    project.mlops("deploy", "--version", "3", check=3)
    assert project.weights() == [(NAME, 80), (f"{NAME}-canary", 20)]
    aborted = project.mlops("rollout", "abort", "--reason", "not today")
    assert aborted["status"] == "aborted" and aborted["weights"] == {"2": 100}
    assert project.weights() == [(NAME, 100)] and project.image("stable") == f"{REPOSITORY}@{DIGESTS[2]}"
    # The state is in the cluster: the same environment seen from another folder (another machine).
    elsewhere = project.root.parent / "elsewhere"
    write_config(elsewhere, {"kubernetes": {"namespace": project.namespace}})
    status = run_mlops("rollout", "status", "--output", "json", cwd=elsewhere, env=project.env).json()
    assert status["status"] == "aborted" and status["reason"] == "not today" and status["stable"] == "2"


def test_bluegreen_on_kubernetes_switches_the_service_only_when_promoted(cluster_project: KubeProject) -> None:
    project = cluster_project
    project.configure(strategy="bluegreen", bluegreen={"auto_promote": False, "scale_down_delay": 0})
    project.mlops("deploy", "--version", "1")
    paused = project.mlops("deploy", "--version", "2", check=3)
    assert paused["status"] == "paused"
    assert project.tracks() == {"stable": ("1", 2), "preview": ("2", 2)}
    main = project.core.read_namespaced_service(NAME, project.namespace)
    assert main.spec.selector["mlops.dev/track"] == "stable"
    promoted = project.mlops("rollout", "promote")
    assert promoted["status"] == "promoted" and project.tracks() == {"stable": ("2", 2)}
    assert project.core.read_namespaced_service(NAME, project.namespace).spec.selector["mlops.dev/track"] == "stable"


def test_ramped_on_kubernetes_is_the_deployments_rolling_update(cluster_project: KubeProject) -> None:
    project = cluster_project
    project.configure(strategy="ramped", ramped={"max_surge": 1, "max_unavailable": 0})
    project.mlops("deploy", "--version", "1")
    promoted = project.mlops("deploy", "--version", "2")
    assert promoted["status"] == "promoted"
    deployment = project.apps.read_namespaced_deployment(f"{NAME}-stable", project.namespace)
    assert deployment.spec.strategy.type == "RollingUpdate" and deployment.spec.strategy.rolling_update.max_surge == 1
    assert project.tracks() == {"stable": ("2", 2)}
