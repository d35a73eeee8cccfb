"""Helm values for the mlops-model chart, from mlops.yaml, the registry and the rollout phase.

`render_values` renders templates/helm/values-<strategy>.yaml.j2 (mlops_helpers.templating: the
same search path and Jinja environment as every template: --templates DIR, MLOPS_TEMPLATES, the
built-ins), parses the result back with yaml.safe_load and validates it against the chart's
values.schema.json before returning it. Data reaches the templates only after validation (names
and labels that Kubernetes would refuse are errors naming the config key) and leaves them only
through the `tojson` filter, so a quote, a colon, a newline or `{{` in a value can never change
the YAML's structure.

Running helm on the values (`helm template`, `helm lint`, `helm upgrade`) is kube/helm.py.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from mlops_helpers.errors import MlopsError
from mlops_helpers.rollout.spec import STRATEGIES
from mlops_helpers.rollout.steps.preview_route import PreviewRoute

PREVIEW = PreviewRoute()  # blue/green preview header: the same route as on the local router

CHART_NAME = "mlops-model"
NAME_MAX = 40  # object-name prefix: "-preview" and a ReplicaSet's pod-template hash still fit in 63

_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_REPOSITORY = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class VersionInfo:
    """A registered version and the image `mlops package` built and pushed for it."""

    version: int
    repository: str
    digest: str | None = None
    tag: str | None = None

    @property
    def reference(self) -> str:
        return f"{self.repository}@{self.digest}" if self.digest else f"{self.repository}:{self.tag}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reference": self.reference}

    @classmethod
    def from_registry(cls, version) -> VersionInfo:
        """From a registry ModelVersion's annotations (`image` is written by `mlops package`)."""
        where = f"{version.name} v{version.version}"
        image = (version.annotations or {}).get("image")
        if not isinstance(image, dict) or not image.get("repository"):
            raise MlopsError(f"{where} has no packaged image: run `mlops package --model @{version.version}` first "
                             "(it builds, verifies and pushes the image and records its digest in the registry)")
        digest = image.get("digest") or None
        return cls.checked(version.version, image["repository"], digest,
                           None if digest else str(version.version), where=f"the registry's image record of {where}")

    @classmethod
    def checked(cls, version: int, repository: str, digest: str | None, tag: str | None, where: str) -> VersionInfo:
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise MlopsError(f"{where}: version {version!r} is not a positive integer")
        if not isinstance(repository, str) or len(repository) > 255 or not _REPOSITORY.match(repository):
            raise MlopsError(f"{where}: image.repository {repository!r} is not an image repository "
                             "(host[:port]/path, lowercase path, no tag or digest)")
        if digest is not None and (not isinstance(digest, str) or not _DIGEST.match(digest)):
            raise MlopsError(f"{where}: image.digest {digest!r} is not sha256:<64 hex digits>")
        if digest is None and (not isinstance(tag, str) or not _TAG.match(tag)):
            raise MlopsError(f"{where}: the image has no digest and tag {tag!r} is not a valid tag")
        return cls(version, repository, digest, None if digest else tag)


def version_info(store, model_name: str, ref: int | str) -> VersionInfo:
    """The VersionInfo of a registry version (number, alias or "latest")."""
    return VersionInfo.from_registry(store.get(model_name, ref))


# --------------------------------------------------------------------------- the template and its context


def template_name(strategy: str) -> str:
    return f"helm/values-{strategy}.yaml.j2"


def _label_value(value: str, field: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 63 or not _LABEL_VALUE.match(value):
        raise MlopsError(f"{field}: {value!r} cannot be a Kubernetes label value (at most 63 letters, digits, "
                         "'-', '_' or '.', starting and ending with a letter or digit)")
    return value


def object_name(config, environment: str) -> str:
    """deploy.kubernetes.name, else <model>-<environment> made DNS-1035 ('.' and '_' become '-')."""
    given = config.deploy.kubernetes.name
    if given:
        name, field = given, "deploy.kubernetes.name"
    else:
        name = re.sub(r"[._]+", "-", f"{config.model_name}-{environment}").strip("-")
        if name[:1].isdigit():
            name = f"m-{name}"
        field = "deploy.kubernetes.name (default <model>-<environment>)"
    if len(name) > NAME_MAX or not _DNS_1035.match(name):
        raise MlopsError(f"{field}: {name!r} is not a usable object name (DNS-1035: lowercase letters, digits and "
                         f"'-', starting with a letter, at most {NAME_MAX} characters); set deploy.kubernetes.name")
    return name


def normalise_phase(strategy: str, config, stable: VersionInfo | None, candidate: VersionInfo | None,
                    phase: dict[str, Any] | None) -> dict[str, Any]:
    """The rollout phase with defaults; unknown keys and out-of-range values are errors."""
    kube = config.deploy.kubernetes
    routed = bool(config.deploy.abtest.route)
    mirror = config.deploy.mirror.percent if config.deploy.mirror is not None else 0
    result: dict[str, Any] = {
        "weight": config.deploy.abtest.weight if strategy == "abtest" and not routed else 0,
        "active": "stable",
        "preview": True,
        "mirror": mirror,
        "stable_replicas": kube.replicas,
        "candidate_replicas": kube.replicas,
    }
    for key, value in (phase or {}).items():
        if key not in result:
            raise MlopsError(f"phase key {key!r} is unknown (known: {', '.join(result)})")
        result[key] = value
    for key, low, high in (("weight", 0, 100), ("mirror", 0, 100), ("stable_replicas", 0, 1000), ("candidate_replicas", 0, 1000)):
        value = result[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise MlopsError(f"phase.{key}: {value!r} is not an integer from {low} to {high}")
    if result["active"] not in ("stable", "preview"):
        raise MlopsError(f"phase.active: {result['active']!r} is not 'stable' or 'preview'")
    if not isinstance(result["preview"], bool):
        raise MlopsError(f"phase.preview: {result['preview']!r} is not true or false")
    return result


def template_context(config, strategy: str, stable: VersionInfo | None, candidate: VersionInfo | None,
                     phase: dict[str, Any] | None, environment: str | None = None) -> dict[str, Any]:
    """Everything a values template may use; every string in it is validated or goes out through tojson."""
    if strategy not in STRATEGIES:
        raise MlopsError(f"strategy {strategy!r} is not one of {', '.join(STRATEGIES)}")
    if stable is None and candidate is None:
        raise MlopsError("nothing to render: give the candidate version, the stable one, or both")
    environment = environment or config.deploy.environment
    deploy, kube = config.deploy, config.deploy.kubernetes
    model_field = "registry.model_name" if config.registry.model_name else "project"
    return {
        "name": object_name(config, environment),
        "namespace": kube.namespace,
        "model": {"name": _label_value(config.model_name, f"{model_field} (the model name)"),
                  "environment": _label_value(environment, "deploy.environment")},
        "strategy": strategy,
        "port": config.package.port,
        "workers": config.package.workers,
        "stable": stable.to_dict() if stable else None,
        "candidate": candidate.to_dict() if candidate else None,
        "phase": normalise_phase(strategy, config, stable, candidate, phase),
        # Unset cpu/memory amounts are left out, not written as null.
        "kubernetes": {**kube.model_dump(mode="json"), "resources": kube.resources.model_dump(mode="json", exclude_none=True)},
        "deploy": {
            "ramped": deploy.ramped.model_dump(mode="json"),
            "abtest": {"route": [match.model_dump(exclude_none=True) for match in deploy.abtest.route],
                       "weight": deploy.abtest.weight},
            "mirror": deploy.mirror.model_dump(mode="json") if deploy.mirror else None,
        },
        "preview_header": {"name": PREVIEW.header, "value": PREVIEW.value},
    }


def render_values_text(context: dict[str, Any], templates_dir: str | Path | None = None) -> str:
    from mlops_helpers.templating import render

    return render(template_name(context["strategy"]), context, templates_dir)


def parse_values(text: str, origin: str) -> dict[str, Any]:
    import yaml

    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MlopsError(f"{origin} did not render valid YAML: {exc}") from None
    if not isinstance(values, dict):
        raise MlopsError(f"{origin} rendered {type(values).__name__}, not a mapping of Helm values")
    return values


def render_values(config, strategy: str, stable: VersionInfo | None, candidate: VersionInfo | None,
                  phase: dict[str, Any] | None = None, templates_dir: str | Path | None = None,
                  environment: str | None = None) -> dict[str, Any]:
    """Helm values for `strategy`, checked against the chart's values.schema.json."""
    context = template_context(config, strategy, stable, candidate, phase, environment)
    values = parse_values(render_values_text(context, templates_dir), template_name(strategy))
    errors = validate_schema(values, chart_schema())
    if errors:
        raise MlopsError(f"{template_name(strategy)} rendered values that the chart refuses:\n  " + "\n  ".join(errors))
    return values


def values_yaml(values: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(values, sort_keys=False, default_flow_style=False, allow_unicode=False, width=1000)


# --------------------------------------------------------------------------- the chart


def chart_dir() -> Path:
    return Path(str(files("mlops_helpers.resources"))) / "helm" / CHART_NAME


def chart_schema() -> dict[str, Any]:
    return json.loads((chart_dir() / "values.schema.json").read_text())


def release_name(values: dict[str, Any]) -> str:
    return values.get("fullnameOverride") or CHART_NAME


# --------------------------------------------------------------------------- a small JSON Schema check

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def validate_schema(value: Any, schema: dict[str, Any], path: str = "values") -> list[str]:
    """Errors of `value` against the subset of JSON Schema the chart's schema uses (helm checks the
    full schema again in `helm template` and `helm lint`): type, enum, const, properties, required,
    additionalProperties, propertyNames, items, min/maxItems, minimum, maximum, min/maxLength,
    pattern, anyOf, oneOf, if/then."""
    errors: list[str] = []
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else types
        if not any(_TYPES[name](value) for name in names):
            return [f"{path}: {value!r} is not of type {' or '.join(names)}"]
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: {value!r} is not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} is not one of {', '.join(map(repr, schema['enum']))}")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append(f"{path}: {value!r} is shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{path}: {value!r} is longer than {schema['maxLength']} characters")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{path}: {value!r} does not match {schema['pattern']}")
    if _TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: {value!r} is below the minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: {value!r} is above the maximum {schema['maximum']}")
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{path}: more than {schema['maxItems']} items")
        if "items" in schema:
            for index, item in enumerate(value):
                errors += validate_schema(item, schema["items"], f"{path}[{index}]")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}.{key}: required")
        for key, item in value.items():
            if "propertyNames" in schema:
                errors += validate_schema(key, schema["propertyNames"], f"{path} key {key!r}")
            if key in properties:
                errors += validate_schema(item, properties[key], f"{path}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path}.{key}: unknown key (known: {', '.join(properties)})")
            elif isinstance(schema.get("additionalProperties"), dict):
                errors += validate_schema(item, schema["additionalProperties"], f"{path}.{key}")
    if "anyOf" in schema and not any(not validate_schema(value, option, path) for option in schema["anyOf"]):
        errors.append(f"{path}: {value!r} matches none of the allowed forms")
    if "oneOf" in schema:
        matching = sum(1 for option in schema["oneOf"] if not validate_schema(value, option, path))
        if matching != 1:
            errors.append(f"{path}: {value!r} must match exactly one of the allowed forms (matches {matching})")
    if "if" in schema and not validate_schema(value, schema["if"], path):
        errors += validate_schema(value, schema.get("then", {}), path)
    return errors
