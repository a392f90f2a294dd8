#!/usr/bin/env bash
# PseudoSeg on COCO 2017 (81 classes) with 1/512 ... 1/32 of train labeled.
#
# Usage: bash scripts/coco_pseudoseg.sh FRACTION_DENOMINATOR [STRATEGY]
#   FRACTION_DENOMINATOR: 512 | 256 | 128 | 64 | 32
#   DATA=data/coco/tfrecord (from datasets/build_coco_data.py)
# Expected val mIoU (paper): 1/512: 29.78  1/256: 37.11  1/128: 39.11  1/64: 41.75  1/32: 43.6
set -euo pipefail
# EXTRA_FLAGS (appended last, so they win) and EVAL_SIZE override the recipe, e.g. for a smoke run.
cd "$(dirname "$0")/.."
D="${1:?FRACTION_DENOMINATOR}"; STRATEGY="${2:-mirrored}"
PY="${PY:-.venv/bin/python}"; DATA="${DATA:-data/coco/tfrecord}"
SPLITS="${SPLITS:-data/coco/splits}"; OUT="${OUT:-runs/coco}"
declare -A EXPECTED=([512]=29.78 [256]=37.11 [128]=39.11 [64]=41.75 [32]=43.6)
echo "PseudoSeg COCO 1/${D} labeled; paper mIoU ${EXPECTED[$D]:-n/a}"
FRACTION=$("$PY" -c "print(1.0 / ${D})")
LIST="${SPLITS}/labeled_1of${D}.txt"
if [ ! -f "${LIST}" ]; then
  "$PY" datasets/create_splits.py --record_dir="${DATA}" --split=train \
      --fraction="${FRACTION}" --seed=0 --output_dir="${SPLITS}/1of${D}"
  cp "${SPLITS}/1of${D}"/labeled_*.txt "${LIST}"
fi
"$PY" train_wss.py --record_dir="${DATA}" --train_split=train --labeled_ids="${LIST}" \
    --unlabeled_split=train --model_dir="${OUT}/pseudoseg_1of${D}" --strategy="${STRATEGY}" \
    --backbone=resnet101 --output_stride=16 --crop_size=513,513 --batch_size=64 \
    --unlabeled_batch_size=64 --train_steps=200000 --base_learning_rate=0.007 \
    --weight_decay=4e-5 --init_checkpoint="${INIT_CHECKPOINT:-}" ${EXTRA_FLAGS:-}
"$PY" train_sup_eval.py --model_dir="${OUT}/pseudoseg_1of${D}" --eval_size="${EVAL_SIZE:-640,640}"
