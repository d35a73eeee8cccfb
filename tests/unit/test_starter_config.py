"""The first mlops.yaml of `mlops init --data`: valid for every shape of target, with gates that a
constant answer fails and a useful model passes, and the reasons as comments."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from mlops_helpers.config import parse_config
from mlops_helpers.data.target import summarise_target
from mlops_helpers.starter_config import config_context
from mlops_helpers.templating import render


def rendered(frame: pd.DataFrame, target: str, bundled: bool = False) -> tuple[str, dict]:
    context = config_context(frame, summarise_target(frame[target], target), "my.csv", bundled)
    text = render("project/mlops.yaml.j2", {"project": "demo", "data_path": "data/my file.csv",
                                            "dvc_remote": "/tmp/remote: one", **context})
    return text, yaml.safe_load(text)


def table(labels: list) -> pd.DataFrame:
    rows = len(labels)
    return pd.DataFrame({"size": [float(i) for i in range(rows)], 'clinic "north": a': ["a", "b"] * (rows // 2),
                         "label: final": labels})


@pytest.mark.parametrize("labels", [["no"] * 6 + ["yes"] * 4, [1, 2, 3, 1, 2, 3, 1, 2, 3, 3], [True, False] * 5,
                                    [0.5 * i for i in range(30)]], ids=["text", "three-classes", "boolean", "regression"])
def test_the_config_is_valid_and_quotes_what_yaml_would_misread(labels: list) -> None:
    frame = table(labels)
    text, raw = rendered(frame, "label: final")
    config = parse_config(raw)
    assert config.data.target == "label: final" and config.data.path == "data/my file.csv"
    assert config.data.dvc_remote == "/tmp/remote: one"
    if config.training.task == "classification" and len(set(labels)) == 2:
        assert config.training.positive_label in labels  # the label as the data holds it: "yes", True
        assert type(config.training.positive_label) is type(labels[0])
    assert "# " in text.split("training:")[1].split("estimator:")[0]  # the task's reason is written down


def test_gates_are_the_next_hundredth_above_what_a_constant_answer_scores() -> None:
    frame = table(["benign"] * 6 + ["malignant"] * 4)
    _, raw = rendered(frame, "label: final")
    gates = {gate["metric"]: gate["min"] for gate in raw["validation"]["gates"]}
    # always "benign": accuracy 0.6; any constant: balanced accuracy 0.5; always "malignant": f1 2*0.4/1.4.
    assert gates == {"accuracy": 0.61, "balanced_accuracy": 0.51, "f1": 0.58}
    assert raw["validation"]["primary_metric"] == "balanced_accuracy"
    assert raw["training"]["positive_label"] == "malignant"


def test_regression_gates_beat_the_mean_and_bundled_sets_keep_their_bars() -> None:
    frame = table([float(i) for i in range(30)])
    _, raw = rendered(frame, "label: final")
    assert raw["validation"]["gates"] == [{"metric": "r2", "min": 0.01}] and raw["training"]["task"] == "regression"
    _, bundled = rendered(table([0, 1] * 5), "label: final", bundled=True)
    assert bundled["validation"]["gates"] == [{"metric": "accuracy", "min": 0.85}, {"metric": "f1", "min": 0.8}]


def test_comments_name_the_columns_with_gaps_ids_and_dates() -> None:
    frame = table(["a", "b"] * 30)
    frame["customer_id"] = [f"C{i:04d}" for i in range(60)]
    frame["signed_up"] = pd.date_range("2024-01-01", periods=60).strftime("%Y-%m-%d")
    frame.loc[3, "size"] = None
    text, _ = rendered(frame, "label: final")
    assert "1 column with missing values (up to 1.7% of rows): size." in " ".join(text.split())
    assert "customer_id looks like an ID" in text and "signed_up: dates" in text
