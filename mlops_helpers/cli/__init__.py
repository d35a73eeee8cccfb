"""`mlops`: one subcommand per pipeline stage. Commands only parse and call.

Exit codes: 0 ok · 1 a check failed (gate, data validation) · 2 usage or config error.
Heavy libraries (pandas, scikit-learn, DVC) are imported inside the commands so that
`mlops --help` stays fast.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from mlops_helpers import __version__
from mlops_helpers.console import Reporter, table
from mlops_helpers.errors import CheckFailed, MlopsError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def command_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--config and --output on every command, and one place that maps errors to exit codes."""

    @click.option(
        "--config", "-c", "config_path", default="mlops.yaml", show_default=True, envvar="MLOPS_CONFIG",
        type=click.Path(dir_okay=False), help="Project config file (env MLOPS_CONFIG).",
    )
    @click.option(
        "--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True,
        envvar="MLOPS_OUTPUT", help="Result format on stdout; progress always goes to stderr.",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, output: str, **kwargs: Any) -> Any:
        reporter = Reporter(output)
        try:
            return func(*args, reporter=reporter, **kwargs)
        except CheckFailed as exc:
            reporter.result({"ok": False, "error": str(exc), **exc.result}, _check_report(exc.result))
            click.echo(f"FAILED: {exc}", err=True)
            sys.exit(exc.exit_code)
        except MlopsError as exc:
            if output == "json":
                reporter.result({"ok": False, "error": str(exc)}, "")
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)

    return wrapper


def overrides_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
        help="Override a config value for this run, e.g. --set training.params.max_depth=5 (repeatable).",
    )(func)


def out_dir_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--out-dir", default=None, metavar="DIR",
        help="Where artefacts and reports go (default: mlops-out/ beside mlops.yaml).",
    )(func)


def _context(config_path: str, reporter: Reporter, overrides: tuple[str, ...] = (), out_dir: str | None = None):
    from mlops_helpers.config import load_config
    from mlops_helpers.pipeline import make_context

    return make_context(load_config(config_path, overrides), reporter, out_dir)


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, prog_name="mlops")
def main() -> None:
    """CI/CD for machine-learning models: the same commands on a laptop and in Jenkins.

    Start with `mlops init demo --dataset breast_cancer`, then `cd demo && mlops run`.
    """


@main.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--dataset", default="breast_cancer", show_default=True,
              help="Bundled scikit-learn data set: breast_cancer, wine, iris, digits (classification) or diabetes (regression).")
@click.option("--name", default=None, help="Project name (default: the folder's name).")
@click.option("--dvc-remote", default=None, metavar="PATH|URL",
              help="Default DVC remote (default: ~/.cache/mlops/dvc-storage/<project>).")
@command_options
def init(directory: str, dataset: str, name: str | None, dvc_remote: str | None, config_path: str, reporter: Reporter) -> None:
    """Scaffold a working project (data, mlops.yaml, git + DVC, Jenkinsfile) in an empty folder."""
    from mlops_helpers.scaffold import init_project

    with reporter.stage(f"Creating project from scikit-learn's {dataset} data set"):
        result = init_project(Path(directory), dataset, name, dvc_remote)
    reporter.result(
        {"ok": True, **result.to_dict()},
        f"Created {result.root}\n  data version {result.data_md5[:8]} pushed to {result.dvc_remote}\n"
        f"  commit {result.commit[:8]}\nNext: cd {directory} && mlops run",
    )


@main.command()
@overrides_option
@out_dir_option
@click.option("--stage", default="staging", show_default=True, help="Registry stage for the new version.")
@click.option("--deliver", type=click.Choice(["auto", "image", "local", "none"]), default="auto", show_default=True,
              help="After registering: build, check and push the image (image), serve it once locally and check "
                   "its answers (local), or auto: image when a Docker engine answers, else local.")
@click.option("--deploy/--no-deploy", "deploy", default=None,
              help="Roll the new version out to the local environment (default: deploy.on_run).")
@command_options
def run(overrides: tuple[str, ...], out_dir: str | None, stage: str, deliver: str, deploy: bool | None, config_path: str,
        reporter: Reporter) -> None:
    """The main job: validate data, train, evaluate against the gates, register as staging, deliver, deploy.

    Exit codes: 0 done (deployed when deploy.on_run) · 1 a gate failed or the rollout was aborted ·
    2 usage or config error · 3 the rollout is paused, awaiting `mlops rollout promote`.
    """
    from mlops_helpers.pipeline import run_pipeline

    ctx = _context(config_path, reporter, overrides, out_dir)
    summary = run_pipeline(ctx, stage=stage, deliver=deliver, deploy=deploy)
    registered = summary["registered"]
    reporter.result(
        summary,
        f"{_gates_table(summary['gates'])}\n\n"
        f"Registered {registered['model']} v{registered['version']} as {registered['stage']} "
        f"(data {summary['lineage']['data']['md5'][:8]}, commit {(summary['lineage']['git']['commit'] or 'none')[:8]})\n"
        f"{_delivery_line(summary.get('delivery') or {})}\n"
        f"{_deployment_line(summary.get('deployment'))}"
        f"Reports: {ctx.reports_dir}",
    )
    if (summary.get("deployment") or {}).get("outcome") == "paused":
        sys.exit(3)


def _deployment_line(deployment: dict[str, Any] | None) -> str:
    if not deployment:
        return ""
    if deployment["outcome"] == "promoted":
        return f"Deployed v{deployment['stable']} to '{deployment['env']}' at {deployment['url']} (stop: mlops undeploy)\n"
    return (f"Rollout to '{deployment['env']}' {deployment['outcome']}: {deployment['reason']}\n"
            f"  continue: mlops rollout promote · stop: mlops rollout abort\n")


def _delivery_line(delivery: dict[str, Any]) -> str:
    if delivery.get("mode") == "image":
        where = f"pushed as {delivery['image']}@{delivery['digest']}" if delivery.get("pushed") else "not pushed (no registry)"
        return f"Image {delivery['tags'][0]} ({delivery['size_bytes'] / 1e6:.0f} MB), infra validation passed, {where}"
    if delivery.get("mode") == "local":
        return f"Served locally and checked on {delivery['rows']} hold-out rows; serve it with: {delivery['serve']}"
    return "Not delivered (--deliver none)"


@main.command()
@overrides_option
@out_dir_option
@command_options
def train(overrides: tuple[str, ...], out_dir: str | None, config_path: str, reporter: Reporter) -> None:
    """Train the model from mlops.yaml into an artefact folder (no gates, no registration)."""
    from mlops_helpers.pipeline import load_data, stage_check_config, stage_train, stage_versions

    ctx = _context(config_path, reporter, overrides, out_dir)
    stage_check_config(ctx)
    lineage = stage_versions(ctx)
    result = stage_train(ctx, load_data(ctx), lineage)
    reporter.result(
        {"ok": True, "artefact": str(result.artefact_dir), "metrics": result.metadata["metrics"], **lineage},
        f"Artefact: {result.artefact_dir}\n{_metrics_table(result.metadata['metrics'])}",
    )


@main.command()
@click.option("--artefact", default=None, metavar="DIR", help="Model artefact folder (default: <out-dir>/model).")
@overrides_option
@out_dir_option
@command_options
def evaluate(artefact: str | None, overrides: tuple[str, ...], out_dir: str | None, config_path: str, reporter: Reporter) -> None:
    """Score an artefact and the production model on the hold-out set; apply the gates (exit 1 on failure)."""
    from mlops_helpers.pipeline import stage_evaluate

    ctx = _context(config_path, reporter, overrides, out_dir)
    result = stage_evaluate(ctx, Path(artefact) if artefact else ctx.artefact_dir)
    reporter.result({"ok": True, **result}, _gates_table(result["gates"]))


@main.command()
@click.option("--artefact", default=None, metavar="DIR", help="Model artefact folder (default: <out-dir>/model).")
@click.option("--stage", default="staging", show_default=True, help="Stage to give the new version ('none' for no stage).")
@overrides_option
@out_dir_option
@command_options
def register(
    artefact: str | None, stage: str, overrides: tuple[str, ...], out_dir: str | None, config_path: str, reporter: Reporter
) -> None:
    """Add an artefact to the model registry as a new immutable version."""
    from mlops_helpers.pipeline import stage_register

    ctx = _context(config_path, reporter, overrides, out_dir)
    version = stage_register(ctx, Path(artefact) if artefact else ctx.artefact_dir, None if stage == "none" else stage)
    reporter.result({"ok": True, **version.to_dict()}, f"Registered {version.name} v{version.version} ({stage})")


@main.command()
@click.option("--model", "model_ref", default=None, metavar="[NAME]@VERSION|@STAGE",
              help="Registered model to serve, e.g. @production or churn@3 (uses the registry of mlops.yaml).")
@click.option("--artefact", default=None, metavar="DIR", help="Serve a model artefact folder instead (no mlops.yaml needed).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 in a container).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Server processes.")
@click.option("--max-batch-rows", default=256, show_default=True, type=click.IntRange(1),
              help="Most rows predicted in one model call (micro-batching).")
@click.option("--max-wait-ms", default=2.0, show_default=True, type=click.FloatRange(0, 1000),
              help="Under load, how long a batch may wait for more rows.")
@click.option("--max-body-bytes", default=4 * 1024 * 1024, show_default=True, type=click.IntRange(1))
@click.option("--prediction-log", default=None, metavar="FILE",
              help="JSON-lines log of inputs and predictions for monitoring (one file per worker, rotated).")
@click.option("--log-sample-rate", default=1.0, show_default=True, type=click.FloatRange(0, 1),
              help="Share of requests written to the prediction log.")
@command_options
def serve(model_ref: str | None, artefact: str | None, host: str, port: int, workers: int, max_batch_rows: int,
          max_wait_ms: float, max_body_bytes: int, prediction_log: str | None, log_sample_rate: float,
          config_path: str, reporter: Reporter) -> None:
    """Serve one model version over HTTP: /predict, /healthz, /readyz, /metadata, /metrics."""
    from mlops_helpers.serving.server import serve as run_server
    from mlops_helpers.serving.settings import ServerSettings

    if bool(model_ref) == bool(artefact):
        raise MlopsError("give exactly one of --model NAME@REF or --artefact DIR")
    if model_ref:
        store, default_model = _registry(config_path, reporter)
        version = store.verify(*_split_ref(model_ref, default_model))
        folder, label = version.path, str(version.version)
    else:
        folder, label = Path(artefact).resolve(), None
    settings = ServerSettings(folder, label, max_body_bytes=max_body_bytes, max_batch_rows=max_batch_rows,
                              max_wait_ms=max_wait_ms, prediction_log=Path(prediction_log).resolve() if prediction_log else None,
                              log_sample_rate=log_sample_rate)
    click.echo(f"serving {folder} on http://{host}:{port} with {workers} worker(s)", err=True)
    run_server(settings, host=host, port=port, workers=workers)


@main.command()
@click.option("--model", "model_ref", default="@staging", show_default=True, metavar="@VERSION|@STAGE",
              help="Registry version of the project's model to package.")
@click.option("--base-image", default=None, help="Base image of the Dockerfile (default: package.base_image).")
@click.option("--registry", default=None, metavar="HOST[:PORT][/NS]",
              help="Registry to push to (default: env MLOPS_REGISTRY, then package.registry). "
                   "Credentials only from MLOPS_REGISTRY_USERNAME/PASSWORD or the docker config.")
@click.option("--push/--no-push", default=True, show_default=True, help="Push the image and record its digest.")
@click.option("--verify/--no-verify", default=True, show_default=True,
              help="Infra validation: run the image and compare its predictions on the hold-out rows.")
@click.option("--dry-run", is_flag=True, help="Only print the rendered Dockerfile.")
@click.option("--templates", default=None, metavar="DIR", help="Your templates folder (overrides package/Dockerfile.j2).")
@command_options
def package(model_ref: str, base_image: str | None, registry: str | None, push: bool, verify: bool, dry_run: bool,
            templates: str | None, config_path: str, reporter: Reporter) -> None:
    """Build the model's container image, check it serves the same predictions, push it."""
    from mlops_helpers.packaging import PackageRequest, dockerfile_for, package_model
    from mlops_helpers.registry import open_registry

    ctx = _context(config_path, reporter)
    _, reference = _split_ref(model_ref, ctx.config.model_name)
    request = PackageRequest(reference, base_image, registry, push, verify, templates)
    if dry_run:
        version = open_registry(ctx.config.registry_path()).verify(ctx.config.model_name, reference)
        dockerfile = dockerfile_for(ctx.config, version, request)
        reporter.result({"ok": True, "dockerfile": dockerfile}, dockerfile)
        return
    result = package_model(ctx.config, request, reporter)
    reporter.result(
        {"ok": True, **result.to_dict()},
        f"{result.tags[0]} ({result.size_bytes / 1e6:.0f} MB), infra validation: "
        f"{'passed' if result.verified else 'skipped' if result.verified is None else 'FAILED'}"
        + (f", pushed as {result.image}@{result.digest}" if result.pushed else ", not pushed"),
    )


# --- data -------------------------------------------------------------------------------


@main.group()
def data() -> None:
    """Data versioning (DVC) and validation against the schema."""


def _remote(ctx) -> str | None:
    """data.dvc_remote, resolved against mlops.yaml's folder when it is a relative path."""
    remote = ctx.config.data.dvc_remote
    return remote if not remote or "://" in remote else str(ctx.config.resolve(remote))


@data.command("status")
@command_options
def data_status(config_path: str, reporter: Reporter) -> None:
    """Is the data file tracked, and is the DVC remote in sync?"""
    from mlops_helpers.data import versioning

    ctx = _context(config_path, reporter)
    version = versioning.data_version(ctx.config.resolve(ctx.config.data.path), ctx.config.root)
    sync = versioning.status(ctx.config.root, _remote(ctx))
    state = "tracked" if version.tracked else "CHANGED since the last `mlops data add`" if version.tracked_md5 else "not tracked"
    reporter.result(
        {"ok": True, "data": version.to_dict(), **sync},
        f"{version.path}: md5 {version.md5[:8]} ({state})\nremote: {'in sync' if not sync['remote'] else sync['remote']}",
    )


@data.command("add")
@command_options
def data_add(config_path: str, reporter: Reporter) -> None:
    """Snapshot the data file as a new DVC version (stages the .dvc file in git)."""
    from mlops_helpers.data import versioning

    ctx = _context(config_path, reporter)
    version = versioning.track(ctx.config.resolve(ctx.config.data.path), ctx.config.root)
    reporter.result({"ok": True, "data": version.to_dict()}, f"{version.path}: version {version.md5[:8]} (commit {version.dvc_file})")


@data.command("push")
@command_options
def data_push(config_path: str, reporter: Reporter) -> None:
    """Upload tracked data versions to the DVC remote."""
    from mlops_helpers.data import versioning

    ctx = _context(config_path, reporter)
    with reporter.stage("Pushing data to the DVC remote"):
        message = versioning.push(ctx.config.root, _remote(ctx))
    reporter.result({"ok": True, "message": message}, message)


@data.command("pull")
@click.option("--rev", default=None, metavar="GIT-REV",
              help="Restore the data version recorded at this git commit, tag or branch (default: the checked-out one).")
@command_options
def data_pull(rev: str | None, config_path: str, reporter: Reporter) -> None:
    """Fetch the data version named by the checked-out .dvc files from the remote."""
    from mlops_helpers.data import versioning

    ctx = _context(config_path, reporter)
    with reporter.stage(f"Pulling data{f' as of {rev}' if rev else ''} from the DVC remote"):
        message = versioning.pull(ctx.config.root, _remote(ctx), ctx.config.resolve(ctx.config.data.path), rev)
    version = versioning.data_version(ctx.config.resolve(ctx.config.data.path), ctx.config.root)
    reporter.result({"ok": True, "message": message, "data": version.to_dict()}, f"{message}\n{version.path}: md5 {version.md5[:8]}")


@data.command("infer-schema")
@click.option("--data", "data_path", default=None, metavar="FILE", help="Reference data (default: data.path).")
@command_options
def data_infer_schema(data_path: str | None, config_path: str, reporter: Reporter) -> None:
    """Infer the data schema from reference data into data.schema (commit it to git)."""
    from mlops_helpers.pipeline import load_data, stage_infer_schema

    ctx = _context(config_path, reporter)
    path = stage_infer_schema(ctx, load_data(ctx, data_path))
    reporter.result({"ok": True, "schema": str(path)}, f"Schema written to {path}")


@data.command("validate")
@click.option("--data", "data_path", default=None, metavar="FILE", help="Data to check (default: data.path).")
@overrides_option
@out_dir_option
@command_options
def data_validate(data_path: str | None, overrides: tuple[str, ...], out_dir: str | None, config_path: str, reporter: Reporter) -> None:
    """Check data against the schema; exit 1 with a per-column report on violations."""
    from mlops_helpers.pipeline import load_data, stage_validate_data

    ctx = _context(config_path, reporter, overrides, out_dir)
    result = stage_validate_data(ctx, load_data(ctx, data_path), data_path)
    reporter.result({**result}, f"{result['data']}: {result['rows']} rows valid against {result['schema']}")


# --- registry ---------------------------------------------------------------------------


@main.group()
def registry() -> None:
    """The model registry: versions, stages (staging, production, archived), lineage."""


def _registry(config_path: str, reporter: Reporter):
    from mlops_helpers.registry import open_registry

    ctx = _context(config_path, reporter)
    return open_registry(ctx.config.registry_path()), ctx.config.model_name


def _split_ref(reference: str | None, default_model: str) -> tuple[str, str]:
    """`name@ref`, `@ref` or `name`; ref is a version number, 'latest' or a stage."""
    if not reference:
        return default_model, "latest"
    name, _, ref = reference.partition("@")
    return name or default_model, ref or "latest"


@registry.command("list")
@click.argument("model", required=False)
@command_options
def registry_list(model: str | None, config_path: str, reporter: Reporter) -> None:
    """List models, or the versions of MODEL (default: the project's model)."""
    store, default_model = _registry(config_path, reporter)
    name = model or default_model
    versions = store.list_versions(name)
    rows = [[v.version, ",".join(v.stages), v.created_at, _short_metrics(v.lineage.get("metrics") or {}),
             ((v.lineage.get("data") or {}).get("md5") or "")[:8]] for v in versions]
    reporter.result(
        {"ok": True, "model": name, "versions": [v.to_dict() for v in versions]},
        table(["version", "stages", "created", "metrics", "data"], rows),
    )


@registry.command("show")
@click.argument("reference", required=False, metavar="[MODEL][@VERSION|@STAGE]")
@command_options
def registry_show(reference: str | None, config_path: str, reporter: Reporter) -> None:
    """Show one version with its lineage; verifies its checksums."""
    store, default_model = _registry(config_path, reporter)
    name, ref = _split_ref(reference, default_model)
    version = store.verify(name, ref)
    reporter.result({"ok": True, **version.to_dict()}, json.dumps(version.to_dict(), indent=2, default=str))


@registry.command("promote")
@click.argument("reference", metavar="[MODEL]@VERSION")
@click.option("--to", "stage", required=True, type=click.Choice(["staging", "production", "archived"]),
              help="Target stage.")
@command_options
def registry_promote(reference: str, stage: str, config_path: str, reporter: Reporter) -> None:
    """Point a stage at a version (promoting to production archives the previous one)."""
    store, default_model = _registry(config_path, reporter)
    name, ref = _split_ref(reference, default_model)
    version = store.promote(name, ref, stage)
    reporter.result({"ok": True, **version.to_dict()}, f"{name} v{version.version} is now {stage}")


@registry.command("rollback")
@click.argument("model", required=False)
@click.option("--stage", default="production", show_default=True, help="Stage to roll back.")
@command_options
def registry_rollback(model: str | None, stage: str, config_path: str, reporter: Reporter) -> None:
    """Point a stage back at the version it held before its last change."""
    store, default_model = _registry(config_path, reporter)
    version = store.rollback(model or default_model, stage)
    reporter.result({"ok": True, **version.to_dict()}, f"{version.name} {stage} rolled back to v{version.version}")


@registry.command("history")
@click.argument("model", required=False)
@command_options
def registry_history(model: str | None, config_path: str, reporter: Reporter) -> None:
    """The registry's audit log for MODEL: registrations, promotions, rollbacks."""
    store, default_model = _registry(config_path, reporter)
    events = store.history(model or default_model)
    rows = [[e.get("time"), e.get("event"), e.get("version"), e.get("stage"), e.get("previous")] for e in events]
    reporter.result({"ok": True, "events": events}, table(["time", "event", "version", "stage", "previous"], rows))


# --- config -----------------------------------------------------------------------------


@main.group("config")
def config_group() -> None:
    """Check or show mlops.yaml."""


@config_group.command("check")
@overrides_option
@command_options
def config_check(overrides: tuple[str, ...], config_path: str, reporter: Reporter) -> None:
    """Validate mlops.yaml fully (schema, estimator, params, metrics); exit 2 with field-named errors."""
    from mlops_helpers.pipeline import stage_check_config

    ctx = _context(config_path, reporter, overrides)
    task = stage_check_config(ctx)
    reporter.result({"ok": True, "task": task}, f"{config_path}: valid ({task})")


@config_group.command("show")
@overrides_option
@command_options
def config_show(overrides: tuple[str, ...], config_path: str, reporter: Reporter) -> None:
    """Print the effective config with every default filled in."""
    import yaml

    ctx = _context(config_path, reporter, overrides)
    effective = ctx.config.model_dump(by_alias=True)
    reporter.result(effective, yaml.safe_dump(effective, sort_keys=False))


@main.command()
@command_options
def versions(config_path: str, reporter: Reporter) -> None:
    """Versions of mlops, Python, the ML libraries and the tools a run uses."""
    from mlops_helpers.toolversions import collect_versions

    found = collect_versions()
    reporter.result({"ok": True, **found}, table(["component", "version"], [[k, v] for k, v in found.items()]))


def _check_report(result: dict[str, Any]) -> str:
    """The human view of a failed check: the gate table, or one line per data violation."""
    if "gates" in result:
        return _gates_table(result["gates"])
    return "\n".join(f"{v['column']}: {v['rule']}: {v['message']}" for v in result.get("violations", []))


def _gates_table(gates: list[dict[str, Any]]) -> str:
    rows = [[g["name"], "pass" if g["passed"] else "FAIL", g["message"]] for g in gates]
    return table(["gate", "result", "detail"], rows)


def _metrics_table(metrics: dict[str, float]) -> str:
    return table(["metric", "value"], [[name, f"{value:.4f}"] for name, value in metrics.items()])


def _short_metrics(metrics: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.3f}" for k, v in list(metrics.items())[:3])


# Registered last: jenkins_cli imports command_options from this module.
from mlops_helpers.jenkins_cli import jenkins  # noqa: E402

main.add_command(jenkins)

from mlops_helpers.rollout_cli import deploy, rollout, undeploy  # noqa: E402

for command in (deploy, rollout, undeploy):
    main.add_command(command)

from mlops_helpers.render_cli import render  # noqa: E402

main.add_command(render)

from mlops_helpers.monitor_cli import monitor  # noqa: E402

main.add_command(monitor)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
