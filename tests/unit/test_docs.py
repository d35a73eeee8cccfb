"""The docs stay true to the code: generated references are fresh, every command and config
key is documented, the examples are valid, and links between the docs resolve."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import typing
from pathlib import Path

import click
import pytest
import yaml
from pydantic import BaseModel

from mlops_helpers import config as config_module
from mlops_helpers.cli import main

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
GENERATOR = REPO / "scripts" / "gen_cli_docs.py"
CLI_DOC = DOCS / "cli.md"
CONFIG_DOC = DOCS / "config.md"
GUIDE = DOCS / "getting-started-data-scientists.md"


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_cli_docs", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _commands() -> list[tuple[str, click.Command]]:
    """(command path, command) for every visible command, walked independently of the generator."""
    found = []

    def walk(command: click.Command, path: str, ctx: click.Context) -> None:
        found.append((path, command))
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    walk(sub, f"{path} {name}", click.Context(sub, info_name=name, parent=ctx))

    walk(main, "mlops", click.Context(main, info_name="mlops", **main.context_settings))
    return found


def _section(text: str, command_path: str) -> str:
    """The part of cli.md under the heading of `command_path`, up to the next heading of any command."""
    match = re.search(rf"^#+ `{re.escape(command_path)}`\n(.*?)(?=^#+ `mlops|\Z)", text, re.M | re.S)
    assert match, f"docs/cli.md has no heading for `{command_path}`"
    return match.group(1)


# --------------------------------------------------------------------------- generated references


@pytest.mark.parametrize("mode", [[], ["--config-docs"]], ids=["cli.md", "config.md"])
def test_generated_docs_are_up_to_date(mode: list[str]) -> None:
    completed = subprocess.run(
        [sys.executable, str(GENERATOR), "--check", *mode], capture_output=True, text=True, cwd=REPO
    )
    assert completed.returncode == 0, (
        f"{completed.stderr}{completed.stdout}\nRegenerate with: python scripts/gen_cli_docs.py {' '.join(mode)}"
    )


def test_generator_check_reports_a_stale_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generator = _load_generator()
    stale = tmp_path / "docs" / "cli.md"
    stale.parent.mkdir()
    stale.write_text(CLI_DOC.read_text().replace("## `mlops run`", "## `mlops walk`"))
    monkeypatch.setattr(generator, "REPO", tmp_path)
    monkeypatch.setattr(generator, "CLI_DOC", stale)

    assert generator.main(["--check"]) == 1
    assert generator.main([]) == 0  # rewrites it
    assert generator.main(["--check"]) == 0
    assert stale.read_text() == CLI_DOC.read_text()


def test_cli_doc_does_not_depend_on_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    generator = _load_generator()
    first = generator.render_cli_doc()
    monkeypatch.setenv("COLUMNS", "20")
    monkeypatch.setenv("MLOPS_OUTPUT", "json")
    assert generator.render_cli_doc() == first


# --------------------------------------------------------------------------- cli.md covers the CLI


def test_every_command_and_option_is_in_cli_md() -> None:
    text = CLI_DOC.read_text()
    for path, command in _commands():
        section = _section(text, path)
        assert f"\n{path} " in section or f"\n{path}\n" in section, f"no usage line for `{path}`"
        for param in command.params:
            names = param.opts if isinstance(param, click.Option) else [param.human_readable_name]
            for name in names:
                assert name in section, f"`{path}`: {name} is not documented in docs/cli.md"


def test_cli_md_explains_exit_codes_json_and_overrides() -> None:
    text = CLI_DOC.read_text()
    for needle in ("### Exit codes", "`--output json`", "stderr", "`--set KEY.PATH=VALUE`"):
        assert needle in text


# --------------------------------------------------------------------------- config.md covers the config


def _config_field_paths() -> tuple[list[str], set[type[BaseModel]]]:
    """Documented path of every field reachable from MlopsConfig (aliases; list items as `key[]`)."""
    paths: list[str] = []
    reached: set[type[BaseModel]] = set()

    def model_in(annotation) -> tuple[type[BaseModel] | None, bool]:
        for candidate in (annotation, *typing.get_args(annotation)):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                return candidate, False
            if typing.get_origin(candidate) is list:
                item = typing.get_args(candidate)[0]
                if isinstance(item, type) and issubclass(item, BaseModel):
                    return item, True
        return None, False

    def walk(model: type[BaseModel], prefix: str) -> None:
        reached.add(model)
        for name, field in model.model_fields.items():
            path = prefix + (field.alias or name)
            paths.append(path)
            sub, is_list = model_in(field.annotation)
            if sub is not None:
                walk(sub, path + ("[]." if is_list else "."))

    walk(config_module.MlopsConfig, "")
    return paths, reached


def test_every_config_field_is_in_config_md() -> None:
    text = CONFIG_DOC.read_text()
    paths, _ = _config_field_paths()
    missing = [path for path in paths if f"`{path}`" not in text]
    assert not missing, f"docs/config.md does not document: {', '.join(missing)}"


def test_config_md_defaults_are_yaml_that_gives_the_default() -> None:
    """Each documented default, written into mlops.yaml as shown, is the field's default (no Python reprs)."""
    from pydantic import TypeAdapter, ValidationError

    generator = _load_generator()
    rows = dict(re.findall(r"^\| `([^`]+)` \| .*? \| `(.*?)` \| .*\|$", CONFIG_DOC.read_text(), re.M))
    wrong = []
    for path, field in generator.config_fields():
        if path not in rows:
            continue  # required, or a section ("see its keys")
        documented = yaml.safe_load(rows[path].replace("\\|", "|"))
        adapter = TypeAdapter(typing.Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation)
        try:
            same = adapter.validate_python(documented) == field.get_default(call_default_factory=True)
        except ValidationError:
            same = False
        if not same:
            wrong.append(f"{path}: `{rows[path]}`")
    assert not wrong, f"docs/config.md defaults that are not the default: {', '.join(wrong)}"


def test_every_config_model_is_reachable_from_the_root() -> None:
    """A model class that MlopsConfig does not reach would have fields the test above skips."""
    _, reached = _config_field_paths()
    models = {
        obj
        for obj in vars(config_module).values()
        if isinstance(obj, type) and issubclass(obj, BaseModel) and obj.__module__ == config_module.__name__
    }
    orphans = [model.__name__ for model in models - reached if model.model_fields]
    assert not orphans, f"config models not reachable from MlopsConfig: {orphans}"


def test_config_md_lists_every_metric_and_the_reserved_sections() -> None:
    text = CONFIG_DOC.read_text()
    for metric in config_module.KNOWN_METRICS:
        assert f"`{metric}`" in text
    for section in ("package", "deploy", "monitoring"):
        assert f"`{section}`" in text
    assert "mlops.yaml: training.params.n_estimators: -3 is not valid" in text


def test_full_config_example_is_valid() -> None:
    from mlops_helpers.training import check_training_config

    example = re.search(r"## A full example\n.*?```yaml\n(.*?)```", CONFIG_DOC.read_text(), re.S)
    assert example, "docs/config.md has no full example"
    raw = yaml.safe_load(example.group(1))
    parsed = config_module.parse_config(raw)
    assert check_training_config(parsed) == "classification"
    # "every key": the example sets every field of the schema (in at least one list item).
    def has(node, parts: list[str]) -> bool:
        if not parts:
            return True
        if isinstance(node, list):
            return any(has(item, parts) for item in node)
        return isinstance(node, dict) and parts[0] in node and has(node[parts[0]], parts[1:])

    paths, _ = _config_field_paths()
    missing = [path for path in paths if not has(raw, path.replace("[]", "").split("."))]
    assert not missing, f"the full example in docs/config.md lacks: {', '.join(missing)}"


# --------------------------------------------------------------------------- the guide


GUIDES = {
    GUIDE: ("mlops init", "mlops run", "mlops data status", "mlops data add", "mlops data push",
            "mlops data pull", "mlops data infer-schema", "mlops data validate", "mlops registry list",
            "mlops registry show", "mlops registry promote", "mlops registry rollback", "mlops registry history"),
    DOCS / "getting-started-platform-engineers.md": (
        "mlops init", "mlops run", "mlops render", "mlops deploy", "mlops rollout promote", "mlops rollout undo",
        "mlops undeploy"),
}


@pytest.mark.parametrize("guide", sorted(GUIDES), ids=lambda p: p.name)
def test_guide_only_uses_real_commands(guide: Path) -> None:
    known = {path for path, _ in _commands()}
    blocks = re.findall(r"```sh\n(.*?)```", guide.read_text(), re.S)
    used = set()
    for block in blocks:
        for line in block.splitlines():
            for call in re.findall(r"(?:^|[;&|(]\s*|\$\()\s*(mlops(?: [a-z][a-z-]*)*)", line):
                words = call.split()
                # the longest prefix that is a command: `mlops data add` from `mlops data add --x`
                while " ".join(words) not in known and len(words) > 1:
                    words.pop()
                command = " ".join(words)
                assert command in known, f"{line!r}: {call!r} is not an mlops command"
                used.add(command)
    for expected in GUIDES[guide]:
        assert expected in used, f"{guide.name} does not show {expected}"


# --------------------------------------------------------------------------- links


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    in_code = False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and (match := re.match(r"#{1,6} (.*)", line)):
            slug = _slug(match.group(1))
            anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
    return anchors


def _links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    return re.findall(r"\]\(([^)\s]+)\)", text)


@pytest.mark.parametrize("doc", sorted(DOCS.glob("*.md")), ids=lambda p: p.name)
def test_relative_links_resolve(doc: Path) -> None:
    broken = []
    for link in _links(doc):
        if re.match(r"[a-z][a-z0-9+.-]*:", link):  # http:, https:, mailto:
            continue
        target, _, anchor = link.partition("#")
        target_path = (doc.parent / target).resolve() if target else doc
        if not target_path.exists():
            broken.append(f"{link} (no such file)")
        elif anchor and target_path.suffix == ".md" and anchor not in _anchors(target_path):
            broken.append(f"{link} (no heading #{anchor} in {target_path.name})")
    assert not broken, f"{doc.name}: broken links: {', '.join(broken)}"
