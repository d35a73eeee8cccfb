"""The pipeline as a sequence of stage functions; `mlops run` chains them, and each CLI
command (`mlops data validate`, `mlops train`, ...) runs one of them on its own.

Every stage writes its machine-readable report under the output folder (default
`mlops-out/`): JSON for tools, JUnit XML for Jenkins' `junit` step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_helpers.config import MlopsConfig
from mlops_helpers.console import Reporter
from mlops_helpers.errors import CheckFailed

DEFAULT_OUT_DIR = "mlops-out"


@dataclass
class RunContext:
    config: MlopsConfig
    reporter: Reporter
    out_dir: Path
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def reports_dir(self) -> Path:
        return self.out_dir / "reports"

    @property
    def artefact_dir(self) -> Path:
        return self.out_dir / "model"

    def write_report(self, name: str, data: dict[str, Any]) -> Path:
        self.reports_dir.mkdir(parents=True, exist_ok=True)
        path = self.reports_dir / name
        path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
        return path


def make_context(config: MlopsConfig, reporter: Reporter, out_dir: str | None = None) -> RunContext:
    return RunContext(config=config, reporter=reporter, out_dir=config.resolve(out_dir or DEFAULT_OUT_DIR))


def stage_check_config(ctx: RunContext, deliver: str = "none", deploy: bool = False) -> str:
    """The estimator, its params and the metrics; the named columns against the data's header; and, for a
    run that delivers or deploys (`mlops run`'s --deliver, --deploy), what that needs here. ConfigError (exit 2)."""
    from mlops_helpers.preflight import check_run
    from mlops_helpers.training import check_training_config

    with ctx.reporter.stage("Checking mlops.yaml"):
        task = check_training_config(ctx.config)
        ctx.summary["preflight"] = check_run(ctx.config, deliver, deploy)
    ctx.summary["task"] = task
    return task


def stage_versions(ctx: RunContext, track_changes: bool = True) -> dict[str, Any]:
    """Record the code commit and data version; snapshot changed data as a new DVC version."""
    from mlops_helpers.data import versioning

    root = ctx.config.root
    data_path = ctx.config.resolve(ctx.config.data.path)
    with ctx.reporter.stage("Recording code and data versions"):
        data = versioning.data_version(data_path, root)
        if not data.tracked and track_changes and versioning.is_dvc_repo(root):
            previous = data.tracked_md5
            data = versioning.track(data_path, root)
            ctx.reporter.note(
                f"data changed: new DVC version {data.md5[:8]} (was {previous[:8] if previous else 'untracked'}); "
                f"commit {data.dvc_file} to keep it"
            )
        elif not data.tracked:
            ctx.reporter.warn(f"{data.path} is not tracked by DVC: the run records its md5 only")
        code = versioning.git_info(root)
        if code.dirty:
            ctx.reporter.warn("the git work tree has uncommitted changes: the recorded commit is not the whole story")
    lineage = {"data": data.to_dict(), "git": code.to_dict()}
    ctx.summary["lineage"] = lineage
    return lineage


def load_data(ctx: RunContext, path: str | None = None):
    from mlops_helpers.data.tables import read_table

    return read_table(ctx.config.resolve(path or ctx.config.data.path))


def stage_validate_data(ctx: RunContext, frame, data_label: str | None = None) -> dict[str, Any]:
    """Check the data against the schema kept in git; CheckFailed (exit 1) on violations."""
    from mlops_helpers.data.schema import load_schema, report_to_junit, validate_frame

    schema_path = ctx.config.resolve(ctx.config.data.schema_file)
    with ctx.reporter.stage("Validating data against the schema"):
        report = validate_frame(frame, load_schema(schema_path))
        result = {"data": data_label or ctx.config.data.path, "schema": str(schema_path), **report.to_dict()}
        ctx.write_report("data-validation.json", result)
        report_to_junit(report, ctx.reports_dir / "data-validation.xml")
        ctx.summary["data_validation"] = {"ok": report.ok, "violations": len(report.violations)}
        if not report.ok:  # inside the stage: it is marked failed, not ✓
            raise CheckFailed(report.summary(), result)
    return result


def stage_infer_schema(ctx: RunContext, frame) -> Path:
    """Write the schema inferred from `frame`, and say which column kinds training will see."""
    from mlops_helpers.data.columns import schema_notes
    from mlops_helpers.data.schema import infer_schema, save_schema

    schema_path = ctx.config.resolve(ctx.config.data.schema_file)
    schema = infer_schema(frame, target=ctx.config.data.target)
    save_schema(schema, schema_path)
    notes, warnings = schema_notes(schema, frame.set_axis([str(c) for c in frame.columns], axis=1),
                                   ctx.config.training.preprocessing.drop)
    for message in notes:
        ctx.reporter.note(message)
    for message in warnings:
        ctx.reporter.warn(message)
    return schema_path


def stage_train(ctx: RunContext, frame, lineage: dict[str, Any]):
    from mlops_helpers.data.columns import constant_features
    from mlops_helpers.training import train

    for message in constant_features(frame, ctx.config.data.target, ctx.config.training.preprocessing.drop):
        ctx.reporter.warn(message)
    with ctx.reporter.stage(f"Training {ctx.config.training.estimator}"):
        result = train(ctx.config, frame, ctx.artefact_dir, lineage)
    ctx.reporter.note(f"hold-out metrics: {_format_metrics(result.metadata['metrics'])}")
    if result.metadata["scoring"].get("explained"):
        ctx.reporter.note(result.metadata["scoring"]["explained"])
    ctx.summary["artefact"] = str(result.artefact_dir)
    ctx.summary["metrics"] = result.metadata["metrics"]
    return result


def stage_evaluate(ctx: RunContext, artefact_dir: Path) -> dict[str, Any]:
    """Score the artefact and the production model on the artefact's hold-out rows; apply gates."""
    import joblib
    import pandas as pd

    from mlops_helpers.checksums import verify_sums
    from mlops_helpers.evaluation import compute_metrics, evaluate_gates, gates_to_junit
    from mlops_helpers.training import HOLDOUT_FILE, MODEL_FILE, read_metadata

    config = ctx.config
    with ctx.reporter.stage("Evaluating against the gates"):
        metadata = read_metadata(artefact_dir)
        verify_sums(artefact_dir)
        task = metadata["task"]
        holdout = pd.read_csv(artefact_dir / HOLDOUT_FILE)
        target = holdout.pop(metadata["target"])
        # The candidate's scoring (positive class, average) for both models: like for like.
        scoring = metadata.get("scoring") or {}
        positive, average = scoring.get("positive_label"), scoring.get("average", config.validation.average)
        metrics = compute_metrics(task, joblib.load(artefact_dir / MODEL_FILE), holdout, target, positive, average)
        production = _production_model(ctx)
        production_metrics = compute_metrics(task, production[0], holdout, target, positive, average) if production else None
        production_version = production[1].version if production else None
        gates = evaluate_gates(config, task, metrics, production_metrics, production_version)
        result = {
            "model": config.model_name,
            "task": task,
            "scoring": scoring.get("explained"),
            "metrics": metrics,
            "production": {"version": production_version, "metrics": production_metrics} if production else None,
            "gates": [gate.to_dict() for gate in gates],
            "passed": all(gate.passed for gate in gates),
        }
        ctx.write_report("evaluation.json", result)
        gates_to_junit(gates, ctx.reports_dir / "evaluation.xml")
        ctx.summary["gates"] = result["gates"]
        ctx.summary["metrics"] = metrics
        if not result["passed"]:  # inside the stage: it is marked failed, not ✓
            failed = "; ".join(gate.message for gate in gates if not gate.passed)
            raise CheckFailed(f"gate failed: {failed}", result)
    return result


def _production_model(ctx: RunContext):
    """(model, ModelVersion) of the production model, or None when nothing is in production."""
    from mlops_helpers.registry import open_registry

    registry = open_registry(ctx.config.registry_path())
    name = ctx.config.model_name
    if name not in registry.list_models() or "production" not in registry.aliases(name):
        return None
    return registry.load_model(name, "production")


def stage_register(ctx: RunContext, artefact_dir: Path, stage: str | None = "staging"):
    from mlops_helpers.registry import open_registry
    from mlops_helpers.training import read_metadata

    metadata = read_metadata(artefact_dir)
    lineage = {"data": metadata.get("data"), "git": metadata.get("git"), "metrics": metadata.get("metrics")}
    with ctx.reporter.stage(f"Registering {ctx.config.model_name} as {stage or 'a new version'}"):
        version = open_registry(ctx.config.registry_path()).register(
            ctx.config.model_name, artefact_dir, stage=stage, lineage=lineage
        )
    ctx.summary["registered"] = {"model": version.name, "version": version.version, "stage": stage, "path": str(version.path)}
    return version


def stage_deliver(ctx: RunContext, version, mode: str = "auto") -> dict[str, Any]:
    """Package the new version as an image when a Docker engine answers (mode auto or image);
    otherwise serve it locally once and check its answers (infra validation without Docker)."""
    from mlops_helpers import packaging

    if mode == "none":
        return {"mode": "none"}
    if mode == "image" or (mode == "auto" and packaging.docker_available()):
        push = bool(packaging.image_repository(ctx.config, None).count("/"))
        request = packaging.PackageRequest(reference=str(version.version), push=push)
        result = packaging.package_model(ctx.config, request, ctx.reporter)
        delivery = {"mode": "image", **result.to_dict()}
    else:
        delivery = {"mode": "local", **_serve_locally_once(ctx, version)}
    ctx.summary["delivery"] = delivery
    return delivery


def _serve_locally_once(ctx: RunContext, version) -> dict[str, Any]:
    from mlops_helpers.infra_validation import ProcessServer, validate
    from mlops_helpers.ports import free_port
    from mlops_helpers.registry import open_registry

    with ctx.reporter.stage("Serving the model locally (no Docker engine): infra validation"):
        port = free_port()
        server = ProcessServer(version.path, port, ctx.out_dir / "serve-check.log")
        verdict = validate(server, port, version.path, ctx.reporter)
        open_registry(ctx.config.registry_path()).annotate(version.name, version.version,
                                                           infra_validation={**verdict, "mode": "local"})
        if not verdict["passed"]:  # inside the stage: it is marked failed, not ✓
            raise CheckFailed(f"infra validation failed: {verdict['reason']}", {"verified": False})
    return {"verified": True, "rows": verdict["rows"],
            "serve": f"mlops serve --model {version.name}@{version.version} --port 8080"}


def stage_deploy(ctx: RunContext, version) -> str:
    """Roll the new version out to the local environment with the configured strategy."""
    from mlops_helpers.rollout import operations

    env = operations.open_environment(ctx.config)
    operations.housekeeping(env)
    with ctx.reporter.stage(f"Deploying v{version.version} to '{env.name}' ({ctx.config.deploy.strategy})") as progress:
        state, outcome = operations.deploy(env, ctx.reporter, str(version.version), None, None)
        if outcome != "promoted":
            progress.outcome = outcome  # paused or aborted: not marked ✓
    ctx.summary["deployment"] = {**state.summary(), "outcome": outcome, "url": env.backend.url}
    return outcome


def run_pipeline(ctx: RunContext, stage: str = "staging", deliver: str = "auto", deploy: bool | None = None) -> dict[str, Any]:
    """The main job: check → version → validate → train → evaluate → register → deliver → deploy."""
    ctx.summary.update(project=ctx.config.project, model=ctx.config.model_name, ok=False)
    deploy = ctx.config.deploy.on_run if deploy is None else deploy
    try:
        stage_check_config(ctx, deliver, deploy)  # everything the later stages need, before any of them
        lineage = stage_versions(ctx)
        frame = load_data(ctx)
        if ctx.config.validation.data:
            stage_validate_data(ctx, frame)
        trained = stage_train(ctx, frame, lineage)
        stage_evaluate(ctx, trained.artefact_dir)
        version = stage_register(ctx, trained.artefact_dir, stage=stage)
        stage_deliver(ctx, version, deliver)
        if deploy:
            outcome = stage_deploy(ctx, version)
            if outcome in ("aborted", "failed", "undeployed"):
                raise CheckFailed(f"rollout of v{version.version} {outcome}: {ctx.summary['deployment']['reason']}",
                                  {"deployment": ctx.summary["deployment"]})
        ctx.summary["ok"] = True
    except Exception as exc:
        ctx.summary["error"] = str(exc)
        raise
    finally:
        ctx.write_report("run.json", ctx.summary)
    return ctx.summary


def _format_metrics(metrics: dict[str, float]) -> str:
    return ", ".join(f"{name}={value:.4f}" for name, value in metrics.items())

