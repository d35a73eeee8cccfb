"""The Kubernetes test cluster of scripts/services/kube-cluster.sh, checked with the real Python client.

The control plane is real (etcd, kube-apiserver, kube-controller-manager, kube-scheduler built from
source by kube-build.sh); only the nodes are simulated, by kwok. So Deployments, ReplicaSets, Services,
EndpointSlices, ServiceAccount tokens, RBAC, PodDisruptionBudgets and the Gateway API CRDs behave as in
any cluster, and a Pod labelled ``mlops.dev/never-ready: "true"`` runs but never becomes Ready. Each
test works in its own namespace, so parallel workers share the one cluster safely.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from services import SCRIPTS, KubeCluster, start_kube_cluster

T = TypeVar("T")
WAIT = 60.0  # seconds for the controllers and kwok to converge, with room for a busy 2-core machine
NEVER_READY = "mlops.dev/never-ready"
GATEWAY_GROUP, GATEWAY_VERSION = "gateway.networking.k8s.io", "v1"


def wait_until(what: str, probe: Callable[[], T], accept: Callable[[T], bool], timeout: float = WAIT) -> T:
    """Call probe() until accept(value); fail with the last value otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last value: {value!r}")
        time.sleep(0.25)


@pytest.fixture(scope="module")
def api(kube_cluster: KubeCluster) -> Iterator[client.ApiClient]:
    print(f"\nkube cluster {kube_cluster.server}: kube-cluster.sh start took {kube_cluster.start_seconds:.1f}s")
    api_client = kube_cluster.api_client()
    yield api_client
    api_client.close()


@pytest.fixture
def namespace(api: client.ApiClient) -> Iterator[str]:
    core = client.CoreV1Api(api)
    name = f"t-{uuid.uuid4().hex[:10]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    # Pods need the namespace's default ServiceAccount (made by kube-controller-manager).
    wait_until("the default ServiceAccount", lambda: [sa.metadata.name for sa in core.list_namespaced_service_account(name).items], lambda names: "default" in names)
    yield name
    core.delete_namespace(name)


def deployment(name: str, replicas: int, labels: dict[str, str] | None = None, progress_deadline: int | None = None) -> client.V1Deployment:
    pod_labels = {"app": name, **(labels or {})}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels={"app": name}),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            progress_deadline_seconds=progress_deadline,
            selector=client.V1LabelSelector(match_labels={"app": name}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=pod_labels),
                spec=client.V1PodSpec(
                    containers=[
                        client.V1Container(
                            name="model",
                            image="127.0.0.1:5000/model:1",  # kwok never pulls it
                            ports=[client.V1ContainerPort(container_port=8080)],
                            resources=client.V1ResourceRequirements(requests={"cpu": "100m", "memory": "64Mi"}),
                        )
                    ]
                ),
            ),
        ),
    )


def ready(pod: client.V1Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def pods(core: client.CoreV1Api, namespace: str, app: str) -> list[client.V1Pod]:
    return [p for p in core.list_namespaced_pod(namespace, label_selector=f"app={app}").items if p.metadata.deletion_timestamp is None]


def kwok_nodes(core: client.CoreV1Api) -> set[str]:
    return {n.metadata.name for n in core.list_node(label_selector="type=kwok").items}


def test_nodes_are_kwok_nodes_and_ready(api: client.ApiClient) -> None:
    nodes = client.CoreV1Api(api).list_node(label_selector="type=kwok").items
    assert len(nodes) >= 2
    for node in nodes:
        assert node.metadata.annotations["kwok.x-k8s.io/node"] == "fake"
        assert any(c.type == "Ready" and c.status == "True" for c in node.status.conditions)
        assert node.status.allocatable["pods"] == "110"
    version = client.VersionApi(api).get_code()
    print(f"kube-apiserver {version.git_version}")
    assert version.git_version.startswith("v1.")


def test_deployment_scales_and_service_gets_endpoints(api: client.ApiClient, namespace: str) -> None:
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    discovery = client.DiscoveryV1Api(api)
    nodes = kwok_nodes(core)
    apps.create_namespaced_deployment(namespace, deployment("web", 2))
    core.create_namespaced_service(
        namespace,
        client.V1Service(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1ServiceSpec(selector={"app": "web"}, ports=[client.V1ServicePort(port=80, target_port=8080)]),
        ),
    )

    status = wait_until("2 ready replicas", lambda: apps.read_namespaced_deployment_status("web", namespace).status, lambda s: s.ready_replicas == 2)
    assert status.available_replicas == 2
    running = pods(core, namespace, "web")
    assert len(running) == 2
    for pod in running:
        assert pod.spec.node_name in nodes, f"{pod.metadata.name} runs on {pod.spec.node_name}, not a kwok node"
        assert pod.status.phase == "Running" and ready(pod) and pod.status.pod_ip

    # The Deployment controller made a ReplicaSet, which made the Pods.
    (replica_set,) = apps.list_namespaced_replica_set(namespace, label_selector="app=web").items
    assert replica_set.metadata.owner_references[0].kind == "Deployment"
    assert all(p.metadata.owner_references[0].name == replica_set.metadata.name for p in running)

    apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 3}})
    wait_until("3 ready replicas", lambda: apps.read_namespaced_deployment_status("web", namespace).status.ready_replicas, lambda n: n == 3)
    wait_until("the ReplicaSet at 3 ready", lambda: apps.read_namespaced_replica_set_status(replica_set.metadata.name, namespace).status.ready_replicas, lambda n: n == 3)
    pod_ips = {p.status.pod_ip for p in pods(core, namespace, "web")}
    assert len(pod_ips) == 3

    service = core.read_namespaced_service("web", namespace)
    assert service.spec.cluster_ip.startswith("10.96.")

    def ready_slice_addresses() -> set[str]:
        slices = discovery.list_namespaced_endpoint_slice(namespace, label_selector="kubernetes.io/service-name=web").items
        return {a for s in slices for e in (s.endpoints or []) if e.conditions.ready for a in e.addresses}

    wait_until("EndpointSlices with the 3 Pod IPs", ready_slice_addresses, lambda found: found == pod_ips)
    endpoints = core.read_namespaced_endpoints("web", namespace)
    assert {a.ip for s in endpoints.subsets for a in s.addresses} == pod_ips
    assert endpoints.subsets[0].ports[0].port == 8080

    # The disruption controller keeps a PodDisruptionBudget's status.
    policy = client.PolicyV1Api(api)
    policy.create_namespaced_pod_disruption_budget(
        namespace,
        client.V1PodDisruptionBudget(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1PodDisruptionBudgetSpec(min_available=2, selector=client.V1LabelSelector(match_labels={"app": "web"})),
        ),
    )
    pdb = wait_until(
        "the PodDisruptionBudget status",
        lambda: policy.read_namespaced_pod_disruption_budget_status("web", namespace).status,
        lambda s: s is not None and s.current_healthy == 3,
    )
    assert pdb.disruptions_allowed == 1


def test_never_ready_pods_run_but_stay_unready(api: client.ApiClient, namespace: str) -> None:
    """What a rollback test needs: a version whose Pods never become Ready fails its rollout."""
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    discovery = client.DiscoveryV1Api(api)
    apps.create_namespaced_deployment(namespace, deployment("bad", 2, {NEVER_READY: "true"}, progress_deadline=5))
    apps.create_namespaced_deployment(namespace, deployment("good", 1))
    core.create_namespaced_service(
        namespace,
        client.V1Service(
            metadata=client.V1ObjectMeta(name="bad"),
            spec=client.V1ServiceSpec(selector={"app": "bad"}, ports=[client.V1ServicePort(port=80, target_port=8080)]),
        ),
    )
    running = wait_until("2 Running Pods", lambda: pods(core, namespace, "bad"), lambda ps: len(ps) == 2 and all(p.status.phase == "Running" for p in ps))
    for pod in running:
        assert not ready(pod)
        assert pod.status.pod_ip and pod.status.container_statuses[0].started and not pod.status.container_statuses[0].ready
    # A Pod without the label beside them becomes Ready: the label alone makes the difference.
    wait_until("the good Deployment ready", lambda: apps.read_namespaced_deployment_status("good", namespace).status.ready_replicas, lambda n: n == 1)

    # The Deployment controller gives up after progressDeadlineSeconds, as `kubectl rollout status` sees it.
    def progressing():
        conditions = apps.read_namespaced_deployment_status("bad", namespace).status.conditions or []
        return {c.type: (c.status, c.reason) for c in conditions}

    conditions = wait_until("ProgressDeadlineExceeded", progressing, lambda c: c.get("Progressing") == ("False", "ProgressDeadlineExceeded"))
    assert conditions["Available"][0] == "False"
    status = apps.read_namespaced_deployment_status("bad", namespace).status
    assert not status.ready_replicas and not status.available_replicas
    assert all(not ready(p) for p in pods(core, namespace, "bad"))

    slices = wait_until(
        "EndpointSlices listing the unready Pods",
        lambda: [e for s in discovery.list_namespaced_endpoint_slice(namespace, label_selector="kubernetes.io/service-name=bad").items for e in (s.endpoints or [])],
        lambda endpoints: len(endpoints) == 2,
    )
    assert all(e.conditions.ready is False for e in slices)


def test_update_to_never_ready_version_stalls_and_rolls_back(api: client.ApiClient, namespace: str) -> None:
    """A rolling update to never-ready Pods keeps the old ones serving; restoring the old template recovers."""
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment(namespace, deployment("model", 2, {"version": "v1"}, progress_deadline=5))
    wait_until("v1 ready", lambda: apps.read_namespaced_deployment_status("model", namespace).status.ready_replicas, lambda n: n == 2)

    patch = {"spec": {"template": {"metadata": {"labels": {"version": "v2", NEVER_READY: "true"}}}}}
    apps.patch_namespaced_deployment("model", namespace, patch)

    def progressing():
        status = apps.read_namespaced_deployment_status("model", namespace).status
        return {c.type: c.reason for c in status.conditions or []}, status

    _, status = wait_until("the v2 rollout to exceed its deadline", progressing, lambda v: v[0].get("Progressing") == "ProgressDeadlineExceeded")
    assert status.available_replicas == 2, "the v1 Pods keep serving while v2 never becomes Ready"
    versions = {p.metadata.labels["version"]: ready(p) for p in pods(core, namespace, "model")}
    assert versions == {"v1": True, "v2": False}

    # Roll back: the v1 template again (what `kubectl rollout undo` does).
    apps.patch_namespaced_deployment(
        "model", namespace, [{"op": "replace", "path": "/spec/template/metadata/labels", "value": {"app": "model", "version": "v1"}}]
    )

    def settled():
        status = apps.read_namespaced_deployment_status("model", namespace).status
        return status.updated_replicas, status.ready_replicas, status.replicas, sorted(p.metadata.labels["version"] for p in pods(core, namespace, "model"))

    wait_until("the rollback to settle on 2 ready v1 Pods", settled, lambda v: v == (2, 2, 2, ["v1", "v1"]))
    wait_until(
        "the v2 Pods deleted (kwok's pod-delete stage)",
        lambda: [p.metadata.name for p in core.list_namespaced_pod(namespace, label_selector="version=v2").items],
        lambda names: names == [],
    )


def test_httproute_with_weighted_backends(api: client.ApiClient, namespace: str) -> None:
    crds = client.ApiextensionsV1Api(api)
    crd = crds.read_custom_resource_definition(f"httproutes.{GATEWAY_GROUP}")
    assert any(c.type == "Established" and c.status == "True" for c in crd.status.conditions)
    assert crd.metadata.annotations["gateway.networking.k8s.io/channel"] == "standard"
    print(f"Gateway API bundle {crd.metadata.annotations['gateway.networking.k8s.io/bundle-version']}")

    custom = client.CustomObjectsApi(api)
    route = {
        "apiVersion": f"{GATEWAY_GROUP}/{GATEWAY_VERSION}",
        "kind": "HTTPRoute",
        "metadata": {"name": "model"},
        "spec": {
            "parentRefs": [{"name": "mlops-gateway"}],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/predict"}}],
                    "backendRefs": [
                        {"name": "model-stable", "port": 80, "weight": 90},
                        {"name": "model-canary", "port": 80, "weight": 10},
                    ],
                }
            ],
        },
    }
    custom.create_namespaced_custom_object(GATEWAY_GROUP, GATEWAY_VERSION, namespace, "httproutes", route)
    read = custom.get_namespaced_custom_object(GATEWAY_GROUP, GATEWAY_VERSION, namespace, "httproutes", "model")
    weights = {b["name"]: b["weight"] for b in read["spec"]["rules"][0]["backendRefs"]}
    assert weights == {"model-stable": 90, "model-canary": 10}
    # Defaults come from the CRD's schema: the apiserver really validates and defaults the object.
    assert read["spec"]["parentRefs"][0]["group"] == GATEWAY_GROUP and read["spec"]["parentRefs"][0]["kind"] == "Gateway"

    # Shift traffic, as a canary rollout does.
    read["spec"]["rules"][0]["backendRefs"][0]["weight"] = 50
    read["spec"]["rules"][0]["backendRefs"][1]["weight"] = 50
    custom.replace_namespaced_custom_object(GATEWAY_GROUP, GATEWAY_VERSION, namespace, "httproutes", "model", read)
    again = custom.get_namespaced_custom_object(GATEWAY_GROUP, GATEWAY_VERSION, namespace, "httproutes", "model")
    assert [b["weight"] for b in again["spec"]["rules"][0]["backendRefs"]] == [50, 50]

    bad = {**route, "metadata": {"name": "bad"}}
    bad["spec"] = {"rules": [{"backendRefs": [{"name": "x", "port": 80, "weight": -1}]}]}
    with pytest.raises(ApiException) as error:
        custom.create_namespaced_custom_object(GATEWAY_GROUP, GATEWAY_VERSION, namespace, "httproutes", bad)
    assert error.value.status == 422


def test_service_account_tokens_authenticate_and_rbac_applies(api: client.ApiClient, kube_cluster: KubeCluster, namespace: str) -> None:
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    core.create_namespaced_service_account(namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="deployer")))
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600))
    token = core.create_namespaced_service_account_token("deployer", namespace, request).status.token
    as_deployer = bearer_client(api, token)
    try:
        review = client.AuthenticationV1Api(as_deployer).create_self_subject_review(client.V1SelfSubjectReview())
        assert review.status.user_info.username == f"system:serviceaccount:{namespace}:deployer"
        with pytest.raises(ApiException) as error:
            client.CoreV1Api(as_deployer).list_namespaced_pod(namespace)
        assert error.value.status == 403

        rbac.create_namespaced_role_binding(
            namespace,
            client.V1RoleBinding(
                metadata=client.V1ObjectMeta(name="deployer-view"),
                role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="view"),
                subjects=[client.RbacV1Subject(kind="ServiceAccount", name="deployer", namespace=namespace)],
            ),
        )
        wait_until("RBAC to allow listing Pods", lambda: can_list_pods(as_deployer, namespace), bool, timeout=20)
    finally:
        as_deployer.close()

    # A legacy token Secret is filled in by kube-controller-manager (signed with its private key).
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="deployer-token", annotations={"kubernetes.io/service-account.name": "deployer"}),
            type="kubernetes.io/service-account-token",
        ),
    )
    secret = wait_until("the token Secret filled in", lambda: core.read_namespaced_secret("deployer-token", namespace), lambda s: bool(s.data and s.data.get("token")))
    import base64

    legacy = bearer_client(api, base64.b64decode(secret.data["token"]).decode())
    try:
        review = client.AuthenticationV1Api(legacy).create_self_subject_review(client.V1SelfSubjectReview())
        assert review.status.user_info.username == f"system:serviceaccount:{namespace}:deployer"
    finally:
        legacy.close()


def bearer_client(admin: client.ApiClient, token: str) -> client.ApiClient:
    """A client for the same server and CA that authenticates with `token` only."""
    configuration = client.Configuration()
    configuration.host = admin.configuration.host
    configuration.ssl_ca_cert = admin.configuration.ssl_ca_cert
    configuration.api_key = {"authorization": token}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    return client.ApiClient(configuration)


def can_list_pods(api: client.ApiClient, namespace: str) -> bool:
    try:
        client.CoreV1Api(api).list_namespaced_pod(namespace)
    except ApiException as error:
        if error.status == 403:
            return False
        raise
    return True


# A second cluster on other ports, so the shared one (used by other workers) is never disturbed.
OTHER_PORTS = {
    "MLOPS_KUBE_APISERVER_PORT": "16443",
    "MLOPS_KUBE_ETCD_PORT": "12379",
    "MLOPS_KUBE_CONTROLLER_MANAGER_PORT": "20257",
    "MLOPS_KUBE_SCHEDULER_PORT": "20259",
}


def port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def live(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_fresh_start_from_cache_then_reuse_then_clean_stop(kube_cluster: KubeCluster) -> None:
    """A cluster from the cached build starts in under a minute; a second start reuses it; stop frees everything."""
    script = ["bash", str(SCRIPTS / "kube-cluster.sh")]
    env = {**os.environ, **OTHER_PORTS}
    subprocess.run([*script, "stop"], env=env, capture_output=True, timeout=120)
    try:
        cold = start_kube_cluster(env=OTHER_PORTS, timeout=600)
        warm = start_kube_cluster(env=OTHER_PORTS, timeout=120)
        print(f"\nfresh cluster from the cached build: {cold.start_seconds:.1f}s; start while running: {warm.start_seconds:.2f}s")
        assert cold.server == "https://127.0.0.1:16443" and warm.kubeconfig == cold.kubeconfig
        assert cold.start_seconds < 90, f"a fresh start took {cold.start_seconds:.0f}s (target: under a minute)"
        assert warm.start_seconds < 10
        with cold.api_client() as api:
            assert len(client.CoreV1Api(api).list_node(label_selector="type=kwok").items) >= 2
        run_dir = cold.kubeconfig.parent
        pids = {p.stem: int(p.read_text()) for p in run_dir.glob("*.pid")}
        assert set(pids) == {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}
        data_dir = Path((run_dir / "data-dir").read_text().strip())
        assert data_dir.is_dir()
    finally:
        stopped = subprocess.run([*script, "stop"], env=env, capture_output=True, text=True, timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    assert not [name for name, pid in pids.items() if live(pid)], "processes left after stop"
    assert not [port for port in (16443, 12379, 12380, 20257, 20259) if port_open(port)], "ports still open after stop"
    assert not data_dir.exists()
    status = subprocess.run([*script, "status"], env=env, capture_output=True, text=True, timeout=60)
    assert status.returncode == 1 and "not running" in status.stdout
