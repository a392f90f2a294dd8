#!/usr/bin/env bash
# The main job over 3 seeds (labeled subset and training seed change together), then
# mean ± standard deviation, best and last checkpoint of every run.
#
# Usage: bash scripts/run_seeds.sh [SEEDS...]     (default: 0 1 2; ~3 x the main job's time)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
SEEDS=("$@"); [ ${#SEEDS[@]} -gt 0 ] || SEEDS=(0 1 2)
ROOT="${ROOT:-runs/main}"
DIRS=()
TIMES=()
for s in "${SEEDS[@]}"; do
  start=${SECONDS}
  OUT="${ROOT}/seed${s}" bash scripts/main_job.sh "${s}"
  DIRS+=("${ROOT}/seed${s}")
  TIMES+=("seed ${s}: $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s")
done
echo "== main job wall time per seed: $(IFS=,; echo "${TIMES[*]}" | sed 's/,/, /g')"
"$PY" scripts/summarize_results.py --runs_dirs="$(IFS=,; echo "${DIRS[*]}")" \
    --num_labeled="${NUM_LABELED:-20}" --output_dir="${ROOT}"
