"""Keeps the step reference in docs/jenkins.md identical to the vars/*.txt help pages.

    python scripts/gen_jenkins_docs.py          # rewrite the reference section
    python scripts/gen_jenkins_docs.py --check  # exit 1 when docs/jenkins.md is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs/jenkins.md"
BEGIN = "<!-- step-reference:begin (generated from vars/*.txt by scripts/gen_jenkins_docs.py) -->"
END = "<!-- step-reference:end -->"
FIRST = "mlopsPipeline"  # the step most users need comes first; the rest alphabetically


def step_reference() -> str:
    pages = sorted((REPO / "vars").glob("*.txt"), key=lambda p: (p.stem != FIRST, p.stem))
    return "\n".join(page.read_text().rstrip() + "\n" for page in pages)


def render(current: str) -> str:
    head, _, rest = current.partition(BEGIN)
    _, _, tail = rest.partition(END)
    if not rest:
        raise SystemExit(f"{DOC}: markers not found; add a line {BEGIN!r} and a line {END!r}")
    return f"{head}{BEGIN}\n\n{step_reference()}\n{END}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if docs/jenkins.md is out of date")
    check = parser.parse_args().check
    current = DOC.read_text()
    wanted = render(current)
    if check:
        if current != wanted:
            print(f"{DOC} is out of date: run python scripts/gen_jenkins_docs.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
