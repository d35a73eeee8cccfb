"""Training: a scikit-learn Pipeline built from mlops.yaml, written as a verifiable artefact.

The artefact is a folder: `model.joblib`, `metadata.json` (params, metrics, feature schema,
data version, git commit, library versions, timings), `holdout.csv` (the evaluation rows, so
later stages compare models on the very same data), `reference.json` (the training distributions
that monitoring compares live traffic with) and `SHA256SUMS`.
"""

from __future__ import annotations

import importlib
import json
import platform
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, is_classifier, is_regressor
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, RobustScaler, StandardScaler
from sklearn.utils._param_validation import InvalidParameterError, validate_parameter_constraints

import mlops_helpers
from mlops_helpers.checksums import write_sums
from mlops_helpers.config import CLASSIFICATION_METRICS, REGRESSION_METRICS, MlopsConfig
from mlops_helpers.data import columns as kinds_of
from mlops_helpers.data.encoders import BooleanEncoder, DatetimeFeatures
from mlops_helpers.data.schema import load_schema_if_present
from mlops_helpers.data.target import require_column
from mlops_helpers.errors import ConfigError, MlopsError

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
HOLDOUT_FILE = "holdout.csv"
_SCALERS = {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}
_TRACKED_LIBRARIES = ("sklearn", "numpy", "pandas", "scipy", "joblib")


@dataclass(frozen=True)
class TrainResult:
    artefact_dir: Path
    metadata: dict[str, Any]
    model: Pipeline
    holdout: pd.DataFrame


def resolve_estimator(name: str) -> type[BaseEstimator]:
    """`RandomForestClassifier`, `sklearn.ensemble.RandomForestClassifier` or `pkg.mod:Class`."""
    if ":" in name or "." in name:
        module_name, _, class_name = name.replace(":", ".").rpartition(".")
        try:
            return getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"mlops.yaml: training.estimator: {name!r} cannot be imported ({exc})") from None
    from sklearn.utils import all_estimators

    found = dict(all_estimators())
    if name not in found:
        close = [known for known in found if name.lower() in known.lower()][:5]
        hint = f" (did you mean: {', '.join(close)}?)" if close else ""
        raise ConfigError(f"mlops.yaml: training.estimator: {name!r} is not a scikit-learn estimator{hint}")
    return found[name]


def check_training_config(config: MlopsConfig) -> str:
    """Validate what needs scikit-learn; return the task. Errors name the field and value."""
    training = config.training
    estimator_class = resolve_estimator(training.estimator)
    _check_params(estimator_class, training.params)
    task = _task_of(estimator_class, training.task, training.estimator)
    allowed = CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS
    validation = config.validation
    used = [(f"validation.gates.{i}.metric", gate.metric) for i, gate in enumerate(validation.gates)]
    used += [(f"validation.non_regression.metrics.{i}", m) for i, m in enumerate(validation.non_regression.metrics or [])]
    if validation.primary_metric:
        used.append(("validation.primary_metric", validation.primary_metric))
    for field, metric in used:
        if metric not in allowed:
            raise ConfigError(f"mlops.yaml: {field}: {metric!r} is not a {task} metric (use one of: {', '.join(allowed)})")
    return task


def _check_params(estimator_class: type[BaseEstimator], params: dict[str, Any]) -> None:
    known = estimator_class().get_params(deep=False)
    for key in params:
        if key not in known:
            raise ConfigError(
                f"mlops.yaml: training.params.{key}: not a parameter of {estimator_class.__name__} "
                f"(known: {', '.join(sorted(known))})"
            )
    constraints = getattr(estimator_class, "_parameter_constraints", None)
    if not constraints:
        return
    for key, value in params.items():
        try:
            validate_parameter_constraints({key: constraints.get(key, "no_validation")}, {key: value}, estimator_class.__name__)
        except InvalidParameterError as exc:
            rule = str(exc).split(" must be ", 1)[-1].rsplit(". Got", 1)[0]
            raise ConfigError(f"mlops.yaml: training.params.{key}: {value!r} is not valid: must be {rule}") from None


def _task_of(estimator_class: type[BaseEstimator], declared: str | None, name: str) -> str:
    instance = estimator_class()
    detected = "classification" if is_classifier(instance) else "regression" if is_regressor(instance) else None
    if declared and detected and declared != detected:
        raise ConfigError(f"mlops.yaml: training.task: {declared!r} does not match {name}, which does {detected}")
    if not (declared or detected):
        raise ConfigError(f"mlops.yaml: training.task: cannot tell the task of {name}; set 'classification' or 'regression'")
    return declared or detected  # type: ignore[return-value]


def split_features(config: MlopsConfig, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Features and target, each column held to its kind (data/columns.py): from the schema kept in
    git when it has the column, else from the data. Refuses ID-like features, values that break
    their column's kind, and targets a model cannot learn (empty rows, one class, one-row classes)."""
    names = [str(c) for c in frame.columns]
    frame = frame.set_axis(names, axis=1)
    target = config.data.target
    drop = config.training.preprocessing.drop
    require_column(names, target, "data.target", "the data")
    for index, column in enumerate(drop):
        require_column(names, column, f"training.preprocessing.drop.{index}", "the data")
    features = frame.drop(columns=list(dict.fromkeys([target, *drop])))
    if features.columns.empty:
        raise MlopsError(f"training.preprocessing.drop: no feature column is left (the data has {', '.join(names)})")
    kinds, declared = kinds_of.column_kinds(features, load_schema_if_present(config.resolve(config.data.schema_file)))
    kinds_of.refuse_identifiers(features, kinds, drop, config.data.schema_file)
    features = kinds_of.enforce_kinds(features, kinds, declared, config.data.schema_file)
    estimator = config.training.estimator
    kinds_of.check_target(frame[target], target, _task_of(resolve_estimator(estimator), config.training.task, estimator))
    return features, frame[target]


def build_pipeline(config: MlopsConfig, features: pd.DataFrame) -> Pipeline:
    """Preprocessing by column kind, then the estimator: numbers get `impute` and `numeric`; booleans
    become 0/1 (most-frequent imputation); categories get most-frequent imputation and `categorical`;
    dates and times are expanded into numbers (encoders.DatetimeFeatures), then treated as numbers."""
    prep = config.training.preprocessing
    kinds, _ = kinds_of.column_kinds(features, load_schema_if_present(config.resolve(config.data.schema_file)))
    kinds_of.refuse_identifiers(features, kinds, prep.drop, config.data.schema_file)
    by_kind: dict[str, list[str]] = {}
    for name, kind in kinds.items():
        by_kind.setdefault(kind, []).append(name)
    numeric_steps = _numeric_steps(prep.impute, prep.numeric)
    boolean_steps = [("encode", BooleanEncoder())]
    if prep.impute != "none":
        boolean_steps.append(("impute", SimpleImputer(strategy="most_frequent")))
    then_numeric = _numeric_steps(prep.impute, prep.numeric)
    datetime_steps = [("expand", DatetimeFeatures()), *(then_numeric.steps if isinstance(then_numeric, Pipeline) else [])]
    branches = {
        kinds_of.NUMERIC: numeric_steps,
        kinds_of.BOOLEAN: Pipeline(boolean_steps),
        kinds_of.CATEGORICAL: _categorical_steps(prep.categorical),
        kinds_of.DATETIME: Pipeline(datetime_steps),
    }
    transformers = [(kind, branch, by_kind[kind]) for kind, branch in branches.items() if kind in by_kind]
    estimator_class = resolve_estimator(config.training.estimator)
    params = dict(config.training.params)
    # A fixed seed makes the same data + config give the same model.
    if "random_state" in estimator_class().get_params() and "random_state" not in params:
        params["random_state"] = config.training.seed
    return Pipeline(
        [
            ("preprocess", ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)),
            ("model", estimator_class(**params)),
        ]
    )


def _numeric_steps(impute: str, scaling: str) -> Pipeline | str:
    steps = []
    if impute != "none":
        steps.append(("impute", SimpleImputer(strategy=impute)))
    if scaling != "none":
        steps.append(("scale", _SCALERS[scaling]()))
    return Pipeline(steps) if steps else "passthrough"


def _categorical_steps(encoding: str) -> Pipeline | str:
    if encoding == "none":
        return "passthrough"
    encoder = (
        OneHotEncoder(handle_unknown="ignore")
        if encoding == "onehot"
        else OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    )
    return Pipeline([("impute", SimpleImputer(strategy="most_frequent")), ("encode", encoder)])


def train(
    config: MlopsConfig,
    frame: pd.DataFrame,
    out_dir: Path,
    lineage: dict[str, Any],
) -> TrainResult:
    """Fit on the training split, score the hold-out split, write the artefact folder."""
    from mlops_helpers.evaluation import compute_metrics

    task = check_training_config(config)
    features, target = split_features(config, frame)
    if task == "regression":
        _require_numeric_target(config.data.target, target)
    stratify = target if task == "classification" and target.value_counts().min() >= 2 else None
    x_train, x_test, y_train, y_test = train_test_split(
        features, target, test_size=config.training.test_size, random_state=config.training.seed, stratify=stratify
    )
    pipeline = build_pipeline(config, features)
    started = datetime.now(UTC)
    clock = time.perf_counter()
    pipeline.fit(x_train, y_train)
    fit_seconds = time.perf_counter() - clock
    scoring = class_scoring(config, pipeline, y_train) if task == "classification" else {}
    metrics = compute_metrics(task, pipeline, x_test, y_test, scoring.get("positive_label"), config.validation.average)
    holdout = x_test.assign(**{config.data.target: y_test})
    metadata = {
        "model_name": config.model_name,
        "project": config.project,
        "task": task,
        "estimator": config.training.estimator,
        "params": _json_safe(pipeline.named_steps["model"].get_params(deep=False)),
        "preprocessing": config.training.preprocessing.model_dump(),
        "seed": config.training.seed,
        "test_size": config.training.test_size,
        "target": config.data.target,
        "features": [
            {"name": str(c), "dtype": str(features[c].dtype), "nullable": bool(features[c].isna().any())}
            for c in features.columns
        ],
        "classes": _json_safe(list(pipeline.classes_)) if task == "classification" else None,
        "scoring": scoring,
        "metrics": metrics,
        "rows": {"train": len(x_train), "holdout": len(x_test)},
        "versions": library_versions(),
        "trained_at": started.isoformat(timespec="seconds"),
        "fit_seconds": round(fit_seconds, 4),
        **lineage,
    }
    reference = reference_profile(x_train, pipeline.predict(x_test), task)
    write_artefact(out_dir, pipeline, metadata, holdout, reference)
    return TrainResult(artefact_dir=out_dir, metadata=metadata, model=pipeline, holdout=holdout)


def class_scoring(config: MlopsConfig, pipeline: Pipeline, y_train: pd.Series) -> dict[str, Any]:
    """How f1, precision, recall and roc_auc are computed for this model, kept in its metadata so
    that evaluation scores the candidate and the production model alike, and the report says it."""
    from mlops_helpers.evaluation import class_index, positive_class, zero_one_labels

    classes = list(pipeline.classes_)
    if len(classes) != 2:
        return {"average": config.validation.average,
                "explained": f"f1, precision, recall: {config.validation.average} average over {len(classes)} classes"}
    configured = config.training.positive_label
    if configured is not None:
        positive, why = classes[class_index(classes, configured)], "training.positive_label"
    else:
        positive = positive_class(classes, y_train)
        why = "as scikit-learn does for 0/1 labels" if zero_one_labels(classes) else "the minority class"
    label = _json_safe(positive)
    return {"positive_label": label, "explained": f"f1, precision, recall, roc_auc score the class {label!r} ({why})"}


def _require_numeric_target(name: str, target: pd.Series) -> None:
    if pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target):
        return
    examples = ", ".join(repr(v) for v in target.dropna().astype(str).unique()[:3])
    raise MlopsError(f"data.target: column {name!r} is not numeric (values such as {examples}), so it cannot be a "
                     "regression target; use training.task: classification or a numeric column")


def reference_profile(x_train: pd.DataFrame, holdout_predictions, task: str):
    """What monitoring compares live traffic with: the training features' distributions and the
    distribution of predictions on unseen (hold-out) rows, as live predictions are."""
    from mlops_helpers.monitoring.reference import PREDICTION, ReferenceProfile, profile_column

    profile = ReferenceProfile.build(x_train)
    profile.prediction = profile_column(PREDICTION, pd.Series(holdout_predictions), task == "classification")
    return profile


def write_artefact(out_dir: Path, model: Pipeline, metadata: dict[str, Any], holdout: pd.DataFrame,
                   reference=None) -> None:
    import joblib

    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.iterdir():
        if stale.is_file():
            stale.unlink()
    joblib.dump(model, out_dir / MODEL_FILE)
    holdout.to_csv(out_dir / HOLDOUT_FILE, index=False)
    (out_dir / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
    if reference is not None:
        from mlops_helpers.monitoring.check import REFERENCE_FILE

        reference.save(out_dir / REFERENCE_FILE)
    write_sums(out_dir)


def read_metadata(artefact_dir: Path) -> dict[str, Any]:
    path = artefact_dir / METADATA_FILE
    if not path.is_file():
        raise MlopsError(f"{artefact_dir}: no {METADATA_FILE}; is this a model artefact folder (from `mlops train`)?")
    return json.loads(path.read_text())


def library_versions() -> dict[str, str]:
    """Versions that a model depends on at load time; packaging reuses exactly these."""
    versions = {"python": platform.python_version(), "mlops_helpers": mlops_helpers.__version__}
    for name in _TRACKED_LIBRARIES:
        versions[name] = importlib.import_module(name).__version__
    return versions


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)
