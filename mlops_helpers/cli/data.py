"""`mlops data status|add|push|pull|infer-schema|validate`: the data's DVC versions and its schema."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from mlops_helpers.cli.options import command_options, out_dir_option, overrides_option, project_context
from mlops_helpers.console import Reporter

if TYPE_CHECKING:
    from mlops_helpers.pipeline import RunContext


@click.group()
def data() -> None:
    """Data versioning (DVC) and validation against the schema."""


def _remote(ctx: RunContext) -> str | None:
    """data.dvc_remote, resolved against mlops.yaml's folder when it is a relative path."""
    remote = ctx.config.data.dvc_remote
    return remote if not remote or "://" in remote else str(ctx.config.resolve(remote))


@data.command("status")
@command_options
def data_status(config_path: str, reporter: Reporter) -> None:
    """Is the data file tracked, and is the DVC remote in sync?"""
    from mlops_helpers.data import versioning

    ctx = project_context(config_path, reporter)
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

    ctx = project_context(config_path, reporter)
    version = versioning.track(ctx.config.resolve(ctx.config.data.path), ctx.config.root)
    reporter.result({"ok": True, "data": version.to_dict()}, f"{version.path}: version {version.md5[:8]} (commit {version.dvc_file})")


@data.command("push")
@command_options
def data_push(config_path: str, reporter: Reporter) -> None:
    """Upload tracked data versions to the DVC remote."""
    from mlops_helpers.data import versioning

    ctx = project_context(config_path, reporter)
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

    ctx = project_context(config_path, reporter)
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

    ctx = project_context(config_path, reporter)
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
    from mlops_helpers.preflight import check_run

    ctx = project_context(config_path, reporter, overrides, out_dir)
    check_run(ctx.config)  # data.target and the named columns exist, and the schema has the same target
    result = stage_validate_data(ctx, load_data(ctx, data_path), data_path)
    reporter.result({**result}, f"{result['data']}: {result['rows']} rows valid against {result['schema']}")
