#!/usr/bin/env bash
# PseudoSeg on COCO 2017 (81 classes with background) with 1/512 ... 1/32 of train
# labeled (the official lists), all of train unlabeled, the paper's recipe (200k steps).
# One line per cell, each a named recipe (core/experiments.py).
#
# Usage: INIT_CHECKPOINT=CKPT bash scripts/coco_pseudoseg.sh
#   CELLS (the denominators: "512 32"), RECORD_DIR, ROOT (runs/coco), STRATEGY,
#   EVAL_SIZE (640,640), EXTRA_FLAGS, DRY_RUN=1, ALLOW_RANDOM_INIT=1: scripts/paper_cells.sh.
# The expected figures are the paper's.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
source scripts/paper_cells.sh
paper_table "512 256 128 64 32" runs/coco 640,640

cell 512 train_wss.py coco_r101_pseudoseg_512 29.78
cell 256 train_wss.py coco_r101_pseudoseg_256 37.11
cell 128 train_wss.py coco_r101_pseudoseg_128 39.11
cell 64  train_wss.py coco_r101_pseudoseg_64  41.75
cell 32  train_wss.py coco_r101_pseudoseg_32  43.6
