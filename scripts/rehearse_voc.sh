#!/usr/bin/env bash
# Rehearses the paper's VOC recipes at their real shapes on this machine, where VOC
# itself cannot be downloaded: a VOC-shaped generated set (VOC 2012 train's 1464 ids,
# 500 x 375 images, 21 classes, NUM_SBD more for train_aug, NUM_VAL val images),
# converted by build_voc2012_data.py as VOC is; then voc_r101_sup_92 and
# voc_r101_pseudoseg_92 (DilatedResNet-101, OS 16, crop 513, the presets' flags)
# for STEPS steps under MirroredStrategy over REPLICAS logical CPU devices with
# BATCH_PER_REPLICA labeled (+ as many unlabeled) images each; the PseudoSeg run
# evaluated at each val image's own size and exported (benchmarks/rehearse_voc.py).
#
# Usage: bash scripts/rehearse_voc.sh
# Settings: DATA (data/voc_shaped), WORK (runs/rehearse_voc), NUM_SBD (200), NUM_VAL
# (8), WIDTH (500), HEIGHT (375), STEPS (3), REPLICAS (2), BATCH_PER_REPLICA (1),
# EXTRA_FLAGS (to benchmarks/rehearse_voc.py, last), DRY_RUN=1 prints the commands.
# Prints a table of step time, peak memory, FLOPs and GPU-hour estimates per paper
# cell, and writes WORK/rehearsal.json; on 2 CPU cores it takes 5-15 minutes and about
# 10 GB of memory (docs/experiments.md has the figures).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
DATA="${DATA:-data/voc_shaped}"
WORK="${WORK:-runs/rehearse_voc}"
source scripts/run_or_print.sh

if [ ! -e "${DATA}/tfrecord/dataset_info.json" ]; then
  run_or_print "$PY" datasets/make_voc_shaped.py --output_root="${DATA}" \
      --num_sbd="${NUM_SBD:-200}" --num_val="${NUM_VAL:-8}" \
      --width="${WIDTH:-500}" --height="${HEIGHT:-375}"
  run_or_print "$PY" datasets/build_voc2012_data.py \
      --voc_root="${DATA}/VOCdevkit/VOC2012" \
      --sbd_root="${DATA}/benchmark_RELEASE/dataset" \
      --output_dir="${DATA}/tfrecord"
fi
run_or_print "$PY" -m benchmarks.rehearse_voc --record_dir="${DATA}/tfrecord" \
    --work_dir="${WORK}" --steps="${STEPS:-3}" --replicas="${REPLICAS:-2}" \
    --batch_per_replica="${BATCH_PER_REPLICA:-1}" ${EXTRA_FLAGS:-}
