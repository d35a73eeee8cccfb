"""The served model: a verified artefact folder, its feature schema and its identity."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from mlops_helpers.checksums import verify_sums
from mlops_helpers.errors import MlopsError

# Pandas dtype kinds that the server accepts as JSON numbers; everything else takes strings.
_NUMERIC_KINDS = frozenset("iuf")


@dataclass(frozen=True)
class Feature:
    name: str
    numeric: bool
    boolean: bool
    nullable: bool


@dataclass
class ServedModel:
    name: str
    version: str
    estimator: Any
    features: list[Feature]
    metadata: dict[str, Any]

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.estimator.predict(frame)

    def sample_frame(self, artefact_dir: Path, rows: int = 8) -> pd.DataFrame | None:
        holdout = artefact_dir / "holdout.csv"
        if not holdout.is_file():
            return None
        return pd.read_csv(holdout, nrows=rows)[self.feature_names]

    def describe(self) -> dict[str, Any]:
        """What GET /metadata answers."""
        meta = self.metadata
        return {
            "name": self.name,
            "version": self.version,
            "task": meta.get("task"),
            "estimator": meta.get("estimator"),
            "features": meta.get("features"),
            "target": meta.get("target"),
            "classes": meta.get("classes"),
            "metrics": meta.get("metrics"),
            "data_version": (meta.get("data") or {}).get("md5"),
            "git_commit": (meta.get("git") or {}).get("commit"),
            "trained_at": meta.get("trained_at"),
            "versions": meta.get("versions"),
        }


def load_served_model(artefact_dir: Path, version: str | None = None) -> ServedModel:
    """Verify checksums before unpickling, then read the feature schema from metadata.json."""
    if not (artefact_dir / "metadata.json").is_file():
        raise MlopsError(f"{artefact_dir}: not a model artefact (no metadata.json)")
    verify_sums(artefact_dir)
    metadata = json.loads((artefact_dir / "metadata.json").read_text())
    record = artefact_dir / "version.json"
    if version is None:
        version = str(json.loads(record.read_text())["version"]) if record.is_file() else "dev"
    features = [
        Feature(
            name=f["name"],
            numeric=np.dtype(f["dtype"]).kind in _NUMERIC_KINDS if f["dtype"] not in ("category", "string") else False,
            boolean=f["dtype"] == "bool",
            nullable=bool(f.get("nullable", False)),
        )
        for f in metadata["features"]
    ]
    return ServedModel(
        name=metadata.get("model_name", "model"),
        version=version,
        estimator=joblib.load(artefact_dir / "model.joblib"),
        features=features,
        metadata=metadata,
    )
