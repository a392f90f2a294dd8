#!/usr/bin/env bash
# PseudoSeg on PASCAL VOC 2012 with the paper's recipe (SPEC.md "Training recipe").
#
# Usage: bash scripts/voc_pseudoseg.sh NUM_LABELED [unlabeled|image_labels] [STRATEGY]
#   NUM_LABELED: 92 | 183 | 366 | 732 | 1464 (labeled images; split from VOC train)
#   DATA=data/voc/tfrecord (from datasets/build_voc2012_data.py with --sbd_root)
#
# Expected val mIoU (paper, Xception-65, unlabeled extra data):
#   92: 57.60  183: 65.50  366: 69.14  732: 72.41  1464: 73.23
# Ours uses DilatedResNet-101 (tf-models-official has no Xception-65) and has not been run at
# this scale yet: expect the same ballpark, from ImageNet-pretrained --init_checkpoint only.
set -euo pipefail
# EXTRA_FLAGS (appended last, so they win) and EVAL_SIZE override the recipe, e.g. for a smoke run.
cd "$(dirname "$0")/.."
N="${1:?NUM_LABELED}"; MODE="${2:-unlabeled}"; STRATEGY="${3:-mirrored}"
PY="${PY:-.venv/bin/python}"; DATA="${DATA:-data/voc/tfrecord}"
SPLITS="${SPLITS:-data/voc/splits}"; OUT="${OUT:-runs/voc}"
declare -A EXPECTED=([92]=57.60 [183]=65.50 [366]=69.14 [732]=72.41 [1464]=73.23)
echo "PseudoSeg VOC ${N} labels (${MODE}); paper mIoU ${EXPECTED[$N]:-n/a}"
[ -f "${SPLITS}/labeled_${N}_seed0.txt" ] || "$PY" datasets/create_splits.py \
    --record_dir="${DATA}" --split=train --num_labeled="${N}" --seed=0 --output_dir="${SPLITS}"
EXTRA=()
[ "${MODE}" = image_labels ] && EXTRA+=(--use_image_labels)
"$PY" train_wss.py --record_dir="${DATA}" --train_split=train \
    --labeled_ids="${SPLITS}/labeled_${N}_seed0.txt" --unlabeled_split=train_aug \
    --model_dir="${OUT}/pseudoseg_${N}_${MODE}" --strategy="${STRATEGY}" \
    --backbone=resnet101 --output_stride=16 --crop_size=513,513 \
    --batch_size=64 --unlabeled_batch_size=64 --train_steps=30000 \
    --base_learning_rate=0.007 --lr_power=0.9 --momentum=0.9 --weight_decay=4e-5 \
    --temperature=0.5 --pseudo_src=avg --logit_norm=global \
    --init_checkpoint="${INIT_CHECKPOINT:-}" "${EXTRA[@]}" ${EXTRA_FLAGS:-}
"$PY" train_sup_eval.py --model_dir="${OUT}/pseudoseg_${N}_${MODE}" --eval_size="${EVAL_SIZE:-513,513}"
