"""docs/architecture.md names every module and Jenkins step, and nothing that does not exist.

Both ways, so the map cannot go stale: a module added, moved or removed fails this test until the
doc follows.

- Every `*.py` under mlops_helpers/ is named by its path relative to mlops_helpers/
  (`rollout/steps/ramp.py`, `__main__.py`); a package's `__init__.py` may be named by its folder
  (`rollout/steps/`).
- Every `vars/*.groovy` and `src/org/mlops/jenkins/*.groovy` is named by its file name
  (`mlopsDeploy.groovy`), and every step in vars/ has its `.txt` help page beside it.
- Every path the doc names exists:
  - a word ending in `.py` or `.groovy`, anywhere (prose, tables, diagrams), is relative to
    mlops_helpers/, unless its first folder is one of the repository's top-level folders
    (`scripts/lint-python.sh`, `tests/...`); a bare `X.groovy` is a step in vars/ or a class in
    src/org/mlops/jenkins/;
  - a `code span` ending in `/` is a folder, resolved the same way (folders under tests/ are
    left out: the test layout is a convention, described, not a list of paths);
  - a `code span` with a slash that starts with a top-level folder (`templates/package/Dockerfile.j2`);
  - a dotted `mlops_helpers.x.y` is a module (or a name defined at the top of one);
  - a `test_name` code span is a test function somewhere under tests/.
  `<placeholder>` and `*` in a path match anything, `**` any number of folders.
- The exit-code table lists exactly the codes of mlops_helpers/cli/exit_codes.py, and the
  **Markers** bullet exactly the pytest markers registered in pyproject.toml.
"""

from __future__ import annotations

import ast
import re
import tomllib
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "mlops_helpers"
DOC = REPO / "docs" / "architecture.md"
VARS = REPO / "vars"
CLASSES = REPO / "src" / "org" / "mlops" / "jenkins"
EXIT_CODES = PACKAGE / "cli" / "exit_codes.py"

# A path starting with one of these is relative to the repository; any other, to mlops_helpers/.
TOP_LEVEL = ("benchmarks", "docs", "examples", "mlops_helpers", "resources", "scripts", "src", "templates",
             "tests", "tools", "vars")

FILE_WORD = re.compile(r"(?<![\w./<>*-])((?:[\w.<>*-]+/)*[\w<>*-]+\.(?:py|groovy))(?![\w/])")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
DOTTED = re.compile(r"(?<![\w.])mlops_helpers(?:\.[A-Za-z_]\w*)+")
TEST_NAME = re.compile(r"test_\w+")
EXIT_ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*`([A-Z_]+)`\s*\|", re.M)


def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def is_pattern(path: str) -> bool:
    return "*" in path or "<" in path


def as_glob(path: str) -> str:
    return re.sub(r"<[^<>/]*>", "*", path)


def base_of(path: str) -> tuple[Path, str]:
    """The folder `path` is relative to, and the path relative to it."""
    first = path.split("/", 1)[0]
    return (REPO, path) if first in TOP_LEVEL else (PACKAGE, path)


def exists(base: Path, path: str) -> bool:
    if is_pattern(path):
        return any(base.glob(as_glob(path.rstrip("/"))))
    return (base / path).exists()


def package_modules() -> set[str]:
    return {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}


def groovy_files() -> dict[str, Path]:
    return {p.name: p for p in [*sorted(VARS.glob("*.groovy")), *sorted(CLASSES.glob("*.groovy"))]}


def mentioned_files(text: str) -> list[str]:
    return sorted(set(FILE_WORD.findall(text)))


def mentioned_folders(text: str) -> list[str]:
    return sorted({span for span in CODE_SPAN.findall(text)
                   if span.endswith("/") and re.fullmatch(r"[\w.<>*/-]+", span)
                   and not span.startswith((".", "<", "~")) and not span.startswith("tests/")})


def mentioned_repo_paths(text: str) -> list[str]:
    """Code spans like `templates/helm/values-<name>.yaml.j2`: a repository path by their first folder."""
    found = set()
    for span in CODE_SPAN.findall(text):
        if "/" not in span or not re.fullmatch(r"[\w.<>*/-]+", span) or span.split("/", 1)[0] not in TOP_LEVEL:
            continue
        if span.startswith("tests/") and "." not in span.rstrip("/").rsplit("/", 1)[-1]:
            continue  # the test folders are a convention (described, not listed); files under tests/ are checked
        found.add(span)
    return sorted(found)


@cache
def package_dirs() -> dict[str, Path]:
    """Packages that setuptools maps to folders outside mlops_helpers/ (templates, resources)."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    mapping = config.get("tool", {}).get("setuptools", {}).get("package-dir", {})
    return {name: REPO / folder for name, folder in mapping.items()}


def dotted_exists(name: str) -> bool:
    """`mlops_helpers.a.b` is a module or package, or a name defined at the top level of one."""
    parts = name.split(".")
    for length in range(len(parts), 0, -1):
        module = ".".join(parts[:length])
        rest = parts[length:]
        if module in package_dirs():
            folder = package_dirs()[module]
            source = folder / "__init__.py"
        else:
            folder = REPO.joinpath(*parts[:length])
            source = folder.with_suffix(".py") if folder.with_suffix(".py").is_file() else folder / "__init__.py"
        if not source.is_file():
            continue
        if not rest:
            return True
        return len(rest) == 1 and rest[0] in top_level_names(source)
    return False


def top_level_names(source: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(source.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.ImportFrom):
            names.update(alias.asname or alias.name for alias in node.names)
    return names


@cache
def defined_tests() -> frozenset[str]:
    found: set[str] = set()
    for path in (REPO / "tests").rglob("*.py"):
        found.update(re.findall(r"^\s*(?:async )?def (test_\w+)", path.read_text(encoding="utf-8"), re.M))
    return frozenset(found)


# --------------------------------------------------------------------------- the resolver's own rules


def test_no_subpackage_is_named_like_a_top_level_folder() -> None:
    # Otherwise `x/y.py` in the doc would be ambiguous between mlops_helpers/x/ and the repository's x/.
    clashes = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name in TOP_LEVEL)
    assert not clashes, f"mlops_helpers/ has subpackages named like top-level folders: {clashes}; extend the resolver"


def test_the_resolver_reads_paths_as_the_doc_means_them() -> None:
    text = ("`rollout/steps/` and rollout/steps/ramp.py, `scripts/lint-python.sh`, mlopsDeploy.groovy, "
            "`templates/helm/values-<name>.yaml.j2`, `mlops_helpers.router`, a/b (prose) and `mlops-out`")
    assert mentioned_files(text) == ["mlopsDeploy.groovy", "rollout/steps/ramp.py"]
    assert mentioned_folders(text) == ["rollout/steps/"]
    assert mentioned_repo_paths(text) == ["scripts/lint-python.sh", "templates/helm/values-<name>.yaml.j2"]
    assert exists(*base_of("templates/helm/values-<name>.yaml.j2"))
    assert not exists(*base_of("steps/ramp.py"))  # relative to mlops_helpers/, where it is not
    assert dotted_exists("mlops_helpers.router") and dotted_exists("mlops_helpers.templates")
    assert dotted_exists("mlops_helpers.rollout.strategies.PLAN_BUILDERS")
    assert not dotted_exists("mlops_helpers.rollout.router")


# --------------------------------------------------------------------------- everything is named


def test_every_module_of_the_package_is_named() -> None:
    named = {path for path in mentioned_files(doc_text()) if not is_pattern(path)}
    named = {p.removeprefix("mlops_helpers/") for p in named}
    folders = {f.removeprefix("mlops_helpers/") for f in mentioned_folders(doc_text())}
    missing = []
    for module in sorted(package_modules()):
        if module in named:
            continue
        if module.endswith("/__init__.py") and module.removesuffix("__init__.py") in folders:
            continue
        missing.append(module)
    assert not missing, (
        f"docs/architecture.md does not name {len(missing)} module(s) of mlops_helpers/: "
        + ", ".join(missing)
        + ". Add each to its package's table by its path relative to mlops_helpers/ (a package's "
          "__init__.py may be named by its folder, e.g. `rollout/steps/`)."
    )


def test_every_groovy_file_is_named() -> None:
    named = {Path(path).name for path in mentioned_files(doc_text()) if path.endswith(".groovy") and not is_pattern(path)}
    missing = [str(path.relative_to(REPO)) for name, path in groovy_files().items() if name not in named]
    assert not missing, (
        f"docs/architecture.md does not name {len(missing)} Groovy file(s): {', '.join(missing)}. "
        "Add each to the Jenkins table (by its file name, e.g. `mlopsDeploy.groovy`)."
    )


def test_every_step_has_its_help_page_beside_it() -> None:
    # The doc says so of every step instead of naming each .txt.
    steps = {p.stem for p in VARS.glob("*.groovy")}
    pages = {p.stem for p in VARS.glob("*.txt")}
    assert steps == pages, (
        f"vars/: steps without a .txt help page: {sorted(steps - pages)}; "
        f"help pages without a step: {sorted(pages - steps)}"
    )


# --------------------------------------------------------------------------- nothing named is missing


def test_every_file_the_doc_names_exists() -> None:
    text = doc_text()
    missing = []
    for path in mentioned_files(text):
        if path.endswith(".groovy") and "/" not in path:
            if not any(exists(folder, path) for folder in (VARS, CLASSES)):
                missing.append(f"{path} (not in vars/ nor src/org/mlops/jenkins/)")
        elif not exists(*base_of(path)):
            base, rel = base_of(path)
            missing.append(f"{path} (no {(base / rel).relative_to(REPO)})")
    for path in mentioned_repo_paths(text):
        if not path.endswith((".py", ".groovy")) and not exists(REPO, path):
            missing.append(f"{path} (no such path in the repository)")
    assert not missing, "docs/architecture.md names files that do not exist: " + "; ".join(missing)


def test_every_folder_the_doc_names_exists() -> None:
    missing = []
    for folder in mentioned_folders(doc_text()):
        base, rel = base_of(folder)
        if not exists(base, rel) or not (is_pattern(rel) or (base / rel).is_dir()):
            missing.append(f"{folder} (no folder {(base / rel).relative_to(REPO)})")
    assert not missing, ("docs/architecture.md names folders that do not exist: " + "; ".join(missing)
                         + " (a folder that is not a package or repository path: write it without the trailing /)")


def test_every_dotted_module_the_doc_names_exists() -> None:
    missing = sorted({name for name in DOTTED.findall(doc_text()) if not dotted_exists(name)})
    assert not missing, f"docs/architecture.md names modules that do not exist: {', '.join(missing)}"


def test_every_test_the_doc_names_exists() -> None:
    named = {span for span in CODE_SPAN.findall(doc_text()) if TEST_NAME.fullmatch(span)}
    missing = sorted(named - defined_tests())
    assert not missing, f"docs/architecture.md names tests that are not defined under tests/: {', '.join(missing)}"


# --------------------------------------------------------------------------- exit codes


def exit_code_constants() -> dict[str, int]:
    """NAME = value for every int constant assigned at the top of cli/exit_codes.py."""
    from mlops_helpers.cli import exit_codes

    assigned = {target.id for node in ast.parse(EXIT_CODES.read_text()).body if isinstance(node, ast.Assign)
                for target in node.targets if isinstance(target, ast.Name)}
    return {name: getattr(exit_codes, name) for name in assigned if isinstance(getattr(exit_codes, name), int)}


def test_the_exit_code_table_is_the_one_of_exit_codes_py() -> None:
    rows = {name: int(code) for code, name in EXIT_ROW.findall(doc_text())}
    expected = exit_code_constants()
    assert rows == expected, (
        "docs/architecture.md's exit-code table (rows `| code | `NAME` | ... |`) differs from "
        f"mlops_helpers/cli/exit_codes.py: missing or wrong {sorted(set(expected.items()) - set(rows.items()))}, "
        f"extra {sorted(set(rows.items()) - set(expected.items()))}"
    )


# --------------------------------------------------------------------------- pytest markers


def registered_markers() -> set[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    return {entry.split(":", 1)[0].strip() for entry in config["tool"]["pytest"]["ini_options"]["markers"]}


def test_the_markers_are_the_registered_ones() -> None:
    match = re.search(r"^- \*\*Markers\*\*(.*?)(?=^- \*\*|^#)", doc_text(), re.M | re.S)
    assert match, "docs/architecture.md has no `- **Markers**` bullet in its Tests section"
    named = {span for span in CODE_SPAN.findall(match.group(1)) if re.fullmatch(r"[a-z_]+", span)}
    expected = registered_markers()
    assert named == expected, (
        f"the Markers bullet of docs/architecture.md names {sorted(named)}; pyproject.toml registers "
        f"{sorted(expected)} (missing: {sorted(expected - named)}, unknown: {sorted(named - expected)})"
    )
