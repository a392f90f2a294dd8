#!/usr/bin/env bash
# A one-minute chain through every tool on a tiny embedded data set:
# generate -> convert -> split -> train_sup -> train_wss -> eval -> export.
# Usage: bash scripts/local_test.sh      (after bash scripts/setup.sh)
# Expect: each step logs, two "mIoU ..." lines (near 0.1: a few steps only) and
# "SavedModel written to ...".
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
WORK="${WORK:-/tmp/pseudoseg_local_test}"
rm -rf "${WORK}"
"$PY" datasets/make_synthetic_voc.py --output_root="${WORK}/data" --num_train=24 \
    --num_val=6 --image_size=64
"$PY" datasets/build_voc2012_data.py --voc_root="${WORK}/data/VOCdevkit/VOC2012" \
    --output_dir="${WORK}/records" --num_shards=2
"$PY" datasets/create_splits.py --record_dir="${WORK}/records" --split=train \
    --num_labeled=8 --seed=0 --output_dir="${WORK}/splits"
TINY=(--record_dir="${WORK}/records" --width_multiplier=0.35 --aspp_filters=32
      --decoder_filters=32 --low_level_filters=16 --sgc_dim=16 --crop_size=65,65
      --batch_size=4 --train_steps=4 --steps_per_loop=2 --checkpoint_every=2
      --summary_every=2 --image_summary_every=2
      --labeled_ids="${WORK}/splits/labeled_8_seed0.txt")
"$PY" train_sup.py "${TINY[@]}" --model_dir="${WORK}/sup"
"$PY" train_wss.py "${TINY[@]}" --unlabeled_batch_size=4 --model_dir="${WORK}/wss"
"$PY" train_sup_eval.py --model_dir="${WORK}/sup"
"$PY" train_sup_eval.py --model_dir="${WORK}/wss"
"$PY" export_model.py --model_dir="${WORK}/wss" --export_dir="${WORK}/export"
