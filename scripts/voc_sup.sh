#!/usr/bin/env bash
# Supervised-only baseline on PASCAL VOC 2012, same recipe as PseudoSeg (LR 0.007).
#
# Usage: bash scripts/voc_sup.sh NUM_LABELED [STRATEGY]
# Expected val mIoU (ResNet-101 supervised baselines as re-run by later papers):
#   92: 45.1  183: 55.3  366: 64.8  732: 69.7  1464: 73.5
set -euo pipefail
# EXTRA_FLAGS (appended last, so they win) and EVAL_SIZE override the recipe, e.g. for a smoke run.
cd "$(dirname "$0")/.."
N="${1:?NUM_LABELED}"; STRATEGY="${2:-mirrored}"
PY="${PY:-.venv/bin/python}"; DATA="${DATA:-data/voc/tfrecord}"
SPLITS="${SPLITS:-data/voc/splits}"; OUT="${OUT:-runs/voc}"
declare -A EXPECTED=([92]=45.1 [183]=55.3 [366]=64.8 [732]=69.7 [1464]=73.5)
echo "Supervised VOC ${N} labels; expected mIoU ${EXPECTED[$N]:-n/a}"
[ -f "${SPLITS}/labeled_${N}_seed0.txt" ] || "$PY" datasets/create_splits.py \
    --record_dir="${DATA}" --split=train --num_labeled="${N}" --seed=0 --output_dir="${SPLITS}"
"$PY" train_sup.py --record_dir="${DATA}" --train_split=train \
    --labeled_ids="${SPLITS}/labeled_${N}_seed0.txt" --model_dir="${OUT}/sup_${N}" \
    --strategy="${STRATEGY}" --backbone=resnet101 --output_stride=16 --crop_size=513,513 \
    --batch_size=64 --train_steps=30000 --base_learning_rate=0.007 --weight_decay=4e-5 \
    --init_checkpoint="${INIT_CHECKPOINT:-}" ${EXTRA_FLAGS:-}
"$PY" train_sup_eval.py --model_dir="${OUT}/sup_${N}" --eval_size="${EVAL_SIZE:-513,513}"
