"""The `mlops.yaml` schema: one file describes a model project for every surface.

Loading validates the structure (pydantic, unknown keys refused). Checks that need
scikit-learn (estimator exists, its params are valid, metrics fit the task) live in
`training.check_training_config` so that this module stays cheap to import.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlops_helpers.errors import ConfigError
from mlops_helpers.monitoring.policy import MonitoringConfig
from mlops_helpers.rollout.spec import DeployConfig

DEFAULT_CONFIG_FILE = "mlops.yaml"

CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "f1", "precision", "recall", "roc_auc", "log_loss")
REGRESSION_METRICS = ("rmse", "mae", "r2", "mape")
# Metrics where a smaller value is better; every other metric is "higher is better".
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae", "mape"})
KNOWN_METRICS = CLASSIFICATION_METRICS + REGRESSION_METRICS
# Project and model names end up in paths, image names and Kubernetes labels.
PROJECT_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"


class StrictModel(BaseModel):
    """Unknown keys are an error: a typo must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DataConfig(StrictModel):
    path: str = Field(description="CSV file with features and target, relative to mlops.yaml")
    target: str = Field(min_length=1, description="name of the label column")
    schema_file: str = Field(
        default="data/schema.json", alias="schema", description="inferred data schema, kept in git"
    )
    dvc_remote: str | None = Field(default=None, description="URL or path of the default DVC remote")


class PreprocessingConfig(StrictModel):
    numeric: Literal["standard", "minmax", "robust", "none"] = "standard"
    categorical: Literal["onehot", "ordinal", "none"] = "onehot"
    impute: Literal["median", "mean", "most_frequent", "none"] = "median"
    drop: list[str] = Field(default_factory=list, description="columns that are not features (ids)")


class TrainingConfig(StrictModel):
    task: Literal["classification", "regression"] | None = Field(
        default=None, description="inferred from the estimator when omitted"
    )
    estimator: str = Field(
        default="RandomForestClassifier",
        min_length=1,
        description="scikit-learn class name, dotted import path, or 'module:Class'",
    )
    params: dict[str, Any] = Field(default_factory=dict)
    preprocessing: PreprocessingConfig = Field(default_factory=PreprocessingConfig)
    seed: int = Field(default=42, ge=0)
    test_size: float = Field(default=0.2, gt=0, lt=1)
    positive_label: str | int | bool | None = Field(
        default=None,
        description="the class that binary f1, precision, recall and roc_auc score, as written in the data "
                    "(default: 1 or true for 0/1 and boolean labels, else the minority class)",
    )


class Gate(StrictModel):
    metric: Literal[KNOWN_METRICS]  # type: ignore[valid-type]
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _has_a_bound(self) -> Gate:
        if self.min is None and self.max is None:
            raise ValueError(f"gate on '{self.metric}' needs 'min' or 'max'")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"gate on '{self.metric}': min {self.min} is greater than max {self.max}")
        return self


class NonRegressionConfig(StrictModel):
    enabled: bool = True
    metrics: list[Literal[KNOWN_METRICS]] | None = Field(  # type: ignore[valid-type]
        default=None, description="defaults to the primary metric"
    )
    tolerance: float = Field(default=0.0, ge=0, description="allowed loss against production")


class ValidationConfig(StrictModel):
    data: bool = Field(default=True, description="validate data against the schema before training")
    primary_metric: Literal[KNOWN_METRICS] | None = None  # type: ignore[valid-type]
    average: Literal["macro", "weighted", "micro"] = Field(
        default="macro", description="how f1, precision, recall and roc_auc combine the classes of a multiclass target")
    gates: list[Gate] = Field(default_factory=list)
    non_regression: NonRegressionConfig = Field(default_factory=NonRegressionConfig)


class RegistryConfig(StrictModel):
    uri: str = Field(default="registry", min_length=1, description="folder or file:// URI, relative to mlops.yaml")
    model_name: str | None = Field(default=None, pattern=PROJECT_NAME_PATTERN, max_length=63)

    @field_validator("uri")
    @classmethod
    def _local_only(cls, uri: str) -> str:
        if "://" in uri and not uri.startswith("file://"):
            raise ValueError(f"{uri!r} is not supported (use a folder or a file:// URI)")
        return uri


class PackageConfig(StrictModel):
    image: str | None = Field(
        default=None, pattern=r"^[a-z0-9][a-z0-9._/-]*$",
        description="image repository without the registry host (default: the model name)",
    )
    registry: str | None = Field(
        default=None, description="registry host[:port][/namespace] to push to (env MLOPS_REGISTRY overrides)"
    )
    base_image: str = Field(default="python:3.11-slim", min_length=1, description="base of both build stages")
    port: int = Field(default=8080, ge=1, le=65535, description="port the model server listens on in the container")
    workers: int = Field(default=2, ge=1, le=64, description="model-server processes in the container")
    extra_requirements: list[str] = Field(
        default_factory=list, description="more pip requirements for the model (custom estimators), e.g. 'xgboost==2.1.0'"
    )


class MlopsConfig(StrictModel):
    version: Literal[1] = 1
    project: str = Field(pattern=PROJECT_NAME_PATTERN, max_length=63)
    data: DataConfig
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    package: PackageConfig = Field(default_factory=PackageConfig)
    deploy: DeployConfig = Field(default_factory=DeployConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig,
                                         description="drift, live accuracy and retraining triggers (docs/monitoring.md)")

    # Folder of the config file: relative paths in it resolve from here. Not part of the schema.
    _root: Path = Path(".")

    @property
    def root(self) -> Path:
        return self._root

    @property
    def model_name(self) -> str:
        return self.registry.model_name or self.project

    def resolve(self, relative: str) -> Path:
        path = Path(relative).expanduser()
        return path if path.is_absolute() else (self._root / path).resolve()

    def registry_path(self) -> Path:
        return self.resolve(self.registry.uri.removeprefix("file://"))


def load_config(path: str | Path = DEFAULT_CONFIG_FILE, overrides: list[str] | tuple[str, ...] = ()) -> MlopsConfig:
    """Read, override (`key.path=value`) and validate a config file."""
    path = Path(path)
    raw = read_yaml_mapping(path)
    for override in overrides:
        apply_override(raw, override)
    config = parse_config(raw, source=path.name)
    config._root = path.resolve().parent
    return config


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found (create one with `mlops init`)")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(raw).__name__}")
    return raw


def apply_override(raw: dict[str, Any], override: str) -> None:
    """Apply `training.params.n_estimators=200` or `validation.gates.0.min=0.9`.

    The value is parsed as YAML, so numbers, booleans and lists (`[]`) keep their type.
    """
    key, sep, value = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {override!r}: expected KEY.PATH=VALUE, e.g. training.params.max_depth=5")
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {override!r}: value is not valid YAML: {exc}") from exc
    node: Any = raw
    parts = key.strip().split(".")
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"--set {override!r}: '{'.'.join(parts[:depth])}' has no item {part} (it has {len(node)})")
            if last:
                node[int(part)] = parsed
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = parsed
            else:
                node = node.setdefault(part, {})
        else:
            raise ConfigError(f"--set {override!r}: '{'.'.join(parts[:depth])}' is a value, not a section")


def parse_config(raw: dict[str, Any], source: str = DEFAULT_CONFIG_FILE) -> MlopsConfig:
    try:
        return MlopsConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [format_validation_error(err, source) for err in exc.errors()]
        raise ConfigError("\n".join(lines)) from None


_NESTED_FIELD = re.compile(r"^([a-zA-Z_]\w*(?:\.\w+)*): ")
_COMPARISONS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}


def format_validation_error(err: dict[str, Any], source: str) -> str:
    """One line per problem: `source: field.path: what is wrong`."""
    loc = ".".join(str(part) for part in err["loc"])
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        return f"{source}: {loc}: unknown key (check the spelling; see docs/config.md for the schema)"
    if kind == "missing":
        return f"{source}: {loc}: required key is missing"
    if kind in _COMPARISONS:
        bound = next(iter(ctx.values()))
        return f"{source}: {loc}: {value!r} is not {_COMPARISONS[kind]} {bound}"
    if kind == "literal_error":
        return f"{source}: {loc}: {value!r} is not one of: {ctx.get('expected', '')}"
    if kind == "string_pattern_mismatch":
        return f"{source}: {loc}: {value!r} is not allowed: use lowercase letters, digits, '.', '_' or '-'"
    message = err["msg"].removeprefix("Value error, ")
    nested = _NESTED_FIELD.match(message)
    if kind == "value_error" and nested:  # a section's check that names one of its own fields
        return f"{source}: {'.'.join(filter(None, [loc, nested.group(1)]))}: {message[nested.end():]}"
    if kind == "value_error" or not loc:
        return f"{source}: {loc or '(top level)'}: {message}"
    return f"{source}: {loc}: {value!r}: {message}"
