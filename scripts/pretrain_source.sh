#!/usr/bin/env bash
# Pretrains a backbone on the source texture set, the embedded stand-in for ImageNet:
# the same kind of scenes as the benchmark, with six other texture families and none
# of its images (datasets/synthetic.py). Segmentation on all source labels, with the
# main job's model; its checkpoint then initialises the benchmark's runs:
#
#   bash scripts/pretrain_source.sh                       # -> runs/source_pretrain
#   EXTRA_FLAGS=--init_checkpoint=runs/source_pretrain bash scripts/main_job.sh
#
# Only the backbone is restored (core/model.py restore_backbone). About 3 min on 2 CPU
# cores for the default 1500 steps; the long pretraining of docs/experiments.md "A long
# pretraining, tried" (source val mIoU 0.90, about 47 min) is
#
#   DATA=data/source10k NUM_TRAIN=10000 STEPS=15000 bash scripts/pretrain_source.sh \
#       runs/source_pretrain_15k
#
# See docs/experiments.md ("Pretraining on other textures, tried" and after) for what
# each changes (measured).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
DATA="${DATA:-data/source}"
OUT="${1:-runs/source_pretrain}"
STEPS="${STEPS:-1500}"
NUM_TRAIN="${NUM_TRAIN:-1000}"
NUM_VAL="${NUM_VAL:-200}"

source scripts/embedded_flags.sh
make_embedded_data "${DATA}" source --seed=4321 --texture_set=source \
    --num_train="${NUM_TRAIN}" --num_val="${NUM_VAL}"
echo "== pretraining on ${DATA} -> ${OUT}"
"$PY" train_sup.py "${EMBEDDED_FLAGS[@]}" --seed=0 --record_dir="${DATA}/tfrecord" \
    --model_dir="${OUT}" --train_steps="${STEPS}" ${EXTRA_FLAGS:-}
"$PY" train_sup_eval.py --model_dir="${OUT}" --eval_size=128,128 \
    --output_json="${OUT}/eval.json"
echo "Backbone for --init_checkpoint: ${OUT}"
