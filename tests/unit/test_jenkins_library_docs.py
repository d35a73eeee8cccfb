"""Every Jenkins step has a help page that documents each of its arguments, and
docs/jenkins.md carries exactly those pages."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STEPS = sorted((REPO / "vars").glob("*.groovy"))
# The argument spec each step hands to StepArgs.check: `name: [type: ...`.
SPEC_KEY = re.compile(r"^\s+(\w+): \[type: ", re.MULTILINE)
# Arguments several steps share live in src/ (e.g. DeployTarget.spec()); a step that adds them documents them too.
SHARED_SPECS = {"DeployTarget.spec()": REPO / "src/org/mlops/jenkins/DeployTarget.groovy"}


def declared_arguments(step: Path) -> list[str]:
    source = step.read_text()
    arguments = SPEC_KEY.findall(source)
    for call, shared in SHARED_SPECS.items():
        if call in source:
            arguments += SPEC_KEY.findall(shared.read_text())
    return arguments


def test_shared_specs_are_found() -> None:
    assert set(declared_arguments(REPO / "vars/mlopsRollout.groovy")) >= {"target", "namespace", "kubeconfigCredentialsId"}


def test_there_are_steps() -> None:
    assert {p.stem for p in STEPS} >= {"mlopsSetup", "mlopsData", "mlopsValidateData", "mlopsTrain",
                                       "mlopsEvaluate", "mlopsRegister", "mlopsPipeline"}


@pytest.mark.parametrize("step", STEPS, ids=lambda p: p.stem)
def test_step_has_a_help_page_listing_every_argument(step: Path) -> None:
    help_page = step.with_suffix(".txt")
    assert help_page.is_file(), f"{step.name} has no {help_page.name}"
    text = help_page.read_text()
    assert text.startswith(f"### {step.stem}\n")
    arguments = declared_arguments(step)
    assert arguments, f"{step.name} declares no argument spec"
    for argument in arguments:
        assert f"| `{argument}` |" in text, f"{help_page.name} does not document argument '{argument}'"


def test_docs_jenkins_md_matches_the_help_pages() -> None:
    completed = subprocess.run([sys.executable, str(REPO / "scripts/gen_jenkins_docs.py"), "--check"],
                               capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    doc = (REPO / "docs/jenkins.md").read_text()
    for step in STEPS:
        assert f"### {step.stem}\n" in doc
