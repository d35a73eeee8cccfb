"""CLI contract, in-process: help everywhere, each CLI module imports on its own, one list of strategies."""

from __future__ import annotations

import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import mlops_helpers.cli
from mlops_helpers.cli import main

REPO = Path(__file__).resolve().parents[3]
CLI_MODULES = sorted(m.name for m in pkgutil.iter_modules(mlops_helpers.cli.__path__, "mlops_helpers.cli."))


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _all_commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


@pytest.mark.parametrize("command", _all_commands(main), ids=lambda c: " ".join(c) or "mlops")
def test_every_command_has_help(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output
    if command:
        assert main.get_command(click.Context(main), command[0]).help, f"{command} has no help text"


@pytest.mark.parametrize("module", CLI_MODULES)
def test_every_cli_module_imports_on_its_own(module: str) -> None:
    # A fresh interpreter per module, so that no module imported earlier hides an import cycle.
    completed = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr


def test_strategies_are_the_ones_of_the_spec_everywhere() -> None:
    from mlops_helpers.rollout.spec import STRATEGIES

    for name in ("deploy", "render"):
        (option,) = [p for p in main.commands[name].params if p.name == "strategy"]
        assert isinstance(option.type, click.Choice) and tuple(option.type.choices) == STRATEGIES, name
    groovy = (REPO / "vars" / "mlopsDeploy.groovy").read_text()
    allowed = re.search(r"strategy:\s*\[[^\]]*allowed:\s*\[([^\]]*)\]", groovy)
    assert allowed, "vars/mlopsDeploy.groovy has no `strategy: [..., allowed: [...]]`"
    assert tuple(re.findall(r"'([^']+)'", allowed.group(1))) == STRATEGIES
