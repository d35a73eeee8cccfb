"""The package's import graph has no cycle: each module can be imported on its own, in any order.

Edges are the imports that run when a module is imported: top-level `import`/`from` statements,
not those under `if TYPE_CHECKING:` (types only) nor inside functions (deferred on purpose, to keep
`mlops --help` fast or to reach a heavy library only when a command needs it).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "mlops_helpers"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _runtime_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(statements: list[ast.stmt]) -> None:
        for statement in statements:
            if isinstance(statement, ast.Import | ast.ImportFrom):
                found.append(statement)
            elif isinstance(statement, ast.If):
                if not (isinstance(statement.test, ast.Name) and statement.test.id == "TYPE_CHECKING"):
                    visit(statement.body)
                visit(statement.orelse)
            elif isinstance(statement, ast.Try):
                visit(statement.body)
                for handler in statement.handlers:
                    visit(handler.body)
    visit(tree.body)
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for statement in _runtime_imports(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(statement, ast.Import):
                targets = [alias.name for alias in statement.names]
            else:
                base = statement.module or ""
                if statement.level:
                    anchor = package.split(".")[: len(package.split(".")) - statement.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [base] + [f"{base}.{alias.name}" for alias in statement.names]
            # Importing a.b.c runs a, a.b and a.b.c; the importer's own parent packages are already
            # initialised (Python runs them first), so they are no edge.
            parents = {".".join(name.split(".")[:end]) for end in range(1, name.count(".") + 1)}
            for target in targets:
                parts = target.split(".")
                for end in range(1, len(parts) + 1):
                    candidate = ".".join(parts[:end])
                    if candidate in known and candidate != name and candidate not in parents:
                        graph[name].add(candidate)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in graph:
        if node not in index:
            connect(node)
    return found


def test_the_package_has_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_the_walker_finds_a_cycle_when_there_is_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("name", sorted(modules()))
def test_every_module_imports_on_its_own(name: str) -> None:
    result = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_every_package_ships_in_the_wheel() -> None:
    """pyproject.toml lists the packages explicitly (templates/ and resources/ are mapped in): a
    package missing there is missing from the wheel that `mlops package` and Jenkins agents install."""
    import tomllib

    listed = set(tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {name for name, path in modules().items() if path.name == "__init__.py"}
    assert sorted(on_disk - listed) == []
