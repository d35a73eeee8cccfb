"""Blue/green: hold-out rows through the preview route must be answered 200 by the new version."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_helpers.rollout.errors import AbortRollout
from mlops_helpers.rollout.steps.base import Outcome, Step

if TYPE_CHECKING:
    from mlops_helpers.rollout.context import StepContext


@dataclass(frozen=True)
class SmokeTest(Step):
    type = "smoke_test"
    requests: int

    def run(self, ctx: StepContext) -> Outcome:
        candidate = ctx.read().require_candidate()
        rows = holdout_rows(Path(candidate.artefact), self.requests)
        for number, row in enumerate(rows, 1):
            status, served, body = ctx.backend.preview_predict({"records": [row]})
            if status != 200 or served != candidate.version:
                answer = f"{status} from v{served}" if served else (str(status) if status else "nothing")
                raise AbortRollout(f"smoke test: request {number}/{len(rows)} through the preview route answered "
                                   f"{answer}, expected 200 from v{candidate.version}: {body[:300]}")
        ctx.event("smoke_test", f"{len(rows)} hold-out rows answered 200 by v{candidate.version}")
        return "next"


def holdout_rows(artefact: Path, count: int) -> list[dict[str, Any]]:
    """The first `count` hold-out rows of an artefact, as the records a client would send."""
    import pandas as pd

    metadata = json.loads((artefact / "metadata.json").read_text())
    features = [feature["name"] for feature in metadata["features"]]
    frame = pd.read_csv(artefact / "holdout.csv").head(count)
    rows: list[dict[str, Any]] = json.loads(frame[features].to_json(orient="records"))
    return rows
