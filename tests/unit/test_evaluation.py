"""Metrics on the user's own labels: which class binary metrics score, and how classes combine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

from mlops_helpers.errors import ConfigError
from mlops_helpers.evaluation import class_index, compute_metrics, label_matches, positive_class


def fitted(names: dict[int, object], loader=load_breast_cancer):
    data = loader(as_frame=True)
    target = data.target.map(names)
    x_train, x_test, y_train, y_test = train_test_split(data.data, target, test_size=0.3, random_state=0, stratify=target)
    return RandomForestClassifier(n_estimators=30, random_state=0).fit(x_train, y_train), x_test, y_test, y_train


@pytest.mark.parametrize("classes, counts, expected", [
    ([0, 1], {0: 300, 1: 30}, 1),  # 0/1 labels: 1, as scikit-learn does, whichever is rarer
    ([0, 1], {0: 30, 1: 300}, 1),
    ([False, True], {False: 10, True: 90}, True),
    (["benign", "malignant"], {"benign": 357, "malignant": 212}, "malignant"),  # the minority class
    (["fraud", "ok"], {"fraud": 5, "ok": 995}, "fraud"),
    (["no", "yes"], {"no": 50, "yes": 50}, "yes"),  # a tie goes to the last in order
    ([1, 2], {1: 10, 2: 40}, 1),  # integer labels other than 0/1: the minority class
])
def test_the_default_positive_class(classes: list, counts: dict, expected: object) -> None:
    target = pd.Series([label for label, n in counts.items() for _ in range(n)])
    assert positive_class(classes, target) == expected


def test_binary_text_labels_score_the_positive_class_as_scikit_learn_does() -> None:
    model, x_test, y_test, _ = fitted({0: "malignant", 1: "benign"})
    metrics = compute_metrics("classification", model, x_test, y_test)  # default: malignant, the minority
    predicted = model.predict(x_test)
    assert metrics["f1"] == round(skm.f1_score(y_test, predicted, pos_label="malignant"), 6)
    assert metrics["recall"] == round(skm.recall_score(y_test, predicted, pos_label="malignant"), 6)
    column = list(model.classes_).index("malignant")
    assert metrics["roc_auc"] == round(skm.roc_auc_score(y_test == "malignant", model.predict_proba(x_test)[:, column]), 6)
    other = compute_metrics("classification", model, x_test, y_test, positive_label="benign")
    assert other["f1"] == round(skm.f1_score(y_test, predicted, pos_label="benign"), 6) != metrics["f1"]
    assert other["accuracy"] == metrics["accuracy"]


def test_multiclass_text_labels_average_as_configured() -> None:
    model, x_test, y_test, _ = fitted({0: "barolo", 1: "grignolino", 2: "barbera"}, load_wine)
    predicted = model.predict(x_test)
    for average in ("macro", "weighted", "micro"):
        metrics = compute_metrics("classification", model, x_test, y_test, average=average)
        assert metrics["f1"] == round(skm.f1_score(y_test, predicted, average=average), 6)
        assert metrics["precision"] == round(skm.precision_score(y_test, predicted, average=average, zero_division=0), 6)
    assert set(model.classes_) == {"barolo", "grignolino", "barbera"}


def test_boolean_labels_score_true() -> None:
    model, x_test, y_test, _ = fitted({0: False, 1: True})
    metrics = compute_metrics("classification", model, x_test, y_test)
    assert metrics["f1"] == round(skm.f1_score(y_test, model.predict(x_test), pos_label=True), 6)


def test_a_positive_label_that_is_not_a_class_names_the_classes() -> None:
    model, x_test, y_test, _ = fitted({0: "malignant", 1: "benign"})
    with pytest.raises(ConfigError, match=r"training.positive_label: 'yes' is not a class of the target \(classes: benign, malignant\)"):
        compute_metrics("classification", model, x_test, y_test, positive_label="yes")


@pytest.mark.parametrize("label, written, same", [
    ("malignant", "malignant", True), (np.int64(1), 1, True), (np.int64(1), "1", True), (np.True_, True, True),
    (True, "true", False),  # a YAML string 'true' is not the boolean class: write true without quotes
    (np.int64(0), 1, False), ("1", 1, True),
])
def test_labels_written_in_yaml_match_the_classes(label: object, written: object, same: bool) -> None:
    assert label_matches(label, written) is same


def test_class_index_finds_the_class_as_the_model_stores_it() -> None:
    classes = list(np.array(["benign", "malignant"], dtype=object))
    assert class_index(classes, "malignant") == 1
