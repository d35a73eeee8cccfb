"""`mlops deploy` and `mlops rollout` with deploy.target kubernetes, against the real test cluster
(kube-apiserver, controllers, kwok nodes) with the real helm: the engine drives Helm upgrades of
the mlops-model chart, and the rollout state lives in the cluster.

No Gateway controller runs here: the tests check what the API server holds (Deployments and
their Ready pods, HTTPRoute weights, Service selectors), not traffic.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from cli_support import Project, make_project, run_mlops
from helm_support import DIGESTS, REPOSITORY, register_packaged, write_config
from serving_support import metric, running_server

NAME = "churn-production"
NEVER_READY = 5  # registered with an image the test cluster never makes Ready (helm_support)


@pytest.fixture
def cluster_project(kube_cluster, helm: str, tmp_path: Path):
    from kubernetes import client

    namespace = f"rollout-{uuid.uuid4().hex[:8]}"
    root = tmp_path / "churn"
    register_packaged(root, "churn", NEVER_READY, never_ready=(NEVER_READY,))
    env = {"KUBECONFIG": str(kube_cluster.kubeconfig), "MLOPS_HELM": helm}
    api_client = kube_cluster.api_client()
    yield KubeProject(root, namespace, env, client.AppsV1Api(api_client), client.CoreV1Api(api_client),
                      client.CustomObjectsApi(api_client))
    if any(item.metadata.name == namespace for item in client.CoreV1Api(api_client).list_namespace().items):
        client.CoreV1Api(api_client).delete_namespace(namespace)


class KubeProject:
    def __init__(self, root: Path, namespace: str, env: dict[str, str], apps, core, custom) -> None:
        self.root, self.namespace, self.env = root, namespace, env
        self.apps, self.core, self.custom = apps, core, custom

    def configure(self, ready_timeout: str = "60s", **deploy) -> None:
        kubernetes = {"namespace": self.namespace, "replicas": 2, "ready_timeout": ready_timeout,
                      "gateway": {"name": "public", "namespace": "gateways"}}
        write_config(self.root, {"kubernetes": kubernetes, **deploy})

    def mlops(self, *args: str, check: int = 0) -> dict:
        return run_mlops(*args, "--output", "json", cwd=self.root, env=self.env, check=check).json()

    def tracks(self) -> dict[str, tuple[str, int]]:
        found = {}
        for deployment in self.apps.list_namespaced_deployment(self.namespace).items:
            labels = deployment.spec.template.metadata.labels
            found[labels["mlops.dev/track"]] = (labels["mlops.dev/version"], deployment.status.ready_replicas or 0)
        return found

    def route(self) -> dict:
        return self.custom.get_namespaced_custom_object("gateway.networking.k8s.io", "v1", self.namespace,
                                                        "httproutes", NAME)

    def weights(self) -> list[tuple[str, int]]:
        return [(ref["name"], ref.get("weight")) for ref in self.route()["spec"]["rules"][-1]["backendRefs"]]

    def eventually(self, what: Callable[[], object], expected: object, timeout: float = 30.0) -> None:
        """The controllers (and kwok) act asynchronously: wait until `what()` is `expected`."""
        deadline = time.monotonic() + timeout
        while (seen := what()) != expected:
            assert time.monotonic() < deadline, f"still {seen!r} after {timeout:.0f}s, expected {expected!r}"
            time.sleep(0.3)

    def pods(self) -> list:
        return [pod for pod in self.core.list_namespaced_pod(self.namespace).items if not pod.metadata.deletion_timestamp]

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
    project.eventually(project.tracks, {"stable": ("2", 2)})  # the canary track's pods are gone
    # The state is in the cluster: the same environment seen from another folder (another machine).
    elsewhere = project.root.parent / "elsewhere"
    write_config(elsewhere, {"kubernetes": {"namespace": project.namespace}})
    status = run_mlops("rollout", "status", "--output", "json", cwd=elsewhere, env=project.env).json()
    assert status["status"] == "aborted" and status["reason"] == "not today" and status["stable"] == "2"


def test_bluegreen_on_kubernetes_switches_the_service_only_when_promoted(cluster_project: KubeProject) -> None:
    project = cluster_project
    # These versions are image records without a served model: no smoke test (tested below with a real server).
    project.configure(strategy="bluegreen", bluegreen={"auto_promote": False, "scale_down_delay": 0, "smoke_test": None})
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


class Changes:
    """Every distinct value of `extract(object)` a watch on a kind of object sees, in order."""

    def __init__(self, list_function, *args, extract: Callable[[object], object], **query) -> None:
        from kubernetes import watch

        self.seen: list[object] = []
        self._watch, self._extract = watch.Watch(), extract
        self._thread = threading.Thread(target=self._record, args=(list_function, *args), kwargs=query, daemon=True)
        self._thread.start()

    def _record(self, list_function, *args, **query) -> None:
        from urllib3.exceptions import ProtocolError

        try:
            for change in self._watch.stream(list_function, *args, timeout_seconds=300, **query):
                value = self._extract(change["object"])
                if not self.seen or self.seen[-1] != value:
                    self.seen.append(value)
        except ProtocolError:  # the stream is cut when the test stops the watch
            pass

    def stop(self) -> list[object]:
        self._watch.stop()
        return self.seen


def test_canary_steps_the_route_weights_in_order(cluster_project: KubeProject) -> None:
    """A watch on the HTTPRoute sees every weight the canary sets, in the order of its steps."""
    project = cluster_project
    project.configure(strategy="canary", canary={"steps": [{"set_weight": 10}, {"pause": "1s"}, {"set_weight": 40},
                                                           {"pause": "1s"}, {"set_weight": 70}]})
    project.mlops("deploy", "--version", "1")
    weights = Changes(project.custom.list_namespaced_custom_object, "gateway.networking.k8s.io", "v1",
                      project.namespace, "httproutes",
                      extract=lambda route: {ref["name"]: ref.get("weight")
                                             for ref in route["spec"]["rules"][-1]["backendRefs"]}.get(f"{NAME}-canary"))
    promoted = project.mlops("deploy", "--version", "2")
    project.eventually(lambda: weights.seen[-1:], [None])
    assert promoted["status"] == "promoted" and promoted["stable"] == "2"
    # 0 while the canary pods start, each step's weight, 100 while the stable track takes v2, then gone.
    assert weights.stop() == [None, 0, 10, 40, 70, 100, None]
    assert project.tracks() == {"stable": ("2", 2)} and project.weights() == [(NAME, 100)]


@pytest.mark.parametrize("check_value, outcome", [(0.01, "promoted"), (0.5, "aborted")])
def test_bluegreen_switches_only_after_ready_pods_and_passed_checks(cluster_project: KubeProject, prometheus_server,
                                                                     check_value: float, outcome: str) -> None:
    """The pre-promotion check is a real Prometheus query; kwok's pods serve nothing, so its value is
    set by the query itself. What is tested: the main Service moves to the preview track only
    once the preview pods are Ready and the check passed, and never when it failed."""
    project = cluster_project
    project.configure(strategy="bluegreen", bluegreen={"auto_promote": True, "scale_down_delay": 0, "smoke_test": None,
                                                       "pre_promotion_analysis": {"count": 1, "interval": "1s"}},
                      analysis={"provider": "prometheus", "prometheus_url": prometheus_server.url,
                                "metrics": [{"name": "preview_error_rate", "query": f"vector({check_value})", "max": 0.05}]})
    project.mlops("deploy", "--version", "1")
    preview_ready_at_switch: list[int] = []

    def selected_track(service) -> str | None:
        track = service.spec.selector.get("mlops.dev/track")
        if track == "preview":
            preview = project.apps.read_namespaced_deployment(f"{NAME}-preview", project.namespace)
            preview_ready_at_switch.append(preview.status.ready_replicas or 0)
        return track

    selectors = Changes(project.core.list_namespaced_service, project.namespace, extract=selected_track,
                        field_selector=f"metadata.name={NAME}")
    result = project.mlops("deploy", "--version", "2", check=0 if outcome == "promoted" else 1)
    assert result["status"] == outcome
    if outcome == "promoted":
        project.eventually(lambda: selectors.seen[-1:], ["stable"])
        # Switched to preview (its 2 pods Ready), then the stable track took v2 and the selector came back.
        assert selectors.stop() == ["stable", "preview", "stable"]
        assert preview_ready_at_switch[0] == 2 and project.image("stable") == f"{REPOSITORY}@{DIGESTS[2]}"
        project.eventually(project.tracks, {"stable": ("2", 2)})
    else:
        assert "preview_error_rate" in result["reason"]
        assert selectors.stop() == ["stable"]  # never switched
        project.eventually(project.tracks, {"stable": ("1", 2)})


@pytest.mark.parametrize("strategy", ["canary", "ramped"])
def test_version_that_never_becomes_ready_is_rolled_back(cluster_project: KubeProject, strategy: str) -> None:
    project = cluster_project
    project.configure(strategy=strategy, ready_timeout="6s", canary={"steps": [{"set_weight": 50}]})
    project.mlops("deploy", "--version", "1")
    failed = project.mlops("deploy", "--version", str(NEVER_READY), check=1)
    assert failed["status"] == "failed" and failed["stable"] == "1"
    assert f"v{NEVER_READY}: 0 of 2 pod(s) ready after 6s" in failed["reason"]
    assert "readiness probe failing" in failed["reason"]  # the pods' own Ready condition, quoted
    # Rolled back by itself: only the stable track, on v1's image, fully Ready; all traffic on it.
    project.eventually(project.tracks, {"stable": ("1", 2)})
    assert project.image("stable") == f"{REPOSITORY}@{DIGESTS[1]}" and project.weights() == [(NAME, 100)]
    project.eventually(lambda: sorted(pod.spec.containers[0].image for pod in project.pods()),
                       [f"{REPOSITORY}@{DIGESTS[1]}"] * 2)
    status = project.mlops("rollout", "status")
    assert status["status"] == "failed" and status["weights"] == {"1": 100}


def test_abtest_on_kubernetes_sets_the_header_match_and_abort_restores(cluster_project: KubeProject,
                                                                       prometheus_server) -> None:
    project = cluster_project
    # The A/B counts come from the pods' metrics in Prometheus; kwok's pods serve nothing, so the
    # test stays below min_samples and ends inconclusive, which pauses.
    project.configure(strategy="abtest", abtest={"route": [{"header": "x-model-variant", "value": "b"}],
                                                  "interval": "1s", "max_duration": "3s", "min_samples": 10},
                      analysis={"prometheus_url": prometheus_server.url, "metrics": [{"name": "error_rate", "max": 0.05}]})
    project.mlops("deploy", "--version", "1")
    paused = project.mlops("deploy", "--version", "2", check=3)
    assert paused["status"] == "paused" and "A/B test inconclusive after 3s" in paused["reason"]
    assert project.tracks() == {"stable": ("1", 2), "canary": ("2", 2)}
    rules = project.route()["spec"]["rules"]
    matched = [rule for rule in rules if any(match.get("headers") for match in rule.get("matches", []))]
    assert [match["headers"] for match in matched[0]["matches"]] == [
        [{"type": "Exact", "name": "x-model-variant", "value": "b"}]]
    assert [ref["name"] for ref in matched[0]["backendRefs"]] == [f"{NAME}-canary"]
    assert project.weights() == [(NAME, 100), (f"{NAME}-canary", 0)]
    aborted = project.mlops("rollout", "abort")
    assert aborted["status"] == "aborted" and aborted["weights"] == {"1": 100}
    assert project.route()["spec"]["rules"] == [rules[-1] | {"backendRefs": [rules[-1]["backendRefs"][0]]}]
    project.eventually(project.tracks, {"stable": ("1", 2)})


def test_recreate_on_kubernetes_replaces_the_pods(cluster_project: KubeProject) -> None:
    project = cluster_project
    project.configure(strategy="recreate")
    project.mlops("deploy", "--version", "1")
    promoted = project.mlops("deploy", "--version", "2")
    assert promoted["status"] == "promoted" and promoted["stable"] == "2"
    deployment = project.apps.read_namespaced_deployment(f"{NAME}-stable", project.namespace)
    assert deployment.spec.strategy.type == "Recreate" and deployment.spec.strategy.rolling_update is None
    assert project.tracks() == {"stable": ("2", 2)} and project.weights() == [(NAME, 100)]


def _host_ipv4() -> str:
    """An address of this machine the API server may proxy to (it refuses loopback and link-local)."""
    import psutil

    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET and not address.address.startswith(("127.", "169.254.")):
                return address.address
    pytest.fail("this machine has no IPv4 address besides loopback: the API server cannot proxy to a stand-in pod")


@pytest.fixture
def trained_bluegreen(kube_cluster, helm: str, tmp_path: Path) -> Iterator[tuple[Project, dict[str, str], str, object]]:
    """A real trained breast_cancer model registered as v1 and v2 (with image records), a namespace
    and a CoreV1Api."""
    from kubernetes import client

    from mlops_helpers.registry import open_registry

    project = make_project(tmp_path, "breast_cancer")
    project.mlops("run")
    store = open_registry(project.root / "registry")
    assert store.register("breast_cancer", project.root / "mlops-out/model", stage="staging").version == 2
    for number in (1, 2):
        reference = f"127.0.0.1:5000/breast_cancer@{DIGESTS[number]}"
        store.annotate("breast_cancer", number, image={
            "repository": "127.0.0.1:5000/breast_cancer", "tags": [], "digest": DIGESTS[number], "id": "sha256:" + "0" * 64,
            "size_bytes": 1, "reference": reference, "ready_for_deployment": True})
    namespace = f"smoke-{uuid.uuid4().hex[:8]}"
    env = {"KUBECONFIG": str(kube_cluster.kubeconfig), "MLOPS_HELM": helm}
    core = client.CoreV1Api(kube_cluster.api_client())
    yield project, env, namespace, core
    if any(item.metadata.name == namespace for item in core.list_namespace().items):
        core.delete_namespace(namespace)


def test_bluegreen_smoke_test_reaches_the_preview_pods_through_the_api_server(trained_bluegreen) -> None:
    """kwok runs no containers: the pods are annotated with a stand-in IP (the test cluster gives them
    that pod IP) and the test runs the real model server the preview pods would run, v2, on that
    address and the container port. The smoke test POSTs hold-out rows through the API server's
    service proxy to the preview Service; the switch follows only when v2 answered every one."""
    project, env, namespace, core = trained_bluegreen
    root = project.root
    config = yaml.safe_load((root / "mlops.yaml").read_text())
    with running_server("--artefact", str(root / "registry/breast_cancer/versions/2"), "--host", "0.0.0.0", cwd=root) as v2:
        config["package"] = {**config.get("package", {}), "port": v2.port, "registry": "127.0.0.1:5000"}
        config["deploy"] = {"target": "kubernetes", "strategy": "bluegreen",
                            "bluegreen": {"auto_promote": True, "scale_down_delay": 0, "smoke_test": {"requests": 5}},
                            "kubernetes": {"namespace": namespace, "replicas": 1, "ready_timeout": "60s",
                                           "annotations": {"mlops.dev/stand-in-ip": _host_ipv4()}}}
        (root / "mlops.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

        def mlops(*args: str, check: int = 0) -> dict:
            return run_mlops(*args, "--output", "json", cwd=root, env=env, check=check).json()

        assert mlops("deploy", "--version", "1")["status"] == "promoted"
        served_before = metric(v2.metrics(), "mlops_requests_total", endpoint="/predict", status="200")
        promoted = mlops("deploy", "--version", "2")
        assert promoted["status"] == "promoted" and promoted["stable"] == "2", promoted
        events = mlops("rollout", "history", "--events")["events"]
        assert [e["message"] for e in events if e["event"] == "smoke_test"] == ["5 hold-out rows answered 200 by v2"]
        assert metric(v2.metrics(), "mlops_requests_total", endpoint="/predict", status="200") - served_before == 5

    # Nothing listens on the stand-in address any more: the smoke test fails, the switch never happens.
    failed = mlops("deploy", "--version", "1", check=1)
    assert failed["status"] == "aborted" and failed["stable"] == "2", failed
    assert "smoke test: request 1/5 through the preview route answered 503" in failed["reason"]
    assert "error trying to reach service" in failed["reason"] and "connection refused" in failed["reason"]
    main = core.read_namespaced_service("breast-cancer-production", namespace)
    assert main.spec.selector["mlops.dev/track"] == "stable"



def test_bluegreen_keeps_the_old_version_warm_for_an_instant_undo(cluster_project: KubeProject) -> None:
    project = cluster_project
    project.configure(strategy="bluegreen", bluegreen={"auto_promote": True, "scale_down_delay": "5m", "smoke_test": None})
    project.mlops("deploy", "--version", "1")
    promoted = project.mlops("deploy", "--version", "2")
    assert promoted["status"] == "promoted" and promoted["stable"] == "2"
    # Switched: the Service selects v2's pods; v1's stay Ready beside them, without traffic.
    assert project.tracks() == {"stable": ("1", 2), "preview": ("2", 2)}
    assert project.core.read_namespaced_service(NAME, project.namespace).spec.selector["mlops.dev/track"] == "preview"
    status = project.mlops("rollout", "status")
    assert status["previous"] == "1" and status["previous_warm_until"] - time.time() > 200

    started = time.monotonic()
    undone = project.mlops("rollout", "undo")
    took = time.monotonic() - started
    assert undone["status"] == "rolled_back" and undone["stable"] == "1"
    assert project.core.read_namespaced_service(NAME, project.namespace).spec.selector["mlops.dev/track"] == "stable"
    assert project.image("stable") == f"{REPOSITORY}@{DIGESTS[1]}"
    print(f"instant undo took {took:.1f}s")
    project.eventually(project.tracks, {"stable": ("1", 2)})  # v2's preview track goes


def test_undo_on_kubernetes_rolls_the_stable_track_back_when_nothing_is_warm(cluster_project: KubeProject) -> None:
    project = cluster_project
    project.configure(strategy="canary", canary={"steps": [{"set_weight": 50}]})
    project.mlops("deploy", "--version", "1")
    project.mlops("deploy", "--version", "2")
    assert project.tracks() == {"stable": ("2", 2)}

    undone = project.mlops("rollout", "undo")
    assert undone["status"] == "rolled_back" and undone["stable"] == "1"
    # The stable Deployment rolled back by itself, and undo waited until its v1 pods were Ready.
    assert project.tracks() == {"stable": ("1", 2)} and project.image("stable") == f"{REPOSITORY}@{DIGESTS[1]}"
    assert project.weights() == [(NAME, 100)]
    history = project.mlops("rollout", "history")["rollouts"]
    assert history[-1]["status"] == "rolled_back" and "undo: v1 serves 100% again" in history[-1]["reason"]


def test_bluegreen_hands_over_to_the_stable_track_when_the_warm_window_ends(cluster_project: KubeProject) -> None:
    project = cluster_project
    project.configure(strategy="bluegreen", bluegreen={"auto_promote": True, "scale_down_delay": "3s", "smoke_test": None})
    project.mlops("deploy", "--version", "1")
    project.mlops("deploy", "--version", "2")
    assert project.tracks() == {"stable": ("1", 2), "preview": ("2", 2)}
    time.sleep(3.5)
    # Any command on the environment does the housekeeping: the stable track takes v2, preview goes.
    assert project.mlops("rollout", "status")["stable"] == "2"
    project.eventually(project.tracks, {"stable": ("2", 2)})
    assert project.core.read_namespaced_service(NAME, project.namespace).spec.selector["mlops.dev/track"] == "stable"


def _template_with(tmp_path: Path, extra: str) -> Path:
    """A templates folder whose canary values are the built-in ones plus `extra` (a platform override)."""
    from mlops_helpers.templating import builtin_templates_dir

    folder = tmp_path / "platform-templates"
    (folder / "helm").mkdir(parents=True)
    builtin = (builtin_templates_dir() / "helm/values-canary.yaml.j2").read_text()
    (folder / "helm/values-canary.yaml.j2").write_text(builtin.rstrip() + "\n" + extra + "\n")
    return folder


def test_pods_the_cluster_refuses_to_create_fail_the_rollout_within_seconds(cluster_project: KubeProject,
                                                                            tmp_path: Path) -> None:
    project = cluster_project
    project.configure(strategy="canary", ready_timeout="5m")
    templates = _template_with(tmp_path, 'priorityClassName: "no-such-class"')
    started = time.monotonic()
    failed = run_mlops("deploy", "--version", "1", "--output", "json", cwd=project.root, check=1,
                       env={**project.env, "MLOPS_TEMPLATES": str(templates)}).json()
    took = time.monotonic() - started
    assert failed["status"] == "failed"
    assert "Kubernetes has refused to create its pods" in failed["reason"]
    assert "no PriorityClass with name no-such-class was found" in failed["reason"]
    assert took < 90, f"took {took:.0f}s: the 5 minute ready_timeout was waited out"


def test_pods_no_node_accepts_are_reported_with_the_schedulers_reason(cluster_project: KubeProject,
                                                                      tmp_path: Path) -> None:
    project = cluster_project
    project.configure(strategy="canary", ready_timeout="5s")
    templates = _template_with(tmp_path, 'nodeSelector: {"pool": "nowhere"}')
    failed = run_mlops("deploy", "--version", "1", "--output", "json", cwd=project.root, check=1,
                       env={**project.env, "MLOPS_TEMPLATES": str(templates)}).json()
    assert failed["status"] == "failed" and "0 of 2 pod(s) ready after 5s" in failed["reason"]
    assert "not scheduled" in failed["reason"] and "didn't match Pod's node affinity/selector" in failed["reason"]


def test_a_killed_engine_is_resumed_from_another_process_once_its_lease_lapses(cluster_project: KubeProject) -> None:
    """A Jenkins agent that dies mid-rollout: the state is in the cluster, the engine's Lease lapses."""
    import os
    import signal
    import subprocess

    from cli_support import MLOPS

    project = cluster_project
    project.configure(strategy="canary", canary={"steps": [{"set_weight": 20}, {"pause": {"duration": "30s"}},
                                                           {"set_weight": 60}]})
    project.mlops("deploy", "--version", "1")
    engine = subprocess.Popen([MLOPS, "deploy", "--version", "2", "--output", "json"], cwd=project.root,
                              env={**os.environ, **project.env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    project.eventually(project.weights, [(NAME, 80), (f"{NAME}-canary", 20)], timeout=90)
    os.killpg(engine.pid, signal.SIGKILL)
    engine.wait()
    killed_at = time.monotonic()

    refused = run_mlops("rollout", "resume", "--output", "json", cwd=project.root, env=project.env, check=2).json()
    assert "being driven by another process" in refused["error"] and "lease lapses within 10s" in refused["error"]
    assert project.weights() == [(NAME, 80), (f"{NAME}-canary", 20)]  # the routes stayed as they were

    time.sleep(max(0.0, 11 - (time.monotonic() - killed_at)))
    resumed = project.mlops("rollout", "resume")
    assert resumed["status"] == "promoted" and resumed["stable"] == "2"
    assert project.tracks() == {"stable": ("2", 2)} and project.weights() == [(NAME, 100)]
    events = [e["event"] for e in project.mlops("rollout", "history", "--events")["events"]]
    assert "resumed" in events and events[-1] == "promoted"
