"""`mlops registry list|show|promote|rollback|history`: the project's registered model versions."""

from __future__ import annotations

import json

import click

from mlops_helpers.cli.options import command_options, project_context, project_registry, split_ref
from mlops_helpers.cli.text import versions_table
from mlops_helpers.console import Reporter, table


@click.group()
def registry() -> None:
    """The model registry: versions, stages (staging, production, archived), lineage."""


@registry.command("list")
@click.argument("model", required=False)
@command_options
def registry_list(model: str | None, config_path: str, reporter: Reporter) -> None:
    """List models, or the versions of MODEL (default: the project's model)."""
    from mlops_helpers.registry import open_registry

    config = project_context(config_path, reporter).config
    name = model or config.model_name
    versions = [v.to_dict() for v in open_registry(config.registry_path()).list_versions(name)]
    validation = config.validation
    primary = validation.primary_metric or (validation.gates[0].metric if validation.gates else None)
    reporter.result({"ok": True, "model": name, "versions": versions}, versions_table(versions, primary))


@registry.command("show")
@click.argument("reference", required=False, metavar="[MODEL][@VERSION|@STAGE]")
@command_options
def registry_show(reference: str | None, config_path: str, reporter: Reporter) -> None:
    """Show one version with its lineage; verifies its checksums."""
    store, default_model = project_registry(config_path, reporter)
    name, ref = split_ref(reference, default_model)
    version = store.verify(name, ref)
    reporter.result({"ok": True, **version.to_dict()}, json.dumps(version.to_dict(), indent=2, default=str))


@registry.command("promote")
@click.argument("reference", metavar="[MODEL]@VERSION")
@click.option("--to", "stage", required=True, type=click.Choice(["staging", "production", "archived"]),
              help="Target stage.")
@command_options
def registry_promote(reference: str, stage: str, config_path: str, reporter: Reporter) -> None:
    """Point a stage at a version (promoting to production archives the previous one)."""
    store, default_model = project_registry(config_path, reporter)
    name, ref = split_ref(reference, default_model)
    version = store.promote(name, ref, stage)
    reporter.result({"ok": True, **version.to_dict()}, f"{name} v{version.version} is now {stage}")


@registry.command("rollback")
@click.argument("model", required=False)
@click.option("--stage", default="production", show_default=True, help="Stage to roll back.")
@command_options
def registry_rollback(model: str | None, stage: str, config_path: str, reporter: Reporter) -> None:
    """Point a stage back at the version it held before its last change."""
    store, default_model = project_registry(config_path, reporter)
    version = store.rollback(model or default_model, stage)
    reporter.result({"ok": True, **version.to_dict()}, f"{version.name} {stage} rolled back to v{version.version}")


@registry.command("history")
@click.argument("model", required=False)
@command_options
def registry_history(model: str | None, config_path: str, reporter: Reporter) -> None:
    """The registry's audit log for MODEL: registrations, promotions, rollbacks."""
    store, default_model = project_registry(config_path, reporter)
    events = store.history(model or default_model)
    rows = [[e.get("time"), e.get("event"), e.get("version"), e.get("stage"), e.get("previous")] for e in events]
    reporter.result({"ok": True, "events": events}, table(["time", "event", "version", "stage", "previous"], rows))
