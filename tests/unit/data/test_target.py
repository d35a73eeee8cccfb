"""The target column before training: the task it asks for (and why), its classes, the refusals."""

from __future__ import annotations

import pandas as pd
import pytest

from mlops_helpers.data.target import MAX_NUMERIC_CLASSES, require_column, summarise_target
from mlops_helpers.errors import MlopsError


def test_text_labels_are_classes_and_the_rarer_one_is_scored() -> None:
    summary = summarise_target(pd.Series(["benign"] * 5 + ["malignant"] * 3 + [None]), "diagnosis")
    assert (summary.task, summary.reason) == ("classification", "target 'diagnosis' has 2 text values")
    assert summary.counts == {"benign": 5, "malignant": 3} and summary.rows == 8
    assert summary.positive == "malignant" and summary.majority() == ("benign", 5 / 8)


def test_zero_one_and_boolean_labels_score_the_one() -> None:
    assert summarise_target(pd.Series([0, 0, 0, 1]), "y").positive == 1  # the rarer class would be 1 too
    assert summarise_target(pd.Series([0, 1, 1, 1]), "y").positive == 1  # 1 although it is the common one
    flags = summarise_target(pd.Series([True, False, False]), "churned")
    assert flags.reason == "target 'churned' is boolean" and flags.positive is True


def test_many_distinct_numbers_are_a_quantity_few_are_classes() -> None:
    quantity = summarise_target(pd.Series(range(MAX_NUMERIC_CLASSES + 1), dtype=float), "price")
    assert (quantity.task, quantity.counts, quantity.positive) == ("regression", {}, None)
    assert quantity.reason == f"target 'price' is numeric with {MAX_NUMERIC_CLASSES + 1} distinct values"
    grades = summarise_target(pd.Series([1, 2, 3, 3]), "grade")
    assert grades.task == "classification" and "--task regression if it is a quantity" in grades.reason
    assert grades.positive is None and grades.classes == [1, 2, 3]


def test_declared_task_wins_and_regression_needs_numbers() -> None:
    assert summarise_target(pd.Series([1, 2, 3]), "y", "regression").reason == "set by --task regression"
    with pytest.raises(MlopsError, match=r"--task regression: target column 'label' is not numeric \(values such as 'a', 'b'\)"):
        summarise_target(pd.Series(["a", "b", "a"]), "label", "regression")


def test_a_target_without_two_values_has_nothing_to_learn() -> None:
    with pytest.raises(MlopsError, match="column 'y' holds one value only"):
        summarise_target(pd.Series(["yes", "yes", None]), "y")
    with pytest.raises(MlopsError, match="column 'y' has no values"):
        summarise_target(pd.Series([None, None], dtype=object), "y")


def test_a_missing_column_is_named_with_the_closest_and_every_column() -> None:
    columns = ["mean radius", "Label", "clinic"]
    require_column(columns, "clinic", "--target", "x.csv")
    with pytest.raises(MlopsError) as raised:
        require_column(columns, "lable", "--target", "x.csv")
    assert str(raised.value) == ("--target: column 'lable' is not in x.csv (did you mean 'Label'?); "
                                 "its columns: mean radius, Label, clinic")
    with pytest.raises(MlopsError, match=r"not in x.csv; its columns"):
        require_column(columns, "zzz", "--target", "x.csv")
