"""console.py's stage lines: ✓ only for a stage that succeeded; a failed check raised inside the
stage, or an outcome the stage set (a paused or aborted rollout), is marked otherwise."""

from __future__ import annotations

import pytest

from mlops_helpers.console import Reporter
from mlops_helpers.errors import CheckFailed


def stage_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if not line.startswith("▶")]


def test_a_stage_that_ends_normally_is_ticked(capsys: pytest.CaptureFixture[str]) -> None:
    with Reporter().stage("Training"):
        pass
    (line,) = stage_lines(capsys)
    assert line.startswith("✓ Training (")


def test_a_check_failing_inside_a_stage_is_crossed_not_ticked(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(CheckFailed), Reporter().stage("Validating data"):
        raise CheckFailed("data validation failed: 10 rows, 1 violation", {})
    (line,) = stage_lines(capsys)
    assert line.startswith("✗ Validating data (")


@pytest.mark.parametrize(("outcome", "mark"), [("paused", "‖"), ("aborted", "✗"), ("failed", "✗"), ("timed_out", "…")])
def test_a_stage_that_set_its_outcome_shows_it_instead_of_a_tick(capsys: pytest.CaptureFixture[str], outcome: str,
                                                                 mark: str) -> None:
    with Reporter().stage("Deploying v2 to 'production' (canary)") as stage:
        stage.outcome = outcome
    (line,) = stage_lines(capsys)
    assert line.startswith(f"{mark} Deploying v2 to 'production' (canary): {outcome} (")
