"""`mlops init`, `mlops config check|show` and `mlops versions`: the project itself, not a pipeline stage."""

from __future__ import annotations

from pathlib import Path

import click

from mlops_helpers.cli.options import command_options, overrides_option, project_context
from mlops_helpers.console import Reporter, table


@click.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--data", "data_file", default=None, metavar="FILE",
              help="Your own CSV or Parquet file (copied into data/, as it is); needs --target.")
@click.option("--target", default=None, metavar="COLUMN", help="With --data: the column to predict.")
@click.option("--task", type=click.Choice(["classification", "regression"]), default=None,
              help="With --data: the task (default: inferred from the target column, and said).")
@click.option("--dataset", default=None,
              help="Bundled scikit-learn data set: breast_cancer, wine, iris, digits (classification) or diabetes "
                   "(regression). Default: breast_cancer, when --data is not given.")
@click.option("--name", default=None, help="Project name (default: the folder's name).")
@click.option("--dvc-remote", default=None, metavar="PATH|URL",
              help="Default DVC remote (default: ~/.cache/mlops/dvc-storage/<project>).")
@command_options
def init(directory: str, data_file: str | None, target: str | None, task: str | None, dataset: str | None,
         name: str | None, dvc_remote: str | None, config_path: str, reporter: Reporter) -> None:
    """Scaffold a working project (data, mlops.yaml, git + DVC, Jenkinsfile) in an empty folder.

    From your own file, `mlops init DIR --data FILE --target COLUMN`: the file is copied into
    data/ as it is and versioned by DVC, its schema inferred, and the task inferred from the target
    (a number with more than 20 distinct values is regression, anything else classification) and
    said; the comments of mlops.yaml say why each value was chosen. A missing or unreadable file, a
    target that is not one of its columns and a table without rows are refused before anything is
    created. Without --data, the project uses a data set bundled with scikit-learn (--dataset).
    """
    from mlops_helpers.errors import MlopsError
    from mlops_helpers.scaffold import bundled_source, file_source, init_project, summarise

    if data_file and dataset:
        raise MlopsError("--data and --dataset cannot be used together: --data is your own file, --dataset a bundled one")
    if not data_file and (target or task):
        raise MlopsError(f"{'--target' if target else '--task'}: only with --data (a bundled data set's target is 'target')")
    source = file_source(Path(data_file)) if data_file else bundled_source(dataset or "breast_cancer")
    summary = summarise(source, target, task)
    with reporter.stage(f"Creating project from {source.label}"):
        result = init_project(Path(directory), source, summary, name, dvc_remote)
    lines = [f"Created {result.root}"]
    if data_file:
        lines.append(f"  target: {result.target}, task: {result.task} ({result.task_reason})")
        if result.positive_label is not None:
            lines.append(f"  binary metrics score the class {result.positive_label!r} (training.positive_label)")
        lines.append("  mlops.yaml says why each value was chosen; edit it, then `mlops config check`")
    lines += [f"  data version {result.data_md5[:8]} pushed to {result.dvc_remote}", f"  commit {result.commit[:8]}",
              f"Next: cd {directory} && mlops run"]
    reporter.result({"ok": True, **result.to_dict()}, "\n".join(lines))


@click.group("config")
def config_group() -> None:
    """Check or show mlops.yaml."""


@config_group.command("check")
@overrides_option
@command_options
def config_check(overrides: tuple[str, ...], config_path: str, reporter: Reporter) -> None:
    """Validate mlops.yaml fully (schema, estimator, params, metrics, data columns); exit 2 with field-named errors.

    What `mlops run` checks before it trains: every column mlops.yaml names is in the data file's
    header, the schema's target is data.target, and, when deploy.on_run, the router's ports are free
    or this environment's router holds them; an image delivery (package.registry) needs a Docker
    engine and the registry.
    """
    from mlops_helpers.pipeline import stage_check_config

    ctx = project_context(config_path, reporter, overrides)
    # What `mlops run` with its defaults checks first: --deliver auto, and deploy.on_run.
    task = stage_check_config(ctx, deliver="auto", deploy=ctx.config.deploy.on_run)
    found = ctx.summary["preflight"]
    reporter.result({"ok": True, "task": task, "checked": found},
                    "\n".join([f"{config_path}: valid ({task})", *(f"  {line}" for line in found)]))


@config_group.command("show")
@overrides_option
@command_options
def config_show(overrides: tuple[str, ...], config_path: str, reporter: Reporter) -> None:
    """Print the effective config with every default filled in."""
    import yaml

    ctx = project_context(config_path, reporter, overrides)
    effective = ctx.config.model_dump(by_alias=True)
    reporter.result(effective, yaml.safe_dump(effective, sort_keys=False))


@click.command()
@command_options
def versions(config_path: str, reporter: Reporter) -> None:
    """Versions of mlops, Python, the ML libraries and the tools a run uses."""
    from mlops_helpers.toolversions import collect_versions

    found = collect_versions()
    reporter.result({"ok": True, **found}, table(["component", "version"], [[k, v] for k, v in found.items()]))
