"""The mlops-model Helm chart, the Jinja templates that make its values, and `mlops render`,
checked with the real helm (built by scripts/services/helm.sh; never skipped).

Golden files: tests/golden/helm/<strategy>.values.yaml and .manifests.yaml. After an intended
change, regenerate them with MLOPS_UPDATE_GOLDEN=1 .venv/bin/pytest tests/e2e/kube/test_chart.py and
review the diff.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from cli_support import run_mlops
from helm_support import DIGESTS, REPOSITORY, pinned_helm_version, register_packaged, write_config
from mlops_helpers.config import parse_config
from mlops_helpers.errors import ConfigError, MlopsError
from mlops_helpers.kube import helm as kube_helm
from mlops_helpers.kube import values as kube
from mlops_helpers.kube.values import VersionInfo
from mlops_helpers.rollout.spec import STRATEGIES

REPO = Path(__file__).resolve().parents[3]
GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "helm"
UPDATE_GOLDEN = os.environ.get("MLOPS_UPDATE_GOLDEN") == "1"

STABLE = VersionInfo(3, REPOSITORY, DIGESTS[3])
CANDIDATE = VersionInfo(4, REPOSITORY, DIGESTS[4])
GATEWAY = {"gateway": {"name": "public", "namespace": "gateways", "hostnames": ["churn.example.com"]}}
INGRESS = {"ingress": {"class_name": "nginx", "host": "churn.example.com"}}
ROUTES = [{"header": "x-mlops-variant", "value": "b"}, {"cookie": "mlops-variant", "value": "b"}]

# What each golden file shows: the strategy mid-rollout, through the router it is usually paired with.
GOLDEN_CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "recreate": ({}, {}),
    "ramped": ({"ramped": {"max_surge": 2, "max_unavailable": 1}}, {}),
    "bluegreen": ({"kubernetes": {**INGRESS}}, {}),
    "canary": ({"kubernetes": {**GATEWAY, "hpa": {"enabled": True}}, "mirror": {"percent": 50}}, {"weight": 20}),
    "abtest": ({"kubernetes": {**GATEWAY}, "abtest": {"route": ROUTES}}, {}),
}


def make_config(deploy: dict[str, Any] | None = None, **sections: Any):
    raw = {
        "version": 1, "project": "churn", "data": {"path": "d.csv", "target": "y"},
        "training": {"estimator": "LogisticRegression"}, **sections,
        "deploy": {"target": "kubernetes", **(deploy or {})},
    }
    return parse_config(raw, source="mlops.yaml")


def documents(manifests: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(manifests) if doc]


def of_kind(manifests: str, kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in documents(manifests) if doc["kind"] == kind}


def render_both(helm: str, strategy: str, deploy: dict[str, Any] | None = None, phase: dict[str, Any] | None = None,
                stable: VersionInfo | None = STABLE, candidate: VersionInfo | None = CANDIDATE,
                templates: Path | None = None) -> tuple[dict[str, Any], str]:
    values = kube.render_values(make_config(deploy), strategy, stable, candidate, phase or {}, templates)
    return values, kube_helm.render_manifests(values, helm)


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE_GOLDEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
        return
    assert path.is_file(), f"{path} is missing: create it with MLOPS_UPDATE_GOLDEN=1 pytest tests/e2e/kube/test_chart.py"
    expected = path.read_text()
    if actual != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True),
                                            f"golden/helm/{name}", "rendered now", n=2))
        pytest.fail(f"{name} differs from the golden file (if intended: MLOPS_UPDATE_GOLDEN=1 pytest "
                    f"tests/e2e/kube/test_chart.py, then review the diff):\n{diff[:6000]}", pytrace=False)


# --------------------------------------------------------------------------- helm itself


def test_helm_is_the_pinned_version_built_outside_the_repo(helm: str) -> None:
    version = subprocess.run([helm, "version", "--short"], capture_output=True, text=True, check=True).stdout
    assert version.startswith(pinned_helm_version()), version
    assert not Path(helm).resolve().is_relative_to(REPO)
    # A second install is a no-op that prints the same path.
    again = subprocess.run(["bash", str(REPO / "scripts/services/helm.sh"), "install"], capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and again.stdout.strip() == helm, again.stderr


def test_the_chart_lints_strictly_with_its_defaults(helm: str) -> None:
    completed = subprocess.run([helm, "lint", "--strict", str(kube.chart_dir())], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout + completed.stderr


# --------------------------------------------------------------------------- every strategy


@pytest.mark.parametrize("router", ["none", "gateway", "ingress"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_helm_lint_strict_passes_for_every_strategy(helm: str, strategy: str, router: str) -> None:
    kubernetes = {"none": {}, "gateway": GATEWAY, "ingress": INGRESS}[router]
    deploy = {"kubernetes": kubernetes, "abtest": {"route": ROUTES[:1] if router == "ingress" else ROUTES}}
    for stable, candidate in ((STABLE, CANDIDATE), (None, CANDIDATE)):
        values = kube.render_values(make_config(deploy), strategy, stable, candidate, {})
        kube_helm.lint(values, helm)  # raises with helm's report


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_values_and_manifests_match_the_golden_files(helm: str, strategy: str) -> None:
    deploy, phase = GOLDEN_CASES[strategy]
    values, manifests = render_both(helm, strategy, deploy, phase)
    check_golden(f"{strategy}.values.yaml", kube.values_yaml(values))
    check_golden(f"{strategy}.manifests.yaml", manifests)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_deployment_is_hardened_probed_and_pinned_by_digest(helm: str, strategy: str) -> None:
    deploy, phase = GOLDEN_CASES[strategy]
    _, manifests = render_both(helm, strategy, deploy, phase)
    deployments = of_kind(manifests, "Deployment")
    assert deployments
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]
        spec = pod["spec"]
        (container,) = spec["containers"]
        assert re.fullmatch(re.escape(REPOSITORY) + r"@sha256:[0-9a-f]{64}", container["image"]), container["image"]
        assert container["image"].endswith(DIGESTS[int(pod["metadata"]["labels"]["mlops.dev/version"])])
        assert spec["automountServiceAccountToken"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["runAsNonRoot"] is True
        assert security["capabilities"]["drop"] == ["ALL"]
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
        assert container["resources"]["requests"] and container["resources"]["limits"]
        mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
        assert mounts == {"tmp": "/tmp"}
        assert {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}} in spec["volumes"]
        annotations = pod["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/path"] == "/metrics"
        assert annotations["prometheus.io/port"] == "8080"
        labels = pod["metadata"]["labels"]
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
                    "mlops.dev/version", "mlops.dev/track"):
            assert key in labels, f"{name}: pod label {key} missing"
    (account,) = of_kind(manifests, "ServiceAccount").values()
    assert account["automountServiceAccountToken"] is False
    assert not of_kind(manifests, "Role") and not of_kind(manifests, "RoleBinding")


def test_recreate_and_ramped_run_one_deployment_with_the_candidate(helm: str) -> None:
    _, manifests = render_both(helm, "recreate")
    (deployment,) = of_kind(manifests, "Deployment").values()
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert deployment["metadata"]["labels"]["mlops.dev/version"] == "4"
    _, manifests = render_both(helm, "ramped", {"ramped": {"max_surge": 2, "max_unavailable": 1}})
    (deployment,) = of_kind(manifests, "Deployment").values()
    assert deployment["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 2, "maxUnavailable": 1}}
    assert set(of_kind(manifests, "Service")) == {"churn-production"}


def test_bluegreen_runs_a_preview_track_with_its_own_service_and_switches_by_selector(helm: str) -> None:
    _, manifests = render_both(helm, "bluegreen", {"kubernetes": GATEWAY})
    assert set(of_kind(manifests, "Deployment")) == {"churn-production-stable", "churn-production-preview"}
    services = of_kind(manifests, "Service")
    assert services["churn-production"]["spec"]["selector"]["mlops.dev/track"] == "stable"
    assert services["churn-production-preview"]["spec"]["selector"]["mlops.dev/track"] == "preview"
    (route,) = of_kind(manifests, "HTTPRoute").values()
    preview_rule, default_rule = route["spec"]["rules"]
    assert preview_rule["matches"] == [{"headers": [{"type": "Exact", "name": "x-mlops-preview", "value": "1"}]}]
    assert preview_rule["backendRefs"] == [{"name": "churn-production-preview", "port": 80}]
    assert default_rule["backendRefs"] == [{"name": "churn-production", "port": 80, "weight": 100}]

    _, switched = render_both(helm, "bluegreen", {"kubernetes": GATEWAY}, {"active": "preview"})
    assert of_kind(switched, "Service")["churn-production"]["spec"]["selector"]["mlops.dev/track"] == "preview"
    assert set(of_kind(switched, "Deployment")) == {"churn-production-stable", "churn-production-preview"}


def test_canary_weights_go_to_the_route_and_to_the_canary_ingress(helm: str) -> None:
    values, manifests = render_both(helm, "canary", {"kubernetes": GATEWAY}, {"weight": 30})
    assert values["traffic"]["canaryWeight"] == 30
    assert set(of_kind(manifests, "Deployment")) == {"churn-production-stable", "churn-production-canary"}
    (route,) = of_kind(manifests, "HTTPRoute").values()
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"]["parentRefs"][0]["name"] == "public"
    (rule,) = route["spec"]["rules"]
    assert [(ref["name"], ref["weight"]) for ref in rule["backendRefs"]] == [
        ("churn-production", 70), ("churn-production-canary", 30)]

    _, manifests = render_both(helm, "canary", {"kubernetes": INGRESS}, {"weight": 30})
    ingresses = of_kind(manifests, "Ingress")
    assert set(ingresses) == {"churn-production", "churn-production-canary"}
    canary = ingresses["churn-production-canary"]["metadata"]["annotations"]
    assert canary == {"nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": "30"}
    backend = ingresses["churn-production-canary"]["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert backend["service"]["name"] == "churn-production-canary"


def test_abtest_sends_header_and_cookie_matches_to_b(helm: str) -> None:
    values, manifests = render_both(helm, "abtest", {"kubernetes": GATEWAY, "abtest": {"route": ROUTES}})
    assert values["traffic"]["matches"] == ROUTES and values["traffic"]["canaryWeight"] == 0
    (route,) = of_kind(manifests, "HTTPRoute").values()
    match_rule, default_rule = route["spec"]["rules"]
    assert match_rule["matches"] == [
        {"headers": [{"type": "Exact", "name": "x-mlops-variant", "value": "b"}]},
        {"headers": [{"type": "RegularExpression", "name": "Cookie", "value": r"(^|;\s*)mlops-variant=b(;|$)"}]},
    ]
    assert match_rule["backendRefs"] == [{"name": "churn-production-canary", "port": 80}]
    assert [ref["weight"] for ref in default_rule["backendRefs"]] == [100, 0]

    # Without a route the split is by weight (deploy.abtest.weight).
    values, _ = render_both(helm, "abtest", {"kubernetes": GATEWAY, "abtest": {"weight": 25}})
    assert values["traffic"]["canaryWeight"] == 25 and values["traffic"]["matches"] == []

    _, manifests = render_both(helm, "abtest", {"kubernetes": INGRESS, "abtest": {"route": ROUTES[1:]}})
    annotations = of_kind(manifests, "Ingress")["churn-production-canary"]["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/canary-by-header"] == "Cookie"
    assert annotations["nginx.ingress.kubernetes.io/canary-by-header-pattern"] == r"(^|;\s*)mlops-variant=b(;|$)"
    _, manifests = render_both(helm, "abtest", {"kubernetes": INGRESS, "abtest": {"route": ROUTES[:1]}})
    annotations = of_kind(manifests, "Ingress")["churn-production-canary"]["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/canary-by-header"] == "x-mlops-variant"
    assert annotations["nginx.ingress.kubernetes.io/canary-by-header-value"] == "b"


def test_a_first_deploy_runs_only_the_stable_track(helm: str) -> None:
    for strategy in STRATEGIES:
        values, manifests = render_both(helm, strategy, {"kubernetes": GATEWAY}, stable=None)
        assert values["tracks"]["stable"]["version"] == 4
        assert not values["tracks"]["canary"]["enabled"] and not values["tracks"]["preview"]["enabled"]
        assert set(of_kind(manifests, "Deployment")) == {"churn-production-stable"}


def test_hpa_and_pdb_per_track(helm: str) -> None:
    _, manifests = render_both(helm, "canary", {"kubernetes": {"hpa": {"enabled": True, "min_replicas": 3, "max_replicas": 6}}})
    hpas = of_kind(manifests, "HorizontalPodAutoscaler")
    assert set(hpas) == {"churn-production-stable", "churn-production-canary"}
    assert hpas["churn-production-canary"]["apiVersion"] == "autoscaling/v2"
    assert hpas["churn-production-canary"]["spec"]["minReplicas"] == 3
    assert all("replicas" not in d["spec"] for d in of_kind(manifests, "Deployment").values())
    assert set(of_kind(manifests, "PodDisruptionBudget")) == {"churn-production-stable", "churn-production-canary"}


# --------------------------------------------------------------------------- templates and overrides


def test_a_template_in_the_users_folder_overrides_the_built_in(helm: str, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    builtin = (REPO / "templates" / "helm" / "values-canary.yaml.j2").read_text()
    folder = tmp_path / "my-templates"
    (folder / "helm").mkdir(parents=True)
    (folder / "helm" / "values-canary.yaml.j2").write_text(
        builtin + 'nodeSelector: {"pool": "inference"}\npriorityClassName: "model-serving"\n')
    values, manifests = render_both(helm, "canary", templates=folder)
    assert values["nodeSelector"] == {"pool": "inference"}
    for deployment in of_kind(manifests, "Deployment").values():
        assert deployment["spec"]["template"]["spec"]["nodeSelector"] == {"pool": "inference"}
        assert deployment["spec"]["template"]["spec"]["priorityClassName"] == "model-serving"
    # Other strategies still come from the built-ins; MLOPS_TEMPLATES works the same way.
    assert "nodeSelector" not in render_both(helm, "recreate", templates=folder)[0]
    monkeypatch.setenv("MLOPS_TEMPLATES", str(folder))
    assert render_both(helm, "canary")[0]["nodeSelector"] == {"pool": "inference"}


def test_an_override_that_renders_what_the_chart_refuses_is_an_error_naming_the_key(tmp_path: Path) -> None:
    folder = tmp_path / "my-templates"
    (folder / "helm").mkdir(parents=True)
    builtin = (REPO / "templates" / "helm" / "values-canary.yaml.j2").read_text()
    (folder / "helm" / "values-canary.yaml.j2").write_text(builtin + "replicaCount: 3\n")
    with pytest.raises(MlopsError, match=r"values\.replicaCount: unknown key"):
        kube.render_values(make_config(), "canary", STABLE, CANDIDATE, {}, folder)
    (folder / "helm" / "values-canary.yaml.j2").write_text(builtin + "port: [oops\n")
    with pytest.raises(MlopsError, match="did not render valid YAML"):
        kube.render_values(make_config(), "canary", STABLE, CANDIDATE, {}, folder)


# --------------------------------------------------------------------------- hostile values

HOSTILE = ['churn"', "churn: x", "churn\nx: y", "churn{{ .Values }}", "-churn", "churn'", "{{"]


@pytest.mark.parametrize("name", HOSTILE, ids=["quote", "colon", "newline", "braces", "leading-dash", "apostrophe", "bare-braces"])
def test_a_hostile_model_name_is_refused_naming_the_field(name: str) -> None:
    with pytest.raises(ConfigError, match=r"registry\.model_name"):
        make_config(registry={"model_name": name})


def test_a_model_name_kubernetes_refuses_as_a_label_is_refused_naming_the_field() -> None:
    # Accepted by mlops.yaml (a folder name) but not a label value: ends with '-', or too long for a name.
    with pytest.raises(MlopsError, match=r"registry\.model_name \(the model name\): 'churn-' cannot be a Kubernetes label"):
        kube.render_values(make_config(registry={"model_name": "churn-"}), "canary", STABLE, CANDIDATE, {})
    with pytest.raises(MlopsError, match=r"deploy\.kubernetes\.name \(default <model>-<environment>\).*at most 40"):
        kube.render_values(make_config(registry={"model_name": "c" * 50}), "canary", STABLE, CANDIDATE, {})
    # A name with '.' or '_' is made a valid object name; the label keeps the real model name.
    values = kube.render_values(make_config(registry={"model_name": "churn_v2.1"}), "canary", STABLE, CANDIDATE, {})
    assert values["fullnameOverride"] == "churn-v2-1-production" and values["model"]["name"] == "churn_v2.1"


@pytest.mark.parametrize("value", ['a"b', "a:b", "a\nb", "{{ x }}", "-a", "a" * 64])
def test_a_hostile_label_is_refused_naming_the_field(value: str) -> None:
    with pytest.raises(ConfigError, match=r"deploy\.kubernetes\.labels.*'team'"):
        make_config({"kubernetes": {"labels": {"team": value}}})
    with pytest.raises(ConfigError, match=r"deploy\.kubernetes\.labels.*not a Kubernetes qualified name"):
        make_config({"kubernetes": {"labels": {value: "ml"}}})


@pytest.mark.parametrize("value", ['say "hi"', "key: value", "line one\nline two\n- item", "{{ .Release.Name }}",
                                   "- leading dash", "# not a comment", "tab\there", "\u2028sep", "ünï"])
def test_a_hostile_annotation_value_is_escaped_and_arrives_unchanged(helm: str, value: str) -> None:
    values, manifests = render_both(helm, "canary", {"kubernetes": {"annotations": {"mlops.dev/note": value}}})
    assert values["podAnnotations"] == {"mlops.dev/note": value}
    for deployment in of_kind(manifests, "Deployment").values():
        assert deployment["spec"]["template"]["metadata"]["annotations"]["mlops.dev/note"] == value
    assert set(of_kind(manifests, "Deployment")) == {"churn-production-stable", "churn-production-canary"}


@pytest.mark.parametrize("field,record", [
    ("repository", {"repository": 'reg.io/churn"\n  evil: 1', "digest": DIGESTS[3]}),
    ("repository", {"repository": "reg.io/churn:{{ x }}", "digest": DIGESTS[3]}),
    ("repository", {"repository": "-reg.io/churn", "digest": DIGESTS[3]}),
    ("digest", {"repository": "reg.io/churn", "digest": "sha256:abc\nx: y"}),
    ("digest", {"repository": "reg.io/churn", "digest": "md5:" + "a" * 32}),
])
def test_a_hostile_image_record_in_the_registry_is_refused_naming_the_field(field: str, record: dict) -> None:
    from mlops_helpers.registry import ModelVersion

    version = ModelVersion("churn", 3, Path("."), "", {}, {}, [], {"image": record})
    with pytest.raises(MlopsError, match=rf"churn v3: image\.{field} "):
        VersionInfo.from_registry(version)


def test_a_version_without_a_packaged_image_says_to_run_mlops_package() -> None:
    from mlops_helpers.registry import ModelVersion

    with pytest.raises(MlopsError, match=r"churn v5 has no packaged image: run `mlops package --model @5` first"):
        VersionInfo.from_registry(ModelVersion("churn", 5, Path("."), "", {}, {}, [], {}))


@pytest.mark.parametrize("phase,message", [
    ({"weight": "10; rm -rf"}, "phase.weight"), ({"weight": 101}, "phase.weight"),
    ({"active": "green\nx: y"}, "phase.active"), ({"colour": "blue"}, "phase key 'colour' is unknown"),
])
def test_a_bad_phase_is_refused_naming_the_key(phase: dict, message: str) -> None:
    with pytest.raises(MlopsError, match=re.escape(message)):
        kube.render_values(make_config(), "canary", STABLE, CANDIDATE, phase)


# --------------------------------------------------------------------------- the schema


@pytest.mark.parametrize("change,expected", [
    (lambda v: v.update(strategy="blue-green"), "strategy"),
    (lambda v: v.update(replicaCount=3), "replicaCount"),
    (lambda v: v["tracks"]["stable"]["image"].update(digest="sha256:xyz"), "digest"),
    (lambda v: v["traffic"].update(canaryWeight=150), "canaryWeight"),
    (lambda v: v["model"].update(name="churn\nx: y"), "name"),
    (lambda v: v.update(fullnameOverride="Churn_Prod"), "fullnameOverride"),
    (lambda v: v["podLabels"].update(team="a:b"), "team"),
])
def test_the_schema_refuses_a_bad_values_file_through_helm_lint(helm: str, change, expected: str) -> None:
    values = kube.render_values(make_config(), "canary", STABLE, CANDIDATE, {})
    change(values)
    with pytest.raises(MlopsError) as raised:
        kube_helm.lint(values, helm)
    assert "schema" in str(raised.value) and expected in str(raised.value), str(raised.value)
    # The same check in Python, before helm ever runs.
    assert any(expected in error for error in kube.validate_schema(values, kube.chart_schema()))


def test_the_chart_refuses_contradictory_values(helm: str) -> None:
    values = kube.render_values(make_config(), "recreate", STABLE, CANDIDATE, {})
    values["tracks"]["canary"] = {**values["tracks"]["stable"], "enabled": True}
    with pytest.raises(MlopsError, match="strategy recreate runs one Deployment"):
        kube_helm.render_manifests(values, helm)


# --------------------------------------------------------------------------- mlops render


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "churn"
    write_config(root, {"strategy": "canary", "kubernetes": {"namespace": "models", **GATEWAY}})
    register_packaged(root, "churn", versions=4, production=3, without_image=(2,))
    return root


def test_mlops_render_prints_values_and_manifests(helm: str, project: Path) -> None:
    result = run_mlops("render", "--version", "4", "--phase", "weight=25", cwd=project, env={"MLOPS_HELM": helm})
    values_text, _, manifests = result.stdout.partition("\n---\n")
    values = yaml.safe_load(values_text)
    assert values["tracks"]["stable"]["version"] == 3  # the 'production' alias
    assert values["tracks"]["canary"]["image"]["digest"] == DIGESTS[4]
    assert values["traffic"]["canaryWeight"] == 25
    assert "stable: v3 (registry alias 'production')" in result.stderr
    route = of_kind("---\n" + manifests, "HTTPRoute")["churn-production"]
    assert [ref["weight"] for ref in route["spec"]["rules"][0]["backendRefs"]] == [75, 25]


def test_mlops_render_values_only_json_and_out(helm: str, project: Path, tmp_path: Path) -> None:
    result = run_mlops("render", "--strategy", "bluegreen", "--version", "4", "--stable", "1", "--values-only",
                       "--output", "json", cwd=project, env={"MLOPS_HELM": "/nonexistent/helm"})
    data = result.json()
    assert data["values"]["tracks"]["preview"]["version"] == 4 and data["values"]["tracks"]["stable"]["version"] == 1
    assert data["candidate"]["reference"] == f"{REPOSITORY}@{DIGESTS[4]}" and "manifests" not in data

    out = tmp_path / "rendered"
    result = run_mlops("render", "--version", "4", "--out", f"{out}/", cwd=project, env={"MLOPS_HELM": helm})
    assert sorted(path.name for path in out.iterdir()) == ["manifests.yaml", "values.yaml"]
    assert yaml.safe_load((out / "values.yaml").read_text())["strategy"] == "canary"
    assert of_kind((out / "manifests.yaml").read_text(), "Deployment")
    single = tmp_path / "all.yaml"
    run_mlops("render", "--version", "4", "--out", str(single), cwd=project, env={"MLOPS_HELM": helm})
    assert single.read_text().startswith("# Source: values (mlops render)\n")


def test_mlops_render_with_the_users_templates(helm: str, project: Path, tmp_path: Path) -> None:
    folder = tmp_path / "tpl" / "helm"
    folder.mkdir(parents=True)
    builtin = (REPO / "templates" / "helm" / "values-canary.yaml.j2").read_text()
    (folder / "values-canary.yaml.j2").write_text(builtin + 'tolerations: [{"key": "gpu", "operator": "Exists"}]\n')
    result = run_mlops("render", "--version", "4", "--values-only", "--templates", str(tmp_path / "tpl"), cwd=project)
    assert yaml.safe_load(result.stdout)["tolerations"] == [{"key": "gpu", "operator": "Exists"}]


def test_mlops_render_errors_exit_2_with_the_reason(project: Path) -> None:
    result = run_mlops("render", "--version", "2", "--values-only", cwd=project, check=2)
    assert "churn v2 has no packaged image: run `mlops package --model @2` first" in result.stderr
    result = run_mlops("render", "--version", "4", "--values-only", "--phase", "weight=x", cwd=project, check=2)
    assert "--phase" in result.stderr
    result = run_mlops("render", "--version", "4", "--values-only", "--set", "deploy.kubernetes.labels.team=a:b",
                       cwd=project, check=2)
    assert "deploy.kubernetes.labels" in result.stderr
    result = run_mlops("render", "--version", "4", cwd=project, check=2,
                       env={"MLOPS_HELM": "/nonexistent/helm"})
    assert "helm '/nonexistent/helm' is not an executable file" in result.stderr


def test_golden_files_are_committed_for_every_strategy() -> None:
    names = {path.name for path in GOLDEN.glob("*.yaml")}
    assert names == {f"{s}.{kind}.yaml" for s in STRATEGIES for kind in ("values", "manifests")} or UPDATE_GOLDEN


def test_a_promotion_can_run_the_new_version_on_both_tracks_before_the_old_track_goes(helm: str) -> None:
    # Blue/green after the switch: the stable Deployment rolls to v4 while the Service selects preview.
    values, manifests = render_both(helm, "bluegreen", {}, {"active": "preview"}, stable=CANDIDATE, candidate=CANDIDATE)
    assert values["tracks"]["stable"]["version"] == values["tracks"]["preview"]["version"] == 4
    assert of_kind(manifests, "Service")["churn-production"]["spec"]["selector"]["mlops.dev/track"] == "preview"
    # Canary at 100 % while the stable track catches up; then without a candidate only stable remains.
    values, _ = render_both(helm, "canary", {"kubernetes": GATEWAY}, {"weight": 100}, stable=CANDIDATE, candidate=CANDIDATE)
    assert values["tracks"]["canary"]["version"] == 4 and values["traffic"]["canaryWeight"] == 100
    _, manifests = render_both(helm, "canary", {"kubernetes": GATEWAY}, stable=CANDIDATE, candidate=None)
    assert set(of_kind(manifests, "Deployment")) == {"churn-production-stable"}
