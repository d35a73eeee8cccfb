"""Save the benchmark's fitted pipeline (the very model.joblib that `mlops serve` loads) as
an MLflow model folder, with `mlflow.sklearn.save_model` (no tracking server).

Run in the MLflow baseline venv: python save_mlflow_model.py ARTEFACT_DIR OUT_DIR
MLflow's default serialisation (skops in MLflow 3) is kept. The signature is inferred from the holdout rows, as MLflow recommends, so the scoring
server checks inputs against a schema (as ours does).
"""

from __future__ import annotations

import sys
from pathlib import Path

import joblib
import pandas as pd


def main() -> None:
    artefact, out = Path(sys.argv[1]), Path(sys.argv[2])
    import mlflow.sklearn
    from mlflow.models import infer_signature

    model = joblib.load(artefact / "model.joblib")
    holdout = pd.read_csv(artefact / "holdout.csv")
    features = holdout.drop(columns=["target"])
    import joblib as jl
    import numpy
    import scipy
    import sklearn  # noqa: E401 - pinned in the model's requirements

    mlflow.sklearn.save_model(
        model,
        str(out),
        signature=infer_signature(features, model.predict(features)),
        # MLflow 3's default format is skops, which asks to trust the tree storage explicitly (we made the file).
        skops_trusted_types=["sklearn.tree._tree.Tree"],
        # Given, so that save_model does not spawn a process to infer them (served with --env-manager local anyway).
        pip_requirements=[f"mlflow=={mlflow.__version__}", f"scikit-learn=={sklearn.__version__}",
                          f"pandas=={pd.__version__}", f"numpy=={numpy.__version__}",
                          f"scipy=={scipy.__version__}", f"joblib=={jl.__version__}"],
    )
    print(f"mlflow model: {out}")


if __name__ == "__main__":
    main()
