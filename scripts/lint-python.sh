#!/usr/bin/env bash
# Python lint and types, part of the test command: ruff on the package, tests, scripts,
# benchmarks and examples; mypy on the packages listed in pyproject.toml ([tool.mypy] files).
# Both are pinned in pyproject.toml; a finding fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "lint-python: $(.venv/bin/ruff --version), $(.venv/bin/mypy --version)"
.venv/bin/ruff check mlops_helpers tests scripts benchmarks examples
.venv/bin/mypy
