"""The getting-started guides work as written: every ```sh block runs, in order, in a scratch home
(`~/work/demo` is a folder of the test's), and prints what the guide shows; a block that cannot run
here says so with `<!-- illustrative: why -->`, and its `mlops` commands must still parse. The
conventions are in tests/support/guide_support.py; new sections are found by themselves.

- The data scientists' guide runs whole, without Docker, in a network namespace of its own (its
  router takes 8000/8001 whatever else runs on the machine).
- The platform engineers' guide runs with the real Docker engine, OCI registry and helm: init,
  `mlops run` with the image, `mlops render` and a template of one's own. Its cluster steps
  (kubectl, deploy, rollout) are illustrative: tests/e2e/kube/ runs them against the test cluster;
  here they only have to parse.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from guide_support import (
    Block,
    GuideShell,
    apply_yaml,
    check_parses,
    guide_blocks,
    make_home,
    missing_lines,
    mlops_calls,
    outputs,
    reader_env,
)
from mlops_helpers.packaging import cache_dir

DOCS = Path(__file__).resolve().parents[2] / "docs"
GUIDES = sorted(DOCS.glob("getting-started-*.md"))
DATA_SCIENTISTS = DOCS / "getting-started-data-scientists.md"
PLATFORM_ENGINEERS = DOCS / "getting-started-platform-engineers.md"


def test_every_guide_is_run_here() -> None:
    assert set(GUIDES) == {DATA_SCIENTISTS, PLATFORM_ENGINEERS}, "a new getting-started guide needs its test below"


@pytest.mark.parametrize("guide", GUIDES, ids=lambda p: p.name)
def test_every_block_says_what_it_is(guide: Path, tmp_path: Path) -> None:
    """Markers fit their blocks, and every `mlops` command of an illustrative block parses."""
    problems = []
    for block in guide_blocks(guide):
        kind = block.marker[0] if block.marker else None
        if kind == "exit" and (block.info not in ("sh", "bash") or not re.fullmatch(r"\d+( or \d+)*", block.marker[1])):
            problems.append(f"{block.where(guide)}: <!-- exit: N --> (or `N or M`) goes before a sh block")
        if kind == "apply" and block.info != "yaml":
            problems.append(f"{block.where(guide)}: <!-- apply: FILE --> goes before a yaml block")
        if block.illustrative and block.info in ("sh", "bash"):
            problems += _unparsable(guide, block, tmp_path)
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_the_data_scientists_guide_runs_as_written(tmp_path: Path) -> None:
    run_guide(DATA_SCIENTISTS, tmp_path, own_network=True)


@pytest.mark.slow
def test_the_platform_engineers_guide_runs_as_written(tmp_path: Path, docker_engine, oci_registry: str, base_image: str,
                                                      helm: str) -> None:
    assert (oci_registry, base_image) == ("127.0.0.1:5000", "mlops-base:bookworm"), "the guide names these"
    home = make_home(tmp_path)
    # The image's wheelhouse is downloaded once per machine, like a reader's warm cache.
    (home / ".cache" / "mlops").mkdir(parents=True)
    (cache_dir() / "wheelhouses").mkdir(parents=True, exist_ok=True)
    (home / ".cache" / "mlops" / "wheelhouses").symlink_to(cache_dir() / "wheelhouses")
    # What section 2 exports, from the fixtures that started the same services.
    run_guide(PLATFORM_ENGINEERS, tmp_path, home=home, env={"DOCKER_HOST": os.environ["DOCKER_HOST"], "MLOPS_HELM": helm})


def run_guide(guide: Path, root: Path, home: Path | None = None, env: dict[str, str] | None = None,
              own_network: bool = False) -> None:
    """Every block of the guide in order; all problems are reported together, each with its place."""
    home = home or make_home(root)
    shell = GuideShell(home, reader_env(home, env), own_network=own_network)
    blocks = guide_blocks(guide)
    documented_output = outputs(blocks)
    problems: list[str] = []
    try:
        for number, block in enumerate(blocks):
            if block.marker and block.marker[0] == "apply":
                apply_yaml(shell.cwd() / block.marker[1], block.text)
            elif block.illustrative and block.info in ("sh", "bash"):
                problems += _unparsable(guide, block, shell.cwd())
            elif block.runs:
                problems += _run_block(guide, shell, block, number, documented_output.get(block.line))
    finally:
        shell.close()
    assert not problems, f"{guide.name}: {len(problems)} problem(s)\n\n" + "\n\n".join(problems)


def _run_block(guide: Path, shell: GuideShell, block: Block, number: int, output: Block | None) -> list[str]:
    ran = shell.run(block, number)
    allowed, codes = block.exit_codes(), [code for _, code in ran.failed]
    problems = []
    if not (codes == [] and 0 in allowed or len(codes) == 1 and codes[0] in allowed):
        failures = ", ".join(f"`{block.command_at(line)}` exited {code}" for line, code in ran.failed) or "nothing failed"
        wanted = " or ".join(map(str, sorted(allowed)))
        problems.append(f"{block.where(guide)}: expected exit {wanted}; {failures}\n{ran.tail()}")
    if output is not None and not output.illustrative:
        missing = missing_lines(output.text, ran.stdout + "\n" + ran.stderr, shell.home)
        if missing:
            problems.append(f"{output.where(guide)}: the output shown is not what the block printed; missing:\n  "
                            + "\n  ".join(missing) + f"\n{ran.tail()}")
    return problems


def _unparsable(guide: Path, block: Block, cwd: Path) -> list[str]:
    """The `mlops` commands of a block that click refuses, with its reason."""
    return [f"{block.where(guide)}: mlops {' '.join(args)}: {why}"
            for args in mlops_calls(block.text) if (why := check_parses(args, cwd))]
