"""`mlops package`: the model's container image, checked and pushed."""

from __future__ import annotations

import click

from mlops_helpers.cli.options import command_options, project_context, split_ref
from mlops_helpers.console import Reporter


@click.command()
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

    ctx = project_context(config_path, reporter)
    _, reference = split_ref(model_ref, ctx.config.model_name)
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
