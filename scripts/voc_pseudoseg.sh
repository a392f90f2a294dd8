#!/usr/bin/env bash
# PseudoSeg on PASCAL VOC 2012 with the paper's recipe (DilatedResNet-101 where the paper
# has Xception-65, which tf-models-official does not have; output stride 16, crop 513,
# 30k steps of 64 labeled + 64 unlabeled, LR 0.007, temperature 0.5, the fused
# pseudo label): the official labeled lists, the rest of train_aug unlabeled or with its
# image-level labels. One line per cell, each a named recipe (core/experiments.py).
#
# Usage: INIT_CHECKPOINT=CKPT bash scripts/voc_pseudoseg.sh [unlabeled|image_labels]
#   CELLS, RECORD_DIR, ROOT (runs/voc), STRATEGY, EVAL_SIZE (513,513), EXTRA_FLAGS,
#   DRY_RUN=1, ALLOW_RANDOM_INIT=1: scripts/paper_cells.sh.
# The expected figures are the paper's (Xception-65, unlabeled extra data).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
MODE="${1:-unlabeled}"
case "${MODE}" in
  unlabeled | image_labels) ;;
  *) echo "MODE: '${MODE}' is neither unlabeled nor image_labels." >&2; exit 2 ;;
esac
source scripts/paper_cells.sh
paper_table "92 183 366 732 1464" runs/voc 513,513
if [ "${MODE}" = unlabeled ]; then
  cell 92   train_wss.py voc_r101_pseudoseg_92   57.60
  cell 183  train_wss.py voc_r101_pseudoseg_183  65.50
  cell 366  train_wss.py voc_r101_pseudoseg_366  69.14
  cell 732  train_wss.py voc_r101_pseudoseg_732  72.41
  cell 1464 train_wss.py voc_r101_pseudoseg_1464 73.23
else  # The paper reports this mode on other splits only.
  cell 92   train_wss.py voc_r101_pseudoseg_image_labels_92   n/a
  cell 183  train_wss.py voc_r101_pseudoseg_image_labels_183  n/a
  cell 366  train_wss.py voc_r101_pseudoseg_image_labels_366  n/a
  cell 732  train_wss.py voc_r101_pseudoseg_image_labels_732  n/a
  cell 1464 train_wss.py voc_r101_pseudoseg_image_labels_1464 n/a
fi
