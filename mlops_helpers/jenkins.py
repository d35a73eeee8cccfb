"""Start, follow and inspect Jenkins builds: a small typed wrapper around python-jenkins.

Every python-jenkins / requests failure is translated into an `MlopsError` whose message says
what to fix (wrong job name, bad token, Jenkins unreachable) and never contains the API token.
Polling intervals, the clock and `sleep` are injectable so tests run in milliseconds.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn
from urllib.parse import urlsplit

import jenkins as pyjenkins
import requests

from mlops_helpers.errors import EXIT_CHECK_FAILED, MlopsError

# Jenkins' permalinks (job/<name>/<permalink>/...); `last` is our short form of lastBuild.
PERMALINKS = (
    "lastBuild", "lastCompletedBuild", "lastSuccessfulBuild", "lastFailedBuild",
    "lastStableBuild", "lastUnstableBuild", "lastUnsuccessfulBuild",
)
RESULTS_OK = ("SUCCESS",)

Progress = Callable[[str], None]


class JenkinsError(MlopsError):
    """Jenkins could not be used as asked (connection, credentials, job name, timeout): exit 2."""


class JenkinsUnreachable(JenkinsError):
    """Nothing answered at the Jenkins URL."""


class JenkinsAuthError(JenkinsError):
    """Jenkins answered 401/403."""


class JenkinsNotFound(JenkinsError):
    """The job or build does not exist (or the user may not see it)."""


class JenkinsTimeout(JenkinsError):
    """Gave up waiting; the message says what was last seen."""


class QueueItemCancelled(JenkinsError):
    """The queued build was cancelled before it started: the pipeline did not run (exit 1)."""

    exit_code = EXIT_CHECK_FAILED

    def __init__(self, message: str, job: str, queue_id: int) -> None:
        super().__init__(message)
        self.job = job
        self.queue_id = queue_id


def build_ref(value: str | int) -> int | str:
    """A build number, `last` (= lastBuild) or a Jenkins permalink such as lastSuccessfulBuild."""
    text = str(value).strip()
    if text.isdigit() and int(text) > 0:
        return int(text)
    if text == "last":
        return "lastBuild"
    if text in PERMALINKS:
        return text
    raise ValueError(f"{value!r} is not a build number, 'last' or one of {', '.join(PERMALINKS)}")


def check_url(url: str | None) -> str:
    """The Jenkins root URL without a trailing slash; refuses URLs that carry credentials."""
    if not url or not url.strip():
        raise JenkinsError("the Jenkins URL is not set: pass --url or set JENKINS_URL (e.g. https://jenkins.example.com)")
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise JenkinsError(f"the Jenkins URL must start with http:// or https:// and name a host (got {url.split('@')[-1]!r})")
    if parts.username or parts.password:
        raise JenkinsError("the Jenkins URL must not contain credentials: use JENKINS_USER and JENKINS_API_TOKEN")
    return url.rstrip("/")


# --- typed results ---------------------------------------------------------------------


@dataclass(frozen=True)
class ParameterDefinition:
    name: str
    type: str
    default: Any = None
    description: str = ""
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class JobInfo:
    name: str
    url: str
    buildable: bool
    parameters: tuple[ParameterDefinition, ...]
    next_build_number: int | None
    in_queue: bool

    @property
    def parameterized(self) -> bool:
        return bool(self.parameters)

    @classmethod
    def from_api(cls, name: str, data: Mapping[str, Any]) -> JobInfo:
        definitions: dict[str, ParameterDefinition] = {}
        # Jenkins lists ParametersDefinitionProperty under `property` (and, on older cores, `actions`).
        for holder in [*(data.get("property") or []), *(data.get("actions") or [])]:
            for spec in (holder or {}).get("parameterDefinitions") or []:
                default = (spec.get("defaultParameterValue") or {}).get("value")
                definitions.setdefault(spec["name"], ParameterDefinition(
                    name=spec["name"], type=spec.get("type") or spec.get("_class", ""), default=default,
                    description=spec.get("description") or "", choices=tuple(spec.get("choices") or ()),
                ))
        return cls(
            name=name, url=data.get("url") or "", buildable=bool(data.get("buildable", True)),
            parameters=tuple(definitions.values()), next_build_number=data.get("nextBuildNumber"),
            in_queue=bool(data.get("inQueue")),
        )


@dataclass(frozen=True)
class QueueItem:
    id: int
    why: str | None
    cancelled: bool
    build_number: int | None
    build_url: str | None

    @classmethod
    def from_api(cls, queue_id: int, data: Mapping[str, Any]) -> QueueItem:
        executable = data.get("executable") or {}
        return cls(
            id=int(data.get("id", queue_id)), why=data.get("why"), cancelled=bool(data.get("cancelled")),
            build_number=executable.get("number"), build_url=executable.get("url"),
        )


@dataclass(frozen=True)
class BuildInfo:
    job: str
    number: int
    url: str
    result: str | None
    building: bool
    duration_ms: int
    estimated_duration_ms: int | None
    timestamp_ms: int | None
    parameters: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    causes: tuple[str, ...] = ()

    @property
    def finished(self) -> bool:
        # `result` can be set while a Pipeline still runs (e.g. marked UNSTABLE); `building` decides.
        return not self.building and self.result is not None

    @property
    def succeeded(self) -> bool:
        return self.result in RESULTS_OK

    @classmethod
    def from_api(cls, job: str, data: Mapping[str, Any]) -> BuildInfo:
        parameters: dict[str, Any] = {}
        causes: list[str] = []
        for action in data.get("actions") or []:
            for parameter in (action or {}).get("parameters") or []:
                parameters[parameter["name"]] = parameter.get("value")
            causes += [c.get("shortDescription", "") for c in (action or {}).get("causes") or []]
        return cls(
            job=job, number=int(data["number"]), url=data.get("url") or "", result=data.get("result"),
            building=bool(data.get("building")), duration_ms=int(data.get("duration") or 0),
            estimated_duration_ms=data.get("estimatedDuration"), timestamp_ms=data.get("timestamp"),
            parameters=parameters, description=data.get("description"), causes=tuple(causes),
        )

    def to_dict(self) -> dict[str, Any]:
        started = (datetime.fromtimestamp(self.timestamp_ms / 1000, tz=UTC).isoformat(timespec="seconds")
                   if self.timestamp_ms else None)
        estimated = self.estimated_duration_ms
        return {
            "job": self.job, "build": self.number, "url": self.url, "result": self.result,
            "building": self.building, "duration_s": round(self.duration_ms / 1000, 1),
            "estimated_duration_s": round(estimated / 1000, 1) if estimated and estimated > 0 else None,
            "timestamp": started, "parameters": self.parameters, "description": self.description,
            "causes": list(self.causes),
        }


def human_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


# --- the client ------------------------------------------------------------------------


class JenkinsClient:
    """One Jenkins server as the `mlops jenkins` commands use it. The token is never exposed."""

    def __init__(
        self, url: str, user: str | None = None, token: str | None = None, *,
        request_timeout: float = 30.0, poll_interval: float = 5.0, heartbeat: float = 30.0,
        sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = check_url(url)
        self.user = user or None
        self._token = token or None
        if self._token and not self.user:
            raise JenkinsError("JENKINS_USER is not set: an API token belongs to a user (pass --user or set JENKINS_USER)")
        if self.user and not self._token:
            raise JenkinsError(f"no API token for user '{self.user}': set JENKINS_API_TOKEN or pass --token-file")
        self.request_timeout = request_timeout
        self.poll_interval = poll_interval
        self.heartbeat = heartbeat
        self._sleep = sleep
        self._clock = clock
        self._server = pyjenkins.Jenkins(self.url, username=self.user, password=self._token, timeout=request_timeout)

    def __repr__(self) -> str:
        return f"JenkinsClient(url={self.url!r}, user={self.user!r})"

    # -- single requests --

    def job(self, name: str) -> JobInfo:
        data = self._call(f"reading job '{name}'", self._server.get_job_info, name, not_found=lambda: self._job_not_found(name))
        return JobInfo.from_api(name, data)

    def build(self, job: str, ref: int | str = "lastBuild") -> BuildInfo:
        data = self._call(f"reading {job} #{ref}", self._server.get_build_info, job, ref,
                          not_found=lambda: self._build_not_found(job, ref))
        return BuildInfo.from_api(job, data)

    def console(self, job: str, number: int | str) -> str:
        """The whole console text so far ('' before the build printed anything)."""
        try:
            return self._call(f"reading the console of {job} #{number}", self._server.get_build_console_output, job, number)
        except JenkinsNotFound:
            # python-jenkins reports an empty console like a missing build; callers read the
            # build first, so the build exists and the console is simply empty.
            return ""

    def queue_item(self, queue_id: int, job: str) -> QueueItem:
        data = self._call(
            f"reading queue item {queue_id}", self._server.get_queue_item, queue_id,
            not_found=lambda: JenkinsNotFound(
                f"queue item {queue_id} of job '{job}' no longer exists on {self.url} "
                "(Jenkins forgets queue items a few minutes after they leave the queue)"),
        )
        return QueueItem.from_api(queue_id, data)

    def enqueue(self, job: JobInfo, parameters: Mapping[str, str]) -> tuple[int, dict[str, str]]:
        """POST build/buildWithParameters; returns the queue item id and the parameters sent."""
        if parameters and not job.parameterized:
            raise JenkinsError(f"job '{job.name}' takes no parameters (got {', '.join(parameters)})")
        known = {p.name for p in job.parameters}
        unknown = [key for key in parameters if key not in known]
        if unknown:
            raise JenkinsError(f"job '{job.name}' has no parameter {', '.join(repr(k) for k in unknown)} "
                               f"(its parameters: {', '.join(sorted(known))})")
        if not job.buildable:
            raise JenkinsError(f"job '{job.name}' is disabled on {self.url}")
        sent: dict[str, str] = dict(parameters)
        if job.parameterized and not sent:
            # POST job/J/build on a parameterized job expects the UI's parameter form, not an API
            # call: use buildWithParameters and send the defaults explicitly (visible in the output).
            sent = {p.name: param_text(p.default) for p in job.parameters if p.default is not None}
        request: dict[str, str] | list[tuple[str, str]] | None = sent or None
        if job.parameterized and not sent:
            request = [("delay", "0sec")]  # buildWithParameters with Jenkins' own defaults
        queue_id = self._call(f"triggering job '{job.name}'", self._server.build_job, job.name, request,
                              not_found=lambda: self._job_not_found(job.name))
        return queue_id, sent

    # -- polling --

    def deadline(self, timeout: float | None) -> float | None:
        return None if timeout is None else self._clock() + timeout

    def wait_for_start(self, job: str, queue_id: int, deadline: float | None = None,
                       progress: Progress | None = None) -> QueueItem:
        """Poll the queue item until Jenkins assigns a build number."""
        started, last_why = self._clock(), None
        while True:
            item = self.queue_item(queue_id, job)
            if item.cancelled:
                raise QueueItemCancelled(
                    f"queue item {queue_id} of job '{job}' was cancelled before it started"
                    + (f" (last reason: {last_why})" if last_why else ""), job, queue_id)
            if item.build_number is not None:
                return item
            if item.why and item.why != last_why and progress:
                progress(f"queued (item {queue_id}): {item.why}")
            last_why = item.why or last_why
            if deadline is not None and self._clock() >= deadline:
                raise JenkinsTimeout(
                    f"timed out after {human_duration(self._clock() - started)} waiting for job '{job}' to leave "
                    f"the queue (queue item {queue_id}; last seen: {last_why or 'queued'}); it may still start — "
                    f"see {self.url}/queue/item/{queue_id}/")
            self._sleep(self.poll_interval)

    def wait_for_build(self, job: str, number: int, deadline: float | None = None,
                       progress: Progress | None = None, console: Progress | None = None) -> BuildInfo:
        """Poll the build until it finishes; with `console`, hand it each new piece of console text once."""
        started, shown, last_note = self._clock(), 0, None
        while True:
            info = self.build(job, number)
            if console is not None:
                text = self.console(job, number)
                if len(text) > shown:
                    console(text[shown:])
                    shown = len(text)
            if info.finished:
                return info
            now = self._clock()
            if progress and (last_note is None or now - last_note >= self.heartbeat):
                estimate = (f", usually takes {human_duration(info.estimated_duration_ms / 1000)}"
                            if info.estimated_duration_ms and info.estimated_duration_ms > 0 else "")
                progress(f"{job} #{number} running ({human_duration(now - started)} so far{estimate})")
                last_note = now
            if deadline is not None and now >= deadline:
                raise JenkinsTimeout(
                    f"timed out after {human_duration(now - started)} waiting for {job} #{number} to finish "
                    f"(last seen: building={str(info.building).lower()}, result={info.result or 'none yet'}); "
                    f"the build goes on: {info.url}")
            self._sleep(self.poll_interval)

    # -- error translation --

    def _call(self, what: str, fn: Callable[..., Any], *args: Any,
              not_found: Callable[[], JenkinsError] | None = None) -> Any:
        try:
            return fn(*args)
        except requests.exceptions.ConnectionError as exc:
            raise JenkinsUnreachable(f"cannot reach Jenkins at {self.url} ({_connection_reason(exc)})") from None
        except (pyjenkins.TimeoutException, requests.exceptions.Timeout):
            raise JenkinsError(f"Jenkins at {self.url} did not answer within {self.request_timeout:g}s ({what})") from None
        except pyjenkins.JenkinsException as exc:
            message = self._scrub(str(exc))
            status = _http_status(message)
            if status in (401, 403):
                self._auth_failed(status)
            if isinstance(exc, pyjenkins.NotFoundException) or (status is None and "does not exist" in message):
                raise (not_found() if not_found else JenkinsNotFound(f"{what}: not found on {self.url}")) from None
            if status is not None:
                raise JenkinsError(f"Jenkins at {self.url} answered HTTP {status} while {what}") from None
            raise JenkinsError(f"Jenkins at {self.url}: {what} failed: {message.splitlines()[0]}") from None
        except requests.exceptions.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            raise JenkinsError(f"Jenkins at {self.url} answered HTTP {status} while {what}") from None
        except requests.exceptions.RequestException as exc:
            raise JenkinsError(f"Jenkins at {self.url}: {what} failed: {self._scrub(type(exc).__name__)}") from None
        except ValueError:
            raise JenkinsError(f"{self.url} did not answer like Jenkins while {what} (not JSON): "
                               "is it the Jenkins root URL?") from None

    def _auth_failed(self, status: int) -> NoReturn:
        reason = "401 Unauthorized" if status == 401 else "403 Forbidden"
        if not self.user:
            raise JenkinsAuthError(f"Jenkins at {self.url} refused anonymous access (HTTP {reason}): "
                                   "set JENKINS_USER and JENKINS_API_TOKEN") from None
        hint = "" if status == 401 else "; or the user lacks the permission for this job"
        raise JenkinsAuthError(f"authentication failed for user '{self.user}' on {self.url} "
                               f"(check JENKINS_API_TOKEN{hint}): HTTP {reason}") from None

    def _job_not_found(self, job: str) -> JenkinsNotFound:
        who = f"user '{self.user}'" if self.user else "anonymous users"
        return JenkinsNotFound(f"job '{job}' not found on {self.url} (check the name, folders as a/b; "
                               f"a job {who} may not read looks missing too)")

    def _build_not_found(self, job: str, ref: int | str) -> JenkinsNotFound:
        self.job(job)  # raises "job not found" when it is the job that is missing
        if ref == "lastBuild":
            return JenkinsNotFound(f"job '{job}' has no builds yet on {self.url}")
        if isinstance(ref, str):
            return JenkinsNotFound(f"job '{job}' has no {ref} on {self.url}")
        return JenkinsNotFound(f"build #{ref} of job '{job}' not found on {self.url}")

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text


def param_text(value: Any) -> str:
    """A parameter value as Jenkins takes it in a query string (booleans as true/false)."""
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _http_status(message: str) -> int | None:
    match = re.search(r"\[(\d{3})\]: ", message)  # python-jenkins: "... authentication failed [401]: Unauthorized"
    return int(match.group(1)) if match else None


def _connection_reason(exc: Exception) -> str:
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if match:
        return match.group(1).strip()
    if "SSL" in text or "certificate" in text:
        return "TLS error: check the URL's scheme and the server certificate"
    return "connection failed"
