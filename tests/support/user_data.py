"""Files shaped like a data scientist's own table, made from scikit-learn's bundled data sets plus
synthetic columns (nothing is downloaded): text labels, several classes, a categorical column
whose values hold quotes and a colon, missing values, dates, IDs, Parquet.

Each maker writes the file and returns a `UserTable`: the path, the label column and the frame as
written, so a test sends the very rows the user has and feeds back the labels they wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn.datasets

SEED = 13
# Values a spreadsheet export really holds: quotes, a colon, an apostrophe.
REFERRALS = ('Dr. O\'Brien: "urgent"', 'Clinic "North": walk-in', "St. Mary's: routine", "screening: 2nd \"look\"")
CASKS = ("oak", "chestnut", "steel")
CULTIVARS = {0: "barolo", 1: "grignolino", 2: "barbera"}


@dataclass(frozen=True)
class UserTable:
    path: Path
    target: str
    frame: pd.DataFrame  # as written to the file
    not_features: tuple[str, ...] = field(default=())  # columns the project must drop (IDs)

    def target_values(self, rows: pd.DataFrame) -> list:
        """The labels of `rows` as the user wrote them, as JSON values (what /feedback is sent)."""
        return [_plain(value) for value in rows[self.target]]

    def feature_rows(self, rows: pd.DataFrame | None = None) -> list[dict]:
        """Rows as a client sends them: every column but the target and the dropped ones, nulls as null."""
        chosen = self.frame if rows is None else rows
        features = chosen.drop(columns=[self.target, *self.not_features])
        return [{k: (None if _missing(v) else _plain(v)) for k, v in row.items()} for row in features.to_dict(orient="records")]


def breast_cancer_text_labels(path: Path) -> UserTable:
    """30 numeric features, a `referral` column of quoted, colon-holding text, 5% of the feature cells
    missing, and the label `diagnosis` as the words malignant/benign."""
    bunch = sklearn.datasets.load_breast_cancer(as_frame=True)
    rng = np.random.default_rng(SEED)
    frame = bunch.data.copy()
    frame["referral"] = rng.choice(REFERRALS, size=len(frame))
    frame = _with_gaps(frame, rng, share=0.05)
    frame["diagnosis"] = [str(bunch.target_names[t]) for t in bunch.target]
    frame.to_csv(path, index=False)
    return UserTable(path, "diagnosis", frame)


def wine_three_cultivars(path: Path) -> UserTable:
    """Wine with its 3 classes named (`cultivar`: barolo, grignolino, barbera), a categorical `cask`
    and 5% of the feature cells missing."""
    bunch = sklearn.datasets.load_wine(as_frame=True)
    rng = np.random.default_rng(SEED + 1)
    frame = bunch.data.copy()
    frame["cask"] = rng.choice(CASKS, size=len(frame))
    frame = _with_gaps(frame, rng, share=0.05)
    frame["cultivar"] = bunch.target.map(CULTIVARS)
    frame.to_csv(path, index=False)
    return UserTable(path, "cultivar", frame)


def diabetes_progression(path: Path) -> UserTable:
    """A regression table: 10 numeric features and `progression`, a disease score one year on."""
    frame = sklearn.datasets.load_diabetes(as_frame=True).frame.rename(columns={"target": "progression"})
    frame.to_csv(path, index=False)
    return UserTable(path, "progression", frame)


def iris_parquet(path: Path) -> UserTable:
    """A Parquet file (types kept: floats, a boolean, text) with the label `species` by name."""
    bunch = sklearn.datasets.load_iris(as_frame=True)
    rng = np.random.default_rng(SEED + 2)
    frame = bunch.data.copy()
    frame.columns = [c.replace(" (cm)", "").replace(" ", "_") for c in frame.columns]
    frame["greenhouse"] = rng.random(len(frame)) < 0.3
    frame["site"] = rng.choice(("north field", "south field"), size=len(frame))
    frame["species"] = [str(bunch.target_names[t]) for t in bunch.target]
    frame.to_parquet(path, engine="pyarrow", index=False)
    return UserTable(path, "species", frame)


def wine_with_dates_and_ids(path: Path) -> UserTable:
    """Wine with an ID per row (`sample_id`: W-00001, ...), the harvest date (`harvested`, ISO
    dates over two years) and the cultivar as the integers 1, 2, 3, as a lab's export has them."""
    bunch = sklearn.datasets.load_wine(as_frame=True)
    rng = np.random.default_rng(SEED + 3)
    frame = bunch.data.copy()
    frame.insert(0, "sample_id", [f"W-{i:05d}" for i in rng.permutation(len(frame)) + 1])
    days = rng.integers(0, 730, size=len(frame))
    frame.insert(1, "harvested", (pd.Timestamp("2023-09-01") + pd.to_timedelta(days, unit="D")).strftime("%Y-%m-%d"))
    frame["cultivar"] = bunch.target + 1
    frame.to_csv(path, index=False)
    return UserTable(path, "cultivar", frame, not_features=("sample_id",))


def _with_gaps(frame: pd.DataFrame, rng: np.random.Generator, share: float) -> pd.DataFrame:
    """`share` of the cells empty, at random (the label column is added afterwards: labels are known)."""
    return frame.mask(rng.random(frame.shape) < share)


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value
