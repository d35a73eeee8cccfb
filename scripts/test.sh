#!/usr/bin/env bash
# The full test suite, on a fresh machine too: set-up, then every test against the real tools.
# Results (JUnit XML) land in test-results/.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bash "$repo/scripts/setup.sh"
cd "$repo"
mkdir -p test-results
.venv/bin/python -m pytest -n 2 --junitxml=test-results/pytest.xml "$@"
