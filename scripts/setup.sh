#!/usr/bin/env bash
# One-time (and idempotent) set-up: a virtualenv in .venv with the exact dependency set
# pinned in constraints.txt, and mlops_helpers installed from this checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "setup: installing mlops_helpers and pinned dependencies (constraints.txt)"
  .venv/bin/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
  rm -f .venv/.installed-* && touch "$stamp"
fi
command -v git >/dev/null || { echo "setup: git is required (apt-get install git)" >&2; exit 2; }
