"""`mlops run`, and its stages one at a time: `train`, `evaluate`, `register`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mlops_helpers.cli import exit_codes
from mlops_helpers.cli.options import command_options, out_dir_option, overrides_option, project_context
from mlops_helpers.cli.text import delivery_line, deployment_line, gates_table, metrics_table
from mlops_helpers.console import Reporter


@click.command()
@overrides_option
@out_dir_option
@click.option("--stage", default="staging", show_default=True, help="Registry stage for the new version.")
@click.option("--deliver", type=click.Choice(["auto", "image", "local", "none"]), default="auto", show_default=True,
              help="After registering: build, check and push the image (image), serve it once locally and check "
                   "its answers (local), or auto: image when a Docker engine answers, else local.")
@click.option("--deploy/--no-deploy", "deploy", default=None, show_default="deploy.on_run",
              help="Roll the new version out to the local environment (default: deploy.on_run, which mlops init "
                   "sets to true).")
@command_options
def run(overrides: tuple[str, ...], out_dir: str | None, stage: str, deliver: str, deploy: bool | None, config_path: str,
        reporter: Reporter) -> None:
    """The main job: validate data, train, evaluate against the gates, register as staging, deliver, deploy.

    Exit codes: 0 done (deployed when deploy.on_run) · 1 a gate failed or the rollout was aborted ·
    2 usage or config error · 3 the rollout is paused, awaiting `mlops rollout promote`.
    """
    from mlops_helpers.pipeline import run_pipeline

    ctx = project_context(config_path, reporter, overrides, out_dir)
    summary = run_pipeline(ctx, stage=stage, deliver=deliver, deploy=deploy)
    registered = summary["registered"]
    reporter.result(
        summary,
        f"{gates_table(summary['gates'])}\n\n"
        f"Registered {registered['model']} v{registered['version']} as {registered['stage']} "
        f"(data {summary['lineage']['data']['md5'][:8]}, commit {(summary['lineage']['git']['commit'] or 'none')[:8]})\n"
        f"{delivery_line(summary.get('delivery') or {})}\n"
        f"{deployment_line(summary.get('deployment'))}"
        f"Reports: {ctx.reports_dir}",
    )
    if (summary.get("deployment") or {}).get("outcome") == "paused":
        sys.exit(exit_codes.PAUSED)


@click.command()
@overrides_option
@out_dir_option
@command_options
def train(overrides: tuple[str, ...], out_dir: str | None, config_path: str, reporter: Reporter) -> None:
    """Train the model from mlops.yaml into an artefact folder (no gates, no registration)."""
    from mlops_helpers.pipeline import load_data, stage_check_config, stage_train, stage_versions

    ctx = project_context(config_path, reporter, overrides, out_dir)
    stage_check_config(ctx)
    lineage = stage_versions(ctx)
    result = stage_train(ctx, load_data(ctx), lineage)
    reporter.result(
        {"ok": True, "artefact": str(result.artefact_dir), "metrics": result.metadata["metrics"], **lineage},
        f"Artefact: {result.artefact_dir}\n{metrics_table(result.metadata['metrics'])}",
    )


@click.command()
@click.option("--artefact", default=None, metavar="DIR", help="Model artefact folder (default: <out-dir>/model).")
@overrides_option
@out_dir_option
@command_options
def evaluate(artefact: str | None, overrides: tuple[str, ...], out_dir: str | None, config_path: str, reporter: Reporter) -> None:
    """Score an artefact and the production model on the hold-out set; apply the gates (exit 1 on failure)."""
    from mlops_helpers.pipeline import stage_evaluate

    ctx = project_context(config_path, reporter, overrides, out_dir)
    result = stage_evaluate(ctx, Path(artefact) if artefact else ctx.artefact_dir)
    reporter.result({"ok": True, **result}, gates_table(result["gates"]))


@click.command()
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

    ctx = project_context(config_path, reporter, overrides, out_dir)
    version = stage_register(ctx, Path(artefact) if artefact else ctx.artefact_dir, None if stage == "none" else stage)
    reporter.result({"ok": True, **version.to_dict()}, f"Registered {version.name} v{version.version} ({stage})")
