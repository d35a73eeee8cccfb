"""`mlops render`: the mlops-model Helm chart's values for a strategy, and the manifests helm makes of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mlops_helpers.cli.options import StrategyChoice, command_options, overrides_option
from mlops_helpers.console import Reporter

PHASE_KEYS = ("weight", "active", "preview", "mirror", "stable_replicas", "candidate_replicas")


def _phase(items: tuple[str, ...]) -> dict[str, Any]:
    """The --phase items as the values template takes them, each checked for its key and type."""
    phase: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or key not in PHASE_KEYS:
            raise click.BadParameter(f"{item!r}: use KEY=VALUE with KEY one of {', '.join(PHASE_KEYS)}", param_hint="--phase")
        if key == "active":
            phase[key] = raw
        elif key == "preview":
            if raw.lower() not in ("true", "false"):
                raise click.BadParameter(f"{item!r}: preview is true or false", param_hint="--phase")
            phase[key] = raw.lower() == "true"
        else:
            try:
                phase[key] = int(raw)
            except ValueError:
                raise click.BadParameter(f"{item!r}: {key} is an integer", param_hint="--phase") from None
    return phase


def _header(title: str) -> str:
    return f"# Source: {title} (mlops render)\n"


@click.command("render")
@click.option("--strategy", type=StrategyChoice(), default=None,
              help="Rollout strategy whose values template is used (default: deploy.strategy).")
@click.option("--version", "version_ref", default=None, metavar="N|ALIAS",
              help="Candidate: the registered version being rolled out (a number or an alias like staging).")
@click.option("--stable", "stable_ref", default=None, metavar="N|ALIAS",
              help="Version serving now (default: the version the environment's registry alias points at, if any).")
@click.option("--env", "environment", default=None, metavar="NAME",
              help="Environment (default: deploy.environment); names the objects and the default --stable alias.")
@click.option("--phase", "phase_items", multiple=True, metavar="KEY=VALUE",
              help="Rollout phase, repeatable: weight=N (canary/abtest percent), active=stable|preview (blue/green "
                   "switch), preview=true|false, mirror=N, stable_replicas=N, candidate_replicas=N.")
@click.option("--templates", default=None, metavar="DIR",
              help="Your templates folder: a helm/values-<strategy>.yaml.j2 there overrides the built-in one.")
@click.option("--values-only", is_flag=True, help="Only the Helm values; do not run helm.")
@click.option("--out", default=None, metavar="FILE|DIR",
              help="Write to a file (what stdout would show) or a folder (values.yaml and manifests.yaml).")
@click.option("--helm", "helm_path", default=None, metavar="PATH",
              help="helm binary (default: env MLOPS_HELM, helm on PATH, or scripts/services/helm.sh's build).")
@overrides_option
@command_options
def render(strategy: str | None, version_ref: str | None, stable_ref: str | None, environment: str | None,
           phase_items: tuple[str, ...], templates: str | None, values_only: bool, out: str | None,
           helm_path: str | None, overrides: tuple[str, ...], config_path: str, reporter: Reporter) -> None:
    """Render the Kubernetes Helm values (and manifests) of a rollout.

    Values come from templates/helm/values-<strategy>.yaml.j2 with mlops.yaml, the registry's
    image digests of --stable and --version, and the rollout --phase; they are checked against
    the chart's values.schema.json. Unless --values-only, `helm template` renders the
    mlops-model chart with them. Versions must have been packaged (`mlops package`).
    """
    from mlops_helpers.config import load_config
    from mlops_helpers.errors import MlopsError
    from mlops_helpers.kube import helm as kube_helm
    from mlops_helpers.kube import values as kube
    from mlops_helpers.registry import open_registry

    phase = _phase(phase_items)
    config = load_config(config_path, overrides)
    strategy = strategy or config.deploy.strategy
    environment = environment or config.deploy.environment
    store = open_registry(config.registry_path())
    candidate = kube.version_info(store, config.model_name, _ref(version_ref)) if version_ref else None
    stable = None
    if stable_ref:
        stable = kube.version_info(store, config.model_name, _ref(stable_ref))
    elif environment in store.aliases(config.model_name):
        stable = kube.version_info(store, config.model_name, environment)
        reporter.note(f"stable: v{stable.version} (registry alias '{environment}')")
    if stable is None and candidate is None:
        raise MlopsError(f"nothing to render: no version has the alias '{environment}'; give --version N")
    values = kube.render_values(config, strategy, stable, candidate, phase, templates, environment)
    values_text = kube.values_yaml(values)
    manifests = None
    if not values_only:
        helm = kube_helm.find_helm(helm_path)
        manifests = kube_helm.render_manifests(values, helm, config.deploy.kubernetes.namespace)
    combined = _header("values") + values_text + (manifests or "")
    result: dict[str, Any] = {
        "ok": True, "strategy": strategy, "environment": environment, "release": kube.release_name(values),
        "namespace": config.deploy.kubernetes.namespace,
        "stable": stable.to_dict() if stable else None, "candidate": candidate.to_dict() if candidate else None,
        "values": values,
    }
    if manifests is not None:
        result["manifests"] = manifests
    if out is None:
        reporter.result(result, combined.rstrip("\n"))
        return
    written = _write(Path(out), out.endswith("/"), values_text, manifests, combined)
    result["written"] = [str(path) for path in written]
    reporter.result({key: value for key, value in result.items() if key not in ("values", "manifests")},
                    "wrote " + ", ".join(map(str, written)))


def _write(out: Path, folder: bool, values_text: str, manifests: str | None, combined: str) -> list[Path]:
    """A folder gets values.yaml and manifests.yaml apart; a file gets what stdout would show."""
    if folder or out.is_dir():
        out.mkdir(parents=True, exist_ok=True)
        (out / "values.yaml").write_text(values_text)
        written = [out / "values.yaml"]
        if manifests is not None:
            (out / "manifests.yaml").write_text(manifests)
            written.append(out / "manifests.yaml")
        return written
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(combined)
    return [out]


def _ref(reference: str) -> int | str:
    """A version number, else an alias such as staging."""
    return int(reference) if reference.isdigit() else reference
