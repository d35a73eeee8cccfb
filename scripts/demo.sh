#!/usr/bin/env bash
# The main job on the local embedded default: set up, scaffold a project from a data set
# that scikit-learn ships, and run the whole pipeline to a registered staging model.
#   DATASET=wine scripts/demo.sh      DEMO_DIR=/tmp/x scripts/demo.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bash "$repo/scripts/setup.sh"
export PATH="$repo/.venv/bin:$PATH"

dataset=${DATASET:-breast_cancer}
demo_dir=${DEMO_DIR:-$repo/demo}
rm -rf "$demo_dir"
mlops versions
mlops init "$demo_dir" --dataset "$dataset" --dvc-remote "$demo_dir.dvc-storage"
cd "$demo_dir"
mlops run
mlops registry list
