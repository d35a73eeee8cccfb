#!/usr/bin/env bash
# The full test suite, on a fresh machine too: set-up, then every test against the real tools.
#   0. Python lint (ruff) and types (mypy): scripts/lint-python.sh
#   1. lint of the Jenkins library (npm-groovy-lint + CodeNarc's Jenkins/CPS rules), and proof the rules fire
#   2. the Groovy suite: the library's steps and user Jenkinsfiles under Groovy 2.4.21 (tests/groovy)
#   3. the pytest suite: the CLI against real git and DVC
# Results (JUnit XML) land in test-results/. Extra arguments go to pytest.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
bash scripts/setup.sh
bash scripts/install-system-deps.sh
.venv/bin/mlops versions
# Earlier runs' images and pushes (not this run's: only what is older than MLOPS_PRUNE_AGE, 1h).
bash scripts/services/docker.sh prune
bash scripts/services/registry.sh prune

bash scripts/lint-python.sh
bash scripts/lint-groovy.sh --self-test
bash scripts/lint-groovy.sh
bash scripts/test-groovy.sh

mkdir -p test-results
.venv/bin/python -m pytest -n 2 --junitxml=test-results/pytest.xml "$@"
