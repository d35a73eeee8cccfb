"""Data sets that ship inside scikit-learn, so examples and tests never download anything."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlops_helpers.errors import MlopsError

TARGET_COLUMN = "target"


@dataclass(frozen=True)
class BundledDataset:
    name: str
    loader: str  # function name in sklearn.datasets
    task: str
    description: str


BUNDLED_DATASETS = {
    d.name: d
    for d in (
        BundledDataset("breast_cancer", "load_breast_cancer", "classification", "569 tumours, 30 features, 2 classes"),
        BundledDataset("wine", "load_wine", "classification", "178 wines, 13 features, 3 classes"),
        BundledDataset("iris", "load_iris", "classification", "150 flowers, 4 features, 3 classes"),
        BundledDataset("digits", "load_digits", "classification", "1797 8x8 images, 64 features, 10 classes"),
        BundledDataset("diabetes", "load_diabetes", "regression", "442 patients, 10 features, disease progression"),
    )
}


def get_dataset(name: str) -> BundledDataset:
    try:
        return BUNDLED_DATASETS[name]
    except KeyError:
        raise MlopsError(f"--dataset: {name!r} is not a bundled data set (choose from: {', '.join(BUNDLED_DATASETS)})") from None


def load_frame(name: str):
    """The data set as one DataFrame, features plus a `target` column."""
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, get_dataset(name).loader)(as_frame=True)
    frame = bunch.frame.copy()
    return frame.rename(columns={bunch.target.name: TARGET_COLUMN}) if bunch.target.name != TARGET_COLUMN else frame


def write_csv(name: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    load_frame(name).to_csv(path, index=False)
    return path
