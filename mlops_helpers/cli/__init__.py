"""`mlops`: one subcommand per pipeline stage. Commands only parse and call.

Each command module imports only options.py, text.py and exit_codes.py of this package (never
this file), so any of them imports on its own. Heavy libraries (pandas, scikit-learn, DVC,
pydantic) are imported inside the commands so that `mlops --help` stays fast.
"""

from __future__ import annotations

import click

from mlops_helpers import __version__
from mlops_helpers.cli import data, jenkins, monitor, package, pipeline, project, registry, render, rollout, serve
from mlops_helpers.cli.options import CONTEXT_SETTINGS


@click.group(context_settings=CONTEXT_SETTINGS, commands=[
    project.init, project.config_group, project.versions,
    pipeline.run, pipeline.train, pipeline.evaluate, pipeline.register,
    data.data, registry.registry, serve.serve, package.package,
    rollout.deploy, rollout.rollout, rollout.undeploy,
    render.render, monitor.monitor, jenkins.jenkins,
])
@click.version_option(__version__, prog_name="mlops")
def main() -> None:
    """CI/CD for machine-learning models: the same commands on a laptop and in Jenkins.

    Start with `mlops init demo --dataset breast_cancer`, then `cd demo && mlops run`.
    """
