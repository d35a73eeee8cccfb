"""The suite's set-up (the layout and the markers: tests/README.md).

- Fixtures live in tests/support/ and are registered here as plugins: a test names the fixture
  it needs as an argument and never imports it. The support modules are on sys.path (the
  `pythonpath` setting in pyproject.toml), so tests import their helpers by module name.
- A test that uses a fixture which starts a component, directly or through another fixture,
  gets that component's marker (COMPONENT_MARKERS), so `-m "not cluster"` (or `not docker`, ...)
  leaves out everything that needs it. A test that reaches a component without such a fixture
  carries the marker itself; tests/unit/test_markers.py checks both.
- The images this run built are removed when it ends.
"""

from __future__ import annotations

import time

import pytest

pytest_plugins = ["cli_support", "helm_support", "serving_support", "services"]

# Fixture -> the marker of the component it starts (scripts/services/*.sh).
COMPONENT_MARKERS = {
    "docker_engine": "docker",
    "oci_registry": "docker",
    "base_image": "docker",
    "prometheus_server": "prometheus",
    "kube_cluster": "cluster",
    "helm": "helm",
}

RUN_STARTED = pytest.StashKey[float]()


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for marker in sorted({COMPONENT_MARKERS[name] for name in used & COMPONENT_MARKERS.keys()}):
            item.add_marker(marker)


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[RUN_STARTED] = time.time() - 1


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The images this run built go when it ends (in the xdist controller, after every worker)."""
    if hasattr(session.config, "workerinput"):
        return
    from services import remove_images_built_since

    remove_images_built_since(session.config.stash[RUN_STARTED])


def pytest_report_header(config: pytest.Config) -> list[str]:
    from mlops_helpers.toolversions import collect_versions

    return ["versions: " + ", ".join(f"{k} {v}" for k, v in collect_versions().items())]
