"""Baseline virtualenvs, built from requirements-baselines.txt and cached outside the repo.

Each section of requirements-baselines.txt ("# [name]" lines start one; "[common]" goes
into every venv) becomes ${MLOPS_CACHE_DIR:-/var/cache/mlops}/bench-venvs/<name>-<hash>,
where the hash covers the pins and the interpreter, so a changed pin builds a fresh venv
and an unchanged one is reused. Nothing is ever installed into the project's .venv.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements-baselines.txt"
_SECTION = re.compile(r"^#\s*\[([\w-]+)\]")


def sections(path: Path = REQUIREMENTS) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    current = None
    for line in path.read_text().splitlines():
        if match := _SECTION.match(line.strip()):
            current = found.setdefault(match.group(1), [])
        elif line.strip() and not line.lstrip().startswith("#"):
            if current is None:
                raise SystemExit(f"{path}: requirement {line!r} before any '# [section]' line")
            current.append(line.split("#", 1)[0].strip())
    return found


def cache_root() -> Path:
    return Path(os.environ.get("MLOPS_CACHE_DIR") or "/var/cache/mlops") / "bench-venvs"


def base_python() -> str:
    """The interpreter behind the running venv (the project's .venv), so versions match."""
    return getattr(sys, "_base_executable", None) or sys.executable


def ensure(name: str, log=print) -> Path:
    """The venv for section `name` (created and filled on first use); returns its folder."""
    pins = sections()
    requirements = pins.get("common", []) + pins[name]
    python = base_python()
    version = subprocess.run([python, "-c", "import sys; print(sys.version)"], capture_output=True, text=True, check=True).stdout
    digest = hashlib.sha256("\n".join([version, *requirements]).encode()).hexdigest()[:12]
    venv = cache_root() / f"{name}-{digest}"
    marker = venv / ".complete"
    if marker.is_file():
        return venv
    log(f"creating the {name} baseline venv in {venv} (cached for later runs) ...")
    if venv.exists():
        shutil.rmtree(venv)  # a half-built one from an interrupted run
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", *requirements], check=True)
    (venv / "requirements.txt").write_text("\n".join(requirements) + "\n")
    marker.write_text("ok\n")
    return venv


if __name__ == "__main__":
    for section in sys.argv[1:] or [s for s in sections() if s != "common"]:
        print(ensure(section))
