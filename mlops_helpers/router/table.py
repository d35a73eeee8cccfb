"""The router's route table: validation (errors name the field) and atomic persistence.

```json
{"versions": {"3": {"upstreams": ["http://127.0.0.1:41001"]}, "4": {"upstreams": ["http://127.0.0.1:41003"]}},
 "weights": {"3": 90, "4": 10},
 "match": [{"header": "x-mlops-variant", "value": "b", "version": "4"},
           {"cookie": "mlops-variant", "value": "b", "version": "4"}],
 "sticky_cookie": null,
 "mirror": {"version": "4", "percent": 100}}
```

Every key may be left out (an empty table, no matches, no sticky cookie, no mirror);
a version without a weight gets weight 0. The file also keeps the table's generation.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mlops_helpers.atomic_files import write_json_atomic

KEYS = ("versions", "weights", "match", "sticky_cookie", "mirror")
_COOKIE_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # an RFC 6265 token
_HEADER_NAME = _COOKIE_NAME


class TableError(ValueError):
    """A route table the router refuses; the message starts with the field."""


@dataclass(frozen=True, slots=True)
class Match:
    kind: str  # "header" or "cookie"
    name: str  # header names lower-cased
    value: str
    version: str


@dataclass(frozen=True, slots=True)
class Mirror:
    version: str
    percent: float


@dataclass(frozen=True)
class RouteTable:
    versions: dict[str, tuple[str, ...]] = field(default_factory=dict)  # version -> upstream URLs
    weights: dict[str, float] = field(default_factory=dict)  # every version, 0 when not given
    match: tuple[Match, ...] = ()
    sticky_cookie: str | None = None
    mirror: Mirror | None = None
    raw: dict[str, Any] = field(default_factory=lambda: {  # as accepted, normalised
        "versions": {}, "weights": {}, "match": [], "sticky_cookie": None, "mirror": None})


def parse_table(raw: Any) -> RouteTable:
    if not isinstance(raw, dict):
        raise TableError(f"the route table must be a JSON object, got {type(raw).__name__}")
    for key in raw:
        if key not in KEYS:
            raise TableError(f"{key}: unknown key (allowed: {', '.join(KEYS)})")
    versions = _versions(_given(raw, "versions", {}))
    weights = {version: 0.0 for version in versions} | _weights(_given(raw, "weights", {}), versions)
    match = _matches(_given(raw, "match", []), versions)
    sticky = _sticky(raw.get("sticky_cookie"))
    mirror = _mirror(raw.get("mirror"), versions)
    normalised = {
        "versions": {version: {"upstreams": list(urls)} for version, urls in versions.items()},
        "weights": {version: _plain(weight) for version, weight in weights.items()},
        "match": [{m.kind: m.name, "value": m.value, "version": m.version} for m in match],
        "sticky_cookie": sticky,
        "mirror": None if mirror is None else {"version": mirror.version, "percent": _plain(mirror.percent)},
    }
    return RouteTable(versions, weights, match, sticky, mirror, normalised)


def _given(raw: dict[str, Any], key: str, default: Any) -> Any:
    value = raw.get(key)
    return default if value is None else value


def _versions(raw: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        raise TableError("versions: must be an object of version -> {\"upstreams\": [URL, ...]}")
    versions: dict[str, tuple[str, ...]] = {}
    owner: dict[str, str] = {}
    for version, entry in raw.items():
        if not version:
            raise TableError("versions: a version name cannot be empty")
        if not isinstance(entry, dict):
            raise TableError(f"versions.{version}: must be an object like {{\"upstreams\": [URL, ...]}}")
        for key in entry:
            if key != "upstreams":
                raise TableError(f"versions.{version}.{key}: unknown key (allowed: upstreams)")
        upstreams = entry.get("upstreams", [])
        if not isinstance(upstreams, list):
            raise TableError(f"versions.{version}.upstreams: must be a list of http://host:port URLs")
        urls = []
        for index, url in enumerate(upstreams):
            where = f"versions.{version}.upstreams.{index}"
            url = _upstream_url(url, where)
            if url in owner:
                raise TableError(f"{where}: {url} is already an upstream of version {owner[url]}")
            owner[url] = version
            urls.append(url)
        versions[version] = tuple(urls)
    return versions


def _upstream_url(url: Any, where: str) -> str:
    problem = f"{where}: {url!r} is not an http://host:port URL"
    if not isinstance(url, str):
        raise TableError(problem)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise TableError(problem) from None
    if (parts.scheme != "http" or not parts.hostname or port is None or parts.path not in ("", "/")
            or parts.query or parts.fragment or parts.username or parts.password):
        raise TableError(problem)
    return f"http://{parts.netloc}"


def _weights(raw: Any, versions: dict[str, tuple[str, ...]]) -> dict[str, float]:
    if not isinstance(raw, dict):
        raise TableError("weights: must be an object of version -> weight")
    weights = {}
    for version, weight in raw.items():
        if version not in versions:
            raise TableError(f"weights.{version}: version {version!r} is not in versions")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
            raise TableError(f"weights.{version}: {weight!r} is not a number")
        if weight < 0:
            raise TableError(f"weights.{version}: {weight!r} is negative")
        weights[version] = float(weight)
    return weights


def _matches(raw: Any, versions: dict[str, tuple[str, ...]]) -> tuple[Match, ...]:
    if not isinstance(raw, list):
        raise TableError("match: must be a list of {\"header\" or \"cookie\", \"value\", \"version\"}")
    rules = []
    for index, rule in enumerate(raw):
        where = f"match.{index}"
        if not isinstance(rule, dict):
            raise TableError(f"{where}: must be an object with header or cookie, value and version")
        for key in rule:
            if key not in ("header", "cookie", "value", "version"):
                raise TableError(f"{where}.{key}: unknown key (allowed: header, cookie, value, version)")
        kinds = [kind for kind in ("header", "cookie") if kind in rule]
        if len(kinds) != 1:
            raise TableError(f"{where}: needs exactly one of header or cookie")
        kind = kinds[0]
        name = rule[kind]
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise TableError(f"{where}.{kind}: {name!r} is not a valid {kind} name")
        value = rule.get("value")
        if not isinstance(value, str):
            raise TableError(f"{where}.value: must be a string, got {value!r}")
        version = rule.get("version")
        if version not in versions:
            raise TableError(f"{where}.version: version {version!r} is not in versions")
        rules.append(Match(kind, name.lower() if kind == "header" else name, value, version))
    return tuple(rules)


def _sticky(raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not _COOKIE_NAME.match(raw):
        raise TableError(f"sticky_cookie: {raw!r} is not a valid cookie name")
    return raw


def _mirror(raw: Any, versions: dict[str, tuple[str, ...]]) -> Mirror | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise TableError("mirror: must be null or {\"version\", \"percent\"}")
    for key in raw:
        if key not in ("version", "percent"):
            raise TableError(f"mirror.{key}: unknown key (allowed: version, percent)")
    version = raw.get("version")
    if version not in versions:
        raise TableError(f"mirror.version: version {version!r} is not in versions")
    percent = raw.get("percent", 100)
    if isinstance(percent, bool) or not isinstance(percent, (int, float)) or not 0 <= percent <= 100:
        raise TableError(f"mirror.percent: {percent!r} is outside 0..100")
    return Mirror(version, float(percent))


def _plain(number: float) -> int | float:
    """Weights and percents as the caller wrote them: 90, not 90.0."""
    return int(number) if number == int(number) else number


# --- the routes file -------------------------------------------------------------------------


def load_table(path: Path) -> tuple[RouteTable, int] | None:
    """The table and generation saved in `path`, or None when there is no file."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise TableError(f"{path}: cannot read the routes file: {exc}") from None
    if not isinstance(raw, dict):
        raise TableError(f"{path}: the routes file must hold a JSON object")
    generation = raw.pop("generation", 0)
    try:
        return parse_table(raw), int(generation)
    except TableError as exc:
        raise TableError(f"{path}: {exc}") from None


def save_table(path: Path, table: RouteTable, generation: int) -> None:
    """Write atomically (temporary file in the same folder, fsync, rename): a crash leaves the old or the new table."""
    write_json_atomic(path, {**table.raw, "generation": generation}, indent=2)
