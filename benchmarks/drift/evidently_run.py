"""One run of Evidently's DataDriftPreset on the benchmark data, under Evidently's own venv.

  <evidently venv>/bin/python benchmarks/drift/evidently_run.py DATA_FOLDER WIDTH

Started by bench_drift.py. Builds the same DataFrames as our side (data.py; untimed), then
times building Evidently's datasets (with the column kinds given, as ours are) and running
the report; prints JSON: the timing, the columns Evidently found drifted, its versions.
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
from pathlib import Path

import data
import timing
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset


def main() -> None:
    folder, width = Path(sys.argv[1]), int(sys.argv[2])
    reference, current = data.frame(folder, "reference", width), data.frame(folder, "current", width)
    kinds = data.columns(width)
    definition = DataDefinition(numerical_columns=[name for name, kind in kinds if kind != "categorical"],
                                categorical_columns=[name for name, kind in kinds if kind == "categorical"])

    def run():
        return Report([DataDriftPreset()]).run(Dataset.from_pandas(current, data_definition=definition),
                                               Dataset.from_pandas(reference, data_definition=definition))

    snapshot, measured = timing.measure(run)
    drifted, methods = [], set()
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if "column" not in config:
            continue  # the DriftedColumnsCount summary
        methods.add(config["method"])
        # Tests drift below their p-value threshold, distances at or above theirs (Evidently's rule).
        if ("p_value" in config["method"]) == (metric["value"] < config["threshold"]):
            drifted.append(config["column"])
    versions = {name: importlib.metadata.version(name) for name in ("evidently", "pandas", "numpy", "scipy")}
    print(json.dumps({**measured, "drifted": drifted, "methods": sorted(methods), "versions": versions}))


if __name__ == "__main__":
    main()
