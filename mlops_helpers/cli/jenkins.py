"""`mlops jenkins trigger|status|logs`: start the Jenkins pipeline from a laptop and follow it.

The API token comes only from the environment (JENKINS_API_TOKEN) or --token-file, never from a
flag, and is never printed. python-jenkins (and requests) load inside the commands.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mlops_helpers.cli import exit_codes
from mlops_helpers.cli.options import command_options
from mlops_helpers.console import Reporter, table
from mlops_helpers.errors import CheckFailed

if TYPE_CHECKING:
    from mlops_helpers.jenkins import JenkinsClient

TOKEN_ENV = "JENKINS_API_TOKEN"


@click.group("jenkins", context_settings={"help_option_names": ["-h", "--help"]})
def jenkins() -> None:
    """Trigger the Jenkins pipeline, follow a build, read its result and console.

    Connection: --url (env JENKINS_URL), --user (env JENKINS_USER) and the API token from env
    JENKINS_API_TOKEN or --token-file. Exit codes: 0 SUCCESS · 1 the build failed (FAILURE,
    UNSTABLE, ABORTED, NOT_BUILT, cancelled in the queue) · 2 usage, connection, credentials, timeout.
    """


def connection_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--url, --user, --token-file and --job on every jenkins command."""
    options = [
        click.option("--url", envvar="JENKINS_URL", metavar="URL",
                     help="Jenkins root URL, e.g. https://jenkins.example.com (env JENKINS_URL)."),
        click.option("--user", envvar="JENKINS_USER", metavar="NAME",
                     help="Jenkins user the API token belongs to (env JENKINS_USER)."),
        click.option("--token-file", type=click.Path(exists=True, dir_okay=False), metavar="PATH",
                     help=f"Read the API token from this file instead of env {TOKEN_ENV}. "
                          "There is no flag for the token itself."),
        click.option("--job", "-j", required=True, envvar="JENKINS_JOB", metavar="NAME",
                     help="Job name; jobs in folders as folder/job."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _client(url: str | None, user: str | None, token_file: str | None, poll_interval: float = 5.0) -> JenkinsClient:
    """A client for --url as --user, with the token from --token-file or the environment."""
    from mlops_helpers.jenkins import JenkinsClient, JenkinsError, check_url

    check_url(url)  # names JENKINS_URL when it is missing
    if token_file:
        token = Path(token_file).read_text(encoding="utf-8").strip()
        if not token:
            raise JenkinsError(f"--token-file {token_file} is empty")
    else:
        token = os.environ.get(TOKEN_ENV, "").strip()
    return JenkinsClient(url or "", user, token or None, poll_interval=poll_interval)


def _build_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--build", "-b", "build", default="last", show_default=True, metavar="N|last",
                        help="Build number, 'last', or a Jenkins permalink such as lastSuccessfulBuild.")(func)


def _ref(value: str) -> int | str:
    """--build as the client takes it; a bad value is a usage error that names the option."""
    from mlops_helpers.jenkins import build_ref

    try:
        return build_ref(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--build") from None


def _parse_params(values: tuple[str, ...]) -> dict[str, str]:
    """--param KEY=VALUE items; a key given twice is refused rather than silently overwritten."""
    params: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        key = key.strip()
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", param_hint="--param")
        if key in params:
            raise click.BadParameter(f"{key} given twice", param_hint="--param")
        params[key] = text
    return params


def _interrupted(func: Callable[..., Any]) -> Callable[..., Any]:
    """Ctrl-C while waiting says that the build goes on, and exits as a shell reports SIGINT."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt:
            click.echo("\ninterrupted: stopped waiting; anything already started keeps running on Jenkins", err=True)
            sys.exit(exit_codes.INTERRUPTED)

    return wrapper


@jenkins.command()
@connection_options
@click.option("--param", "-p", "params", multiple=True, metavar="KEY=VALUE",
              help="Build parameter (repeatable). Unknown names are refused; unset ones take the job's defaults.")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait for the build to finish (--no-wait returns once it has a build number).")
@click.option("--follow", "-f", is_flag=True, help="Stream the build's console to stderr while waiting.")
@click.option("--timeout", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="Give up (exit 2) after this long in the queue plus running. Default: wait as long as it takes.")
@click.option("--poll-interval", type=click.FloatRange(min=0), default=5.0, show_default=True, metavar="SECONDS",
              envvar="MLOPS_JENKINS_POLL_INTERVAL", help="Seconds between status polls (env MLOPS_JENKINS_POLL_INTERVAL).")
@command_options
@_interrupted
def trigger(url: str | None, user: str | None, token_file: str | None, job: str, params: tuple[str, ...],
            wait: bool, follow: bool, timeout: float | None, poll_interval: float,
            config_path: str, reporter: Reporter) -> None:
    """Start a build of --job with parameters, wait for it and report its result (exit 1 unless SUCCESS)."""
    from mlops_helpers.jenkins import QueueItemCancelled, human_duration

    if follow and not wait:
        raise click.UsageError("--follow needs --wait (the default)")
    parameters = _parse_params(params)
    client = _client(url, user, token_file, poll_interval)
    deadline = client.deadline(timeout)

    info = client.job(job)
    queue_id, sent = client.enqueue(info, parameters)
    shown = ", ".join(f"{k}={v}" for k, v in sent.items()) or "no parameters"
    reporter.note(f"queued {job} ({shown}) as queue item {queue_id}")
    try:
        item = client.wait_for_start(job, queue_id, deadline, reporter.note)
    except QueueItemCancelled as exc:
        raise CheckFailed(str(exc), {"job": job, "build": None, "url": None, "result": "CANCELLED",
                                     "queue_item": queue_id, "parameters": sent}) from None
    assert item.build_number is not None
    reporter.note(f"started {job} #{item.build_number}: {item.build_url}")
    if not wait:
        result = {"ok": True, "job": job, "build": item.build_number, "url": item.build_url, "result": None,
                  "building": True, "queue_item": queue_id, "parameters": sent}
        reporter.result(result, f"{job} #{item.build_number} started: {item.build_url}")
        return

    def stream(chunk: str) -> None:
        click.echo(chunk, err=True, nl=False)

    build = client.wait_for_build(job, item.build_number, deadline, reporter.note, stream if follow else None)
    result = {**build.to_dict(), "queue_item": queue_id}
    summary = f"{job} #{build.number} {build.result} in {human_duration(build.duration_ms / 1000)}: {build.url}"
    if not build.succeeded:
        raise CheckFailed(summary, result)
    reporter.result({"ok": True, **result}, summary)


@jenkins.command()
@connection_options
@_build_option
@command_options
def status(url: str | None, user: str | None, token_file: str | None, job: str, build: str,
           config_path: str, reporter: Reporter) -> None:
    """Result, state, duration, start time, parameters and description of one build."""
    from mlops_helpers.jenkins import human_duration, param_text

    client = _client(url, user, token_file)
    info = client.build(job, _ref(build))
    data = info.to_dict()
    state = "running" if info.building else (info.result or "unknown")
    rows = [
        ["build", f"{job} #{info.number}"], ["result", state], ["started", data["timestamp"]],
        ["duration", human_duration(info.duration_ms / 1000) if not info.building else "(running)"],
        ["description", info.description or ""], ["url", info.url],
        *[[f"param {k}", param_text(v)] for k, v in info.parameters.items()],
        *[["cause", c] for c in info.causes],
    ]
    reporter.result({"ok": True, **data}, table(["field", "value"], rows))


@jenkins.command()
@connection_options
@_build_option
@click.option("--tail", "-n", type=click.IntRange(min=1), default=None, metavar="N",
              help="Only the last N lines.")
@command_options
def logs(url: str | None, user: str | None, token_file: str | None, job: str, build: str, tail: int | None,
         config_path: str, reporter: Reporter) -> None:
    """Print a build's console text (the whole text, or its last --tail lines)."""
    client = _client(url, user, token_file)
    info = client.build(job, _ref(build))  # resolves 'last' to a number, so the console matches it
    text = client.console(job, info.number)
    if tail is not None:
        lines = text.splitlines(keepends=True)
        text = "".join(lines[-tail:])
    if info.building:
        reporter.note(f"{job} #{info.number} is still running; this is its console so far")
    reporter.result({"ok": True, "job": job, "build": info.number, "url": info.url, "building": info.building,
                     "result": info.result, "console": text}, text.rstrip("\n"))

