"""Progress on stderr, results on stdout: `--output json` keeps stdout machine-readable."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

# How a stage that did not simply succeed is marked: a pause waits for someone, the rest failed.
_ENDED_MARKS = {"paused": "‖", "timed_out": "…"}


class Stage:
    """What a `Reporter.stage` block yields: set `outcome` when the stage ended otherwise than by
    succeeding without raising (a paused or aborted rollout), so it is not marked ✓."""

    outcome: str | None = None


class Reporter:
    """Prints stage progress (a spinner on a terminal, plain lines in CI logs)."""

    def __init__(self, output: str = "text", quiet: bool = False) -> None:
        self.output = output
        self.quiet = quiet
        self._interactive = sys.stderr.isatty()

    @contextmanager
    def stage(self, title: str) -> Iterator[Stage]:
        """Progress of one stage: ✓ when the block ends, ✗ when it raises (a failed check is raised
        inside the block, so it never reads ✓), or the mark of the `outcome` it set."""
        started = time.perf_counter()
        stage = Stage()
        if self.quiet:
            yield stage
            return
        if self._interactive:
            from rich.console import Console

            spinner: Any = Console(stderr=True).status(f"{title}…")
        else:
            print(f"▶ {title}…", file=sys.stderr, flush=True)
            spinner = nullcontext()
        try:
            with spinner:
                yield stage
        except BaseException:
            self._line("✗", title, started)
            raise
        if stage.outcome is None:
            self._line("✓", title, started)
        else:
            self._line(_ENDED_MARKS.get(stage.outcome, "✗"), f"{title}: {stage.outcome}", started)

    def _line(self, mark: str, title: str, started: float) -> None:
        print(f"{mark} {title} ({time.perf_counter() - started:.1f}s)", file=sys.stderr, flush=True)

    def note(self, message: str) -> None:
        if not self.quiet:
            print(f"  {message}", file=sys.stderr, flush=True)

    def warn(self, message: str) -> None:
        print(f"warning: {message}", file=sys.stderr, flush=True)

    def result(self, data: dict[str, Any], human: str) -> None:
        """The command's result: JSON document or human summary, on stdout."""
        if self.output == "json":
            print(json.dumps(data, indent=2, sort_keys=True, default=str))
        else:
            print(human)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A plain-text table (no colours) that reads well in Jenkins console logs too."""
    cells = [[str(h) for h in headers]] + [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(value.ljust(widths[i]) for i, value in enumerate(row)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
