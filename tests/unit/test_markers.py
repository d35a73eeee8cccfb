"""The component markers cannot be forgotten: `-m "not cluster"` (or `not docker`, ...) leaves out
every test that needs the component.

tests/conftest.py marks a test from the fixtures it uses (COMPONENT_MARKERS). Checked here, from the
source: each scripts/services script has a marker; every fixture in tests/support that runs one
(directly or through a helper) is in COMPONENT_MARKERS or uses a fixture that is; and a test or
fixture in tests/unit or tests/e2e that starts a component itself (a support helper such as
`run_service_script` or `start_kube_cluster`, or `request.getfixturevalue("kube_cluster")`) carries
the marker, unless it asks for the component's fixture anyway. And nothing skips: a component
that cannot be started fails the test that needs it.
"""

from __future__ import annotations

import ast
import importlib
import re
import tomllib
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
SUPPORT = TESTS / "support"

# scripts/services/<script> -> the marker of a test that needs what it starts (None: not a component).
SCRIPT_MARKERS = {
    "docker.sh": "docker",
    "registry.sh": "docker",
    "base-image.sh": "docker",
    "prometheus.sh": "prometheus",
    "kube-cluster.sh": "cluster",
    "kube-build.sh": "cluster",
    "helm.sh": "helm",
    "chromium.sh": "chromium",
    "common.sh": None,  # sourced by the others
}


def component_markers() -> dict[str, str]:
    return importlib.import_module("tests.conftest").COMPONENT_MARKERS


def registered_markers() -> set[str]:
    ini = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    return {line.split(":", 1)[0] for line in ini["markers"]}


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def functions(tree: ast.Module) -> list[ast.FunctionDef]:
    """Module-level functions and the methods of module-level classes."""
    found = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            found += [item for item in node.body if isinstance(item, ast.FunctionDef)]
        elif isinstance(node, ast.FunctionDef):
            found.append(node)
    return found


def is_fixture(function: ast.FunctionDef) -> bool:
    return any("fixture" in ast.unparse(decorator) for decorator in function.decorator_list)


def called(node: ast.AST) -> set[str]:
    names = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            if isinstance(call.func, ast.Name):
                names.add(call.func.id)
            elif isinstance(call.func, ast.Attribute):
                names.add(call.func.attr)
    return names


def scripts_named(node: ast.AST) -> set[str]:
    """Service scripts named by a string in `node`: "docker.sh", "scripts/services/helm.sh", ...
    (a string that only ends like a script, such as the suffix of an f-string, names none)."""
    return {Path(constant.value).name for constant in ast.walk(node)
            if isinstance(constant, ast.Constant) and isinstance(constant.value, str)
            and re.fullmatch(r"[a-z][a-z0-9-]*\.sh", Path(constant.value).name)}


def support_scripts() -> dict[str, set[str]]:
    """Function name -> the service scripts it runs, through the support helpers it calls, for every
    function of tests/support (names bound to a script path at module level count for their users)."""
    direct: dict[str, set[str]] = {}
    calls: dict[str, set[str]] = {}
    for path in sorted(SUPPORT.glob("*.py")):
        tree = parse(path)
        constants = {target.id: scripts_named(node.value) for node in tree.body if isinstance(node, ast.Assign)
                     for target in node.targets if isinstance(target, ast.Name)}
        for function in functions(tree):
            used = {name.id for name in ast.walk(function) if isinstance(name, ast.Name)}
            direct[function.name] = scripts_named(function).union(*(constants.get(name, set()) for name in used))
            calls[function.name] = called(function)
    runs = {name: set(scripts) for name, scripts in direct.items()}
    changed = True
    while changed:
        changed = False
        for name in runs:
            for callee in calls[name] & runs.keys():
                if not runs[callee] <= runs[name]:
                    runs[name] |= runs[callee]
                    changed = True
    return runs


def markers_of(scripts: set[str]) -> set[str]:
    return {marker for script in scripts if (marker := SCRIPT_MARKERS[script])}


def marks_in(node: ast.AST) -> set[str]:
    """X of every `pytest.mark.X` in `node` (decorators, `pytestmark = ...`, `pytest.param(..., marks=...)`)."""
    return {attribute.attr for attribute in ast.walk(node)
            if isinstance(attribute, ast.Attribute) and isinstance(attribute.value, ast.Attribute)
            and attribute.value.attr == "mark"}


def test_every_service_script_has_a_marker_and_every_marker_is_registered() -> None:
    scripts = {path.name for path in (REPO / "scripts" / "services").glob("*.sh")}
    assert scripts == set(SCRIPT_MARKERS), "add the new script to SCRIPT_MARKERS (and its marker to pyproject.toml)"
    used = {marker for marker in SCRIPT_MARKERS.values() if marker} | set(component_markers().values())
    assert used <= registered_markers(), used - registered_markers()


def test_every_fixture_that_starts_a_component_is_in_the_marker_map() -> None:
    runs, markers = support_scripts(), component_markers()
    fixtures = {function.name: function for path in sorted(SUPPORT.glob("*.py")) for function in functions(parse(path))
                if is_fixture(function)}
    for name, function in fixtures.items():
        needed = markers_of(runs[name])
        given = {markers[name]} if name in markers else set()
        given |= {markers[arg.arg] for arg in function.args.args if arg.arg in markers}
        assert needed <= given, f"tests/support fixture {name!r} starts {sorted(needed - given)}: add it to COMPONENT_MARKERS"
    for name, marker in markers.items():
        assert name in fixtures, f"COMPONENT_MARKERS names {name!r}, which is no fixture of tests/support"
        assert marker in markers_of(runs[name]) | {markers.get(arg.arg) for arg in fixtures[name].args.args}, (name, marker)
    assert {"docker_engine", "oci_registry", "base_image", "prometheus_server", "kube_cluster", "helm"} <= markers.keys()


def test_tests_that_start_a_component_themselves_carry_its_marker() -> None:
    runs, markers = support_scripts(), component_markers()
    # Helpers that start a given component (start_docker_engine, start_kube_cluster, ...); a call of
    # run_service_script(SCRIPT, ...) itself needs the marker of SCRIPT.
    starters = {name: markers_of(scripts) for name, scripts in runs.items() if markers_of(scripts)}
    assert {"start_docker_engine", "start_kube_cluster", "start_prometheus", "start_oci_registry"} <= starters.keys()
    missing = []
    for path in sorted([*(TESTS / "unit").rglob("test_*.py"), *(TESTS / "e2e").rglob("test_*.py")]):
        tree = parse(path)
        module_marks = set().union(*(marks_in(node.value) for node in tree.body if isinstance(node, ast.Assign)
                                     and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets)))
        for function in functions(tree):
            needed = set().union(*(starters[name] for name in called(function) if name in starters))
            for call in ast.walk(function):
                if not isinstance(call, ast.Call) or not call.args:
                    continue
                name = getattr(call.func, "id", None) or getattr(call.func, "attr", None)
                if name == "run_service_script":
                    needed |= markers_of(scripts_named(call.args[0]))
                elif name == "getfixturevalue" and isinstance(call.args[0], ast.Constant) and call.args[0].value in markers:
                    needed.add(markers[call.args[0].value])
            given = module_marks | marks_in(ast.Module(body=list(function.decorator_list), type_ignores=[]))
            given |= {markers[arg.arg] for arg in function.args.args if arg.arg in markers}
            if needed - given:
                missing.append(f"{path.relative_to(TESTS)}::{function.name} needs {sorted(needed - given)}")
    assert not missing, "mark these (pytestmark, a decorator or pytest.param(marks=...)):\n" + "\n".join(missing)


def test_no_test_or_fixture_skips() -> None:
    skipping = ("pytest.skip", "importorskip", "mark.skip", "mark.skipif")
    found = [f"{path.relative_to(TESTS)}: {word}" for path in sorted(TESTS.glob("*.py")) + sorted(
        path for folder in ("support", "unit", "e2e") for path in (TESTS / folder).rglob("*.py"))
        for word in skipping if word in path.read_text() and path != Path(__file__)]
    assert not found, "a missing component must fail the test, not skip it: " + "; ".join(found)


class _Item:
    def __init__(self, *fixturenames: str) -> None:
        self.fixturenames = list(fixturenames)
        self.markers: list[str] = []

    def add_marker(self, marker: str) -> None:
        self.markers.append(marker)


@pytest.mark.parametrize("fixturenames, expected", [
    (("tmp_path",), []),
    (("cluster", "kube_cluster", "helm"), ["cluster", "helm"]),  # a module fixture using both
    (("base_image", "docker_engine", "oci_registry", "packaged_project"), ["docker"]),
    (("scraped", "prometheus_server", "classification"), ["prometheus"]),
])
def test_the_conftest_hook_marks_a_test_by_the_fixtures_it_uses(fixturenames: tuple[str, ...], expected: list[str]) -> None:
    item = _Item(*fixturenames)
    importlib.import_module("tests.conftest").pytest_collection_modifyitems([item])
    assert item.markers == expected
