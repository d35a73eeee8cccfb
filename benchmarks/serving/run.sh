#!/usr/bin/env bash
# Model-serving benchmark: `mlops serve` side by side with MLflow's scoring server,
# Flask+gunicorn and a raw ASGI floor, measured with wrk on loopback. See bench.py --help.
#
#   benchmarks/serving/run.sh                        # 2 rounds × 3 scenarios × 6 servers, ~10 min
#   benchmarks/serving/run.sh --variant '--max-wait-ms 0'   # also measure a tuned `mlops serve`
#
# Baselines live in their own venvs under ${MLOPS_CACHE_DIR:-/var/cache/mlops}/bench-venvs,
# built on first use from requirements-baselines.txt; the project's .venv is only read.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="$repo/.venv/bin/python"
[[ -x "$python" ]] || { echo "no $python: create the project's venv first" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is not installed (Debian: apt-get install wrk)" >&2; exit 1; }
cd "$repo"
exec "$python" "$here/bench.py" "$@"
