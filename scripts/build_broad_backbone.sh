#!/usr/bin/env bash
# Builds a pretrained backbone the way an ImageNet backbone is made for VOC: image-level
# classification only (no mask), on a superset of the benchmark's classes. Three steps:
#   1. the broad texture set (datasets/synthetic.py --texture_set=broad, seed 2718,
#      never the benchmark's seed 1234): 30 textures, the benchmark's six and the
#      source set's six among them, in scenes that vary more in scale, colour and
#      background; NUM_TRAIN train and NUM_VAL held-out images;
#   2. pretrain_classifier.py: the main job's backbone (scripts/embedded_flags.sh) and a
#      multi-label sigmoid classifier on its pooled top features, whole 128 px images,
#      STEPS steps of BATCH images; every kept checkpoint is scored on the held-out
#      images (mean F1, mAP: WORK/eval.json and TensorBoard);
#   3. export_backbone.py: the backbone's weights alone, with backbone.json (what it
#      fits, the run, the data set, its classes, the steps and the classification
#      scores over the checkpoints).
#
# Usage: bash scripts/build_broad_backbone.sh [OUTPUT_DIR]   (default pretrained/broad_new)
#   INIT_CHECKPOINT=OUTPUT_DIR bash scripts/main_job.sh      # the main job from it
# Sized by NUM_TRAIN (6000), NUM_VAL (500), STEPS (5000), BATCH (16), DATA, WORK,
# EXTRA_FLAGS (to pretrain_classifier.py, last). Expected: about 50 min on 2 free CPU
# cores (4 min to generate and convert, about 0.5 s a step, 2 min of scoring; twice
# that when other work shares the cores); see docs/experiments.md for the held-out
# scores it reached. OUTPUT_DIR must not hold a checkpoint already.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
OUTPUT="${1:-pretrained/broad_new}"
DATA="${DATA:-data/broad}"
WORK="${WORK:-runs/build_broad_backbone}"
NUM_TRAIN="${NUM_TRAIN:-6000}"
NUM_VAL="${NUM_VAL:-500}"
STEPS="${STEPS:-5000}"
BATCH="${BATCH:-16}"
if [ -e "${OUTPUT}/checkpoint" ]; then  # Checked first: an hour of work would be lost.
  echo "${OUTPUT} already holds a backbone; give another OUTPUT_DIR." >&2
  exit 1
fi

source scripts/embedded_flags.sh
make_embedded_data "${DATA}" broad --seed=2718 --texture_set=broad \
    --num_train="${NUM_TRAIN}" --num_val="${NUM_VAL}"
echo "== image-level classification on ${DATA} -> ${WORK}"
# The main job's model. From scratch the pooled features differ little between
# images: no dropout on them (its noise drowns that difference) and Adam without
# weight decay (Adam moves every weight at the same pace, so the decay alone shrinks
# the weights whose gradient is still small); docs/experiments.md. Whole images
# (crop 128, shrunk to 3/4 at most), so that an image's labels are its crop's; every
# checkpoint kept, to score.
"$PY" pretrain_classifier.py "${EMBEDDED_FLAGS[@]}" --seed=0 \
    --record_dir="${DATA}/tfrecord" --model_dir="${WORK}" --train_steps="${STEPS}" \
    --batch_size="${BATCH}" --optimizer=adam --base_learning_rate=0.002 \
    --cls_dropout=0 --weight_decay=0 \
    --crop_size=128,128 --min_scale=0.75 --max_scale=1.0 --scale_step=0 \
    --steps_per_loop=50 --summary_every=50 --image_summary_every=1000 \
    --checkpoint_every=500 --keep_checkpoints=1000 --eval_split=val ${EXTRA_FLAGS:-}
"$PY" export_backbone.py --model_dir="${WORK}" --output_dir="${OUTPUT}"
