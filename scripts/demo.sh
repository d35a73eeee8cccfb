#!/usr/bin/env bash
# The main job on the local embedded default: set up, scaffold a project from a data set that
# scikit-learn ships, run the whole pipeline (the first version goes live on 127.0.0.1:8000),
# then train a second version and let `mlops run` roll it out as a canary under live traffic,
# and write the monitoring report of the version now serving.
#   DATASET=wine scripts/demo.sh      DEMO_DIR=/tmp/x scripts/demo.sh     DEMO_PORT=8100 scripts/demo.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bash "$repo/scripts/setup.sh"
export PATH="$repo/.venv/bin:$PATH"

dataset=${DATASET:-breast_cancer}
demo_dir=${DEMO_DIR:-$repo/demo}
port=${DEMO_PORT:-8000}
if [ -d "$demo_dir/.mlops" ]; then
    (cd "$demo_dir" && mlops undeploy >/dev/null 2>&1) || true   # a previous demo's router and servers
fi
rm -rf "$demo_dir" "$demo_dir.dvc-storage"
mlops versions
mlops init "$demo_dir" --dataset "$dataset" --dvc-remote "$demo_dir.dvc-storage"
cd "$demo_dir"
deploy_port=(--set "deploy.local.port=$port")

echo "== 1. the whole pipeline: data, train, gates, registry, delivery, first deploy"
mlops run "${deploy_port[@]}"

echo "== 2. a second version, rolled out as a canary (10% -> 50% -> 100%) under live traffic"
# 100 requests/s from 8 connections, for at most 10 minutes. On a busy machine fewer of them reach
# the 10% canary in an analysis interval; a measurement short of min_samples then keeps
# collecting (deploy.analysis.sample_timeout) instead of pausing the rollout.
python "$repo/scripts/demo_traffic.py" "http://127.0.0.1:$port" mlops.yaml --rate 100 --connections 8 --duration 600 &
traffic=$!
trap 'kill $traffic 2>/dev/null || true' EXIT
mlops run "${deploy_port[@]}" --set training.params.n_estimators=300
kill "$traffic"

echo "== 3. monitoring: the live traffic against the training data (drift, accuracy, serving)"
mlops monitor report "${deploy_port[@]}" --out mlops-out/reports/monitoring.html

mlops rollout history "${deploy_port[@]}"
mlops registry list
echo "The model serves at http://127.0.0.1:$port/predict (docs: /docs). Stop it: cd $demo_dir && mlops undeploy"
