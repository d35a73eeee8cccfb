"""Jinja templates on a search path: a user's template folder first, then the built-ins.

Every template of mlops (the project scaffold, the image's Dockerfile, the Helm values) is
rendered by `render`, in the one Jinja environment `environment` builds:

- StrictUndefined: a typo in a template fails loudly instead of rendering an empty string;
- trailing newlines kept, no HTML autoescaping (none of the outputs is HTML);
- `tojson` writes plain JSON (Jinja's own HTML-escapes `<`, `>`, `&`, `'`), which is also YAML:
  the Helm values templates put every value through it.

Platform engineers override a single template by putting a file of the same name in their
folder (`--templates DIR` or the MLOPS_TEMPLATES environment variable).
"""

from __future__ import annotations

import json
import os
from importlib.resources import files
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError, TemplateNotFound

from mlops_helpers.errors import MlopsError

TEMPLATES_ENV_VAR = "MLOPS_TEMPLATES"


def builtin_templates_dir() -> Path:
    return Path(str(files("mlops_helpers.templates")))


def template_search_path(user_dir: str | Path | None = None) -> list[Path]:
    path = [Path(p) for p in (user_dir, os.environ.get(TEMPLATES_ENV_VAR)) if p]
    for folder in path:
        if not folder.is_dir():
            raise MlopsError(f"templates folder {folder} does not exist")
    return [*path, builtin_templates_dir()]


def safe_json(value: Any) -> str:
    """A JSON document, which is also YAML: ASCII only (no raw line or paragraph separators), keys sorted."""
    return json.dumps(value, ensure_ascii=True, sort_keys=True)


def environment(search_path: list[Path]) -> Environment:
    """The Jinja environment of every mlops template, loading from `search_path` (first match wins)."""
    built = Environment(
        loader=FileSystemLoader([str(p) for p in search_path]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    built.filters["tojson"] = safe_json
    return built


def render(name: str, context: dict[str, Any], user_dir: str | Path | None = None) -> str:
    """Template `name` (e.g. "package/Dockerfile.j2") rendered with `context`; MlopsError when it is
    missing (with the folders searched) or fails (an undefined variable, a syntax error)."""
    search_path = template_search_path(user_dir)
    try:
        return environment(search_path).get_template(name).render(**context)
    except TemplateNotFound as exc:
        raise MlopsError(f"template {exc.name!r} not found in {', '.join(map(str, search_path))}") from None
    except TemplateError as exc:
        raise MlopsError(f"template {name}: {exc}") from None
