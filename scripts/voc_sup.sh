#!/usr/bin/env bash
# The supervised baseline of the paper's VOC 2012 table: the same recipe as PseudoSeg
# (DilatedResNet-101, output stride 16, crop 513, 30k steps of 64, LR 0.007), the labeled
# images alone. One line per cell, each a named recipe (core/experiments.py).
#
# Usage: INIT_CHECKPOINT=CKPT bash scripts/voc_sup.sh
#   CELLS, RECORD_DIR, ROOT (runs/voc), STRATEGY, EVAL_SIZE (513,513), EXTRA_FLAGS,
#   DRY_RUN=1, ALLOW_RANDOM_INIT=1: scripts/paper_cells.sh.
# The expected figures are ResNet-101 supervised baselines as later papers re-ran them.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
source scripts/paper_cells.sh
paper_table "92 183 366 732 1464" runs/voc 513,513

cell 92   train_sup.py voc_r101_sup_92   45.1
cell 183  train_sup.py voc_r101_sup_183  55.3
cell 366  train_sup.py voc_r101_sup_366  64.8
cell 732  train_sup.py voc_r101_sup_732  69.7
cell 1464 train_sup.py voc_r101_sup_1464 73.5
