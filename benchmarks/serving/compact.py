"""The summary table: one row per scenario and server, the rounds side by side ("r1 / r2").

bench.py puts it at the top of results-latest.md, and the README quotes it. It is built
from the detailed table's cells, so it can be remade from a results file:

  python benchmarks/serving/compact.py benchmarks/serving/results-latest.md
"""

from __future__ import annotations

import sys
from pathlib import Path

HEADER = "| scenario | server | round |"
COLUMNS = ["req/s", "p50 ms", "p99 ms", "errors", "× MLflow", "× MLflow +uvloop", "× floor", "server CPU (cores)"]


def compact(detailed_markdown: str) -> str:
    lines = detailed_markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(HEADER))
    names = [cell.strip() for cell in lines[start].strip("|").split("|")]
    rows: dict[tuple[str, str], list[dict[str, str]]] = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = dict(zip(names, (cell.strip() for cell in line.strip("|").split("|"))))
        cells["server CPU (cores)"] = cells["server CPU (cores)"].split(" (")[0]  # the total, without ours' split
        rows.setdefault((cells["scenario"], cells["server"]), []).append(cells)
    out = ["| scenario | server | " + " | ".join(COLUMNS) + " |", "|---|---|" + "---:|" * len(COLUMNS)]
    for (scenario, server), rounds in rows.items():
        values = [" / ".join(r[column] for r in rounds) for column in COLUMNS]
        out.append(f"| {scenario} | {server} | " + " | ".join(values) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    print(compact(Path(sys.argv[1]).read_text()))
