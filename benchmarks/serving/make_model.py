"""Fit the benchmark model once and write everything the servers and wrk need.

Run with the project's interpreter (.venv): it writes an mlops artefact folder that
`mlops serve --artefact` accepts, checksummed with mlops_helpers.checksums.write_sums.

  OUT/artefact/            model.joblib, metadata.json, holdout.csv, SHA256SUMS
  OUT/bodies/ours-1.json   {"records": [1 row]}        (ours and the Flask app)
  OUT/bodies/ours-100.json {"records": [100 rows]}
  OUT/bodies/mlflow-1.json {"dataframe_records": [1 row]}   (MLflow's /invocations)
  OUT/bodies/mlflow-100.json
  OUT/expected-100.json    the fitted model's own predictions for the 100-row body
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import joblib
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from mlops_helpers.checksums import write_sums


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    out = parser.parse_args().out

    frame = load_breast_cancer(as_frame=True).frame  # 30 float64 features + "target"
    features = [c for c in frame.columns if c != "target"]
    train, holdout = train_test_split(frame, test_size=0.2, random_state=0, stratify=frame["target"])
    model = Pipeline([("scaler", StandardScaler()), ("model", GradientBoostingClassifier(random_state=0))])
    model.fit(train[features], train["target"])

    artefact = out / "artefact"
    artefact.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, artefact / "model.joblib")
    holdout.to_csv(artefact / "holdout.csv", index=False)
    accuracy = float((model.predict(holdout[features]) == holdout["target"]).mean())
    metadata = {
        "model_name": "breast_cancer_gbc",
        "task": "classification",
        "estimator": "Pipeline(StandardScaler, GradientBoostingClassifier(random_state=0))",
        "target": "target",
        "classes": [0, 1],
        "features": [{"name": name, "dtype": "float64", "nullable": False} for name in features],
        "metrics": {"accuracy": accuracy},
    }
    (artefact / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")
    write_sums(artefact)

    rows = holdout[features].head(100)
    assert len(rows) == 100, len(rows)
    records = [{name: float(value) for name, value in row.items()} for row in rows.to_dict("records")]
    bodies = out / "bodies"
    bodies.mkdir(exist_ok=True)
    for n in (1, 100):
        (bodies / f"ours-{n}.json").write_text(json.dumps({"records": records[:n]}))
        (bodies / f"mlflow-{n}.json").write_text(json.dumps({"dataframe_records": records[:n]}))
    # Predictions of the very frame the servers will rebuild from JSON (floats round-trip exactly).
    expected = model.predict(pd.DataFrame(records, columns=features)).tolist()
    (out / "expected-100.json").write_text(json.dumps(expected))
    print(f"model: holdout accuracy {accuracy:.3f}, {len(features)} features, artefact {artefact}")


if __name__ == "__main__":
    main()
