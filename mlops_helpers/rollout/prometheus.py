"""The Prometheus analysis provider: instant queries against a Prometheus HTTP API.

`PrometheusProvider(url).query(promql)` runs `POST /api/v1/query` and returns the single value of the
result, or None for "no data": an empty vector (nothing matched, or a rate over too few samples) or
a NaN/Inf value (0/0 from a ratio of rates without traffic). More than one series is an error:
wrap the query in sum() (or another aggregation) to get one. Anything else that goes wrong (no
connection, an HTTP error, `"status": "error"` from Prometheus, a range vector or string result)
raises ProviderError with the URL, the query and the reason.

`render_query(template, version=..., interval=...)` fills the {{version}}, {{stable}}, {{canary}},
{{interval}} and {{env}} placeholders of a query from the rollout spec.

Only the standard library (urllib) is used, and imports stay cheap: the engine imports this module
when the first Prometheus measurement is due.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from mlops_helpers.errors import MlopsError

PLACEHOLDERS = ("version", "stable", "canary", "interval", "env")
# Characters that could end a PromQL string (any of its three quote styles) or escape inside one.
_UNSAFE = {'"': "a double quote", "'": "a single quote", "`": "a backquote", "\\": "a backslash",
           "\n": "a newline", "\r": "a carriage return"}
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_DURATION = re.compile(r"(?:[0-9]+(?:ms|s|m|h|d|w|y))+")
_SHOWN_QUERY = 500  # characters of a query quoted in an error message
_SHOWN_BODY = 300


class ProviderError(MlopsError):
    """The metrics provider could not answer: unreachable, HTTP error, bad query, unusable result."""


def render_query(template: str, **variables: object) -> str:
    """Replace {{name}} (spaces inside the braces allowed) with the keyword argument `name`.

    The known names are version, stable, canary, interval and env; other keywords are substituted
    too. A None value counts as not given. A value with a quote, backslash or line break is refused
    (it could break out of a label matcher such as version="{{version}}"), `interval` must be a
    PromQL duration such as 30s or 1m30s, and a placeholder left without a value is refused, so that
    a typo never turns into a query that silently matches nothing.
    """
    values: dict[str, str] = {}
    for name, value in variables.items():
        if value is None:
            continue
        text = str(value)
        for char, what in _UNSAFE.items():
            if char in text:
                raise ProviderError(f"query variable {name!r} = {text!r} contains {what}, which could break out of a "
                                    "PromQL string; refusing to build the query")
        if name == "interval" and not _DURATION.fullmatch(text):
            raise ProviderError(f"query variable 'interval' = {text!r} is not a PromQL duration (such as 30s or 1m30s)")
        values[name] = text

    missing: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in values:
            return values[name]
        missing.append(name)
        return match.group(0)

    rendered = _PLACEHOLDER.sub(substitute, template)
    if missing:
        names = ", ".join(dict.fromkeys("{{" + name + "}}" for name in missing))
        given = ", ".join(sorted(values)) or "none"
        raise ProviderError(f"query {_shorten(template)!r} uses {names} but no value was given "
                            f"(given: {given}; known placeholders: {', '.join(PLACEHOLDERS)})")
    return rendered


class PrometheusProvider:
    """Instant queries against the Prometheus (or compatible) HTTP API at `url`."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ProviderError(f"Prometheus URL {url!r} is not an http(s):// URL")
        self.url = url.rstrip("/")
        self.timeout = timeout
        handlers = [urllib.request.ProxyHandler({})] if _loopback(parsed.hostname) else []
        self._opener = urllib.request.build_opener(*handlers)

    def __repr__(self) -> str:
        return f"PrometheusProvider({self.url!r})"

    def query(self, promql: str) -> float | None:
        """The value of an instant query; None when there is no data (empty vector, NaN or ±Inf)."""
        result_type, result = self._instant(promql)
        fail = self._failure(promql)
        try:
            if result_type == "scalar":
                return _number(result[1])
            if result_type == "vector":
                if not result:
                    return None
                if len(result) > 1:
                    shown = ", ".join(_series(item.get("metric", {})) for item in result[:5])
                    more = f" and {len(result) - 5} more" if len(result) > 5 else ""
                    raise fail(f"{len(result)} series came back ({shown}{more}), one value is needed: "
                               "aggregate the query, e.g. sum(...)")
                return _number(result[0]["value"][1])
        except (TypeError, KeyError, IndexError, ValueError) as exc:
            raise fail(f"malformed {result_type} result {_snippet(json.dumps(result))}: {exc!r}") from None
        raise fail(f"the result is a {result_type}, not a scalar or vector")

    def series(self, promql: str) -> list[tuple[dict[str, str], float | None]]:
        """Every series of an instant vector query as (labels, value); value None for NaN or ±Inf."""
        result_type, result = self._instant(promql)
        fail = self._failure(promql)
        if result_type != "vector":
            raise fail(f"the result is a {result_type}, not an instant vector")
        try:
            return [(dict(item.get("metric", {})), _number(item["value"][1])) for item in result]
        except (TypeError, KeyError, IndexError, ValueError) as exc:
            raise fail(f"malformed vector result {_snippet(json.dumps(result))}: {exc!r}") from None

    def _failure(self, promql: str):
        return lambda reason: ProviderError(f"Prometheus at {self.url}: query {_shorten(promql)!r} failed: {reason}")

    def _instant(self, promql: str) -> tuple[str, Any]:
        """(resultType, result) of `POST /api/v1/query`; a matrix result is refused."""
        endpoint = f"{self.url}/api/v1/query"
        form = urllib.parse.urlencode({"query": promql, "timeout": f"{self.timeout:g}s"}).encode()
        request = urllib.request.Request(endpoint, data=form, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json",
            "User-Agent": "mlops-helpers-rollout"})

        fail = self._failure(promql)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            body = _read_quietly(exc)
            payload = _json(body)
            if isinstance(payload, dict) and payload.get("status") == "error":
                raise fail(f"HTTP {exc.code}: {_api_error(payload)}") from None
            raise fail(f"HTTP {exc.code} {exc.reason} from {endpoint}: {_snippet(body)}") from None
        except urllib.error.URLError as exc:
            raise fail(f"cannot connect to {endpoint}: {exc.reason}") from None
        except (OSError, ValueError) as exc:  # timeouts while reading, connection resets, bad URLs
            raise fail(f"cannot read from {endpoint}: {exc or type(exc).__name__}") from None

        payload = _json(body)
        if not isinstance(payload, dict) or "status" not in payload:
            raise fail(f"the answer from {endpoint} is not a Prometheus API response: {_snippet(body)}")
        if payload["status"] != "success":
            raise fail(_api_error(payload))
        data = payload.get("data")
        if not isinstance(data, dict):
            raise fail(f"the answer has no data: {_snippet(body)}")
        result_type, result = data.get("resultType"), data.get("result")
        if result_type == "matrix":
            raise fail("the result is a range vector (matrix); use an instant query, e.g. wrap "
                       "the range selector in rate(...) or sum_over_time(...)")
        return str(result_type), result


def _loopback(host: str) -> bool:
    """Loopback hosts never go through an HTTP proxy from the environment."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _number(text: Any) -> float | None:
    value = float(text)  # Prometheus sends sample values as strings: "1.5", "NaN", "+Inf"
    return None if math.isnan(value) or math.isinf(value) else value


def _series(labels: dict) -> str:
    name = labels.get("__name__", "")
    inner = ",".join(f'{key}="{value}"' for key, value in labels.items() if key != "__name__")
    return f"{name}{{{inner}}}"


def _api_error(payload: dict) -> str:
    return f"{payload.get('errorType') or 'error'}: {payload.get('error') or '(no message)'}"


def _json(body: bytes) -> object:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _read_quietly(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read() or b""
    except (OSError, AttributeError, ValueError):
        return b""
    finally:
        exc.close()


def _snippet(body: bytes | str) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    return (text[:_SHOWN_BODY] + "…") if len(text) > _SHOWN_BODY else (text or "(empty body)")


def _shorten(query: str) -> str:
    return query if len(query) <= _SHOWN_QUERY else query[:_SHOWN_QUERY] + "…"
