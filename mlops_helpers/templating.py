"""Jinja rendering with a search path: a user's template folder first, then the built-ins.

Platform engineers override a single template by putting a file of the same name in their
folder (`--templates DIR` or the MLOPS_TEMPLATES environment variable).
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

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


def render(name: str, context: dict[str, Any], user_dir: str | Path | None = None) -> str:
    # StrictUndefined: a typo in a template fails loudly instead of rendering an empty string.
    environment = Environment(
        loader=FileSystemLoader([str(p) for p in template_search_path(user_dir)]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    try:
        return environment.get_template(name).render(**context)
    except TemplateNotFound:
        raise MlopsError(f"template {name!r} not found in {', '.join(map(str, template_search_path(user_dir)))}") from None
