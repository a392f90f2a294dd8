#!/usr/bin/env bash
# Builds the pretrained backbone that the main job starts from (pretrained/source_cls):
# the embedded stand-in for the paper's ImageNet backbone, made from the project's own
# source texture set (datasets/synthetic.py: six texture families, none of the
# benchmark's textures or images). Two stages, then the backbone alone is exported:
#   1. segmentation on all source masks (scripts/pretrain_source.sh, 10 000 images,
#      STEPS1 = 15 000 steps; about 47 min on 2 CPU cores);
#   2. STEPS2 = 3000 more steps with the classification head and SGC trained beside
#      segmentation on every source image's labels (train_wss.py --use_image_labels
#      --unsup_weight=0; about 13 min), so that the deep features learn image-level
#      class identity too, as an ImageNet backbone's have;
#   3. export_backbone.py: the backbone's weights only, with backbone.json (what it
#      fits, where it came from, its source val mIoU).
#
# Usage: bash scripts/build_pretrained_backbone.sh [OUTPUT_DIR]   (default pretrained/new)
# Expected: source val mIoU about 0.92 after stage 1 and 0.93 after stage 2 (README
# "The pretrained backbone"). OUTPUT_DIR must not hold a checkpoint already.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
OUTPUT="${1:-pretrained/new}"
DATA="${DATA:-data/source10k}"
WORK="${WORK:-runs/build_backbone}"
NUM_TRAIN="${NUM_TRAIN:-10000}"
NUM_VAL="${NUM_VAL:-200}"
STEPS1="${STEPS1:-15000}"
STEPS2="${STEPS2:-3000}"
if [ -e "${OUTPUT}/checkpoint" ]; then  # Checked first: an hour of work would be lost.
  echo "${OUTPUT} already holds a backbone; give another OUTPUT_DIR." >&2
  exit 1
fi

DATA="${DATA}" NUM_TRAIN="${NUM_TRAIN}" NUM_VAL="${NUM_VAL}" STEPS="${STEPS1}" \
    bash scripts/pretrain_source.sh "${WORK}/segmentation"
source scripts/embedded_flags.sh
echo "== image-level classification beside segmentation -> ${WORK}/classification"
"$PY" train_wss.py "${EMBEDDED_FLAGS[@]}" --seed=0 --record_dir="${DATA}/tfrecord" \
    --model_dir="${WORK}/classification" --init_checkpoint="${WORK}/segmentation" \
    --train_steps="${STEPS2}" --base_learning_rate=0.02 --unlabeled_split=train \
    --unlabeled_batch_size=8 --use_image_labels --unsup_weight=0 ${EXTRA_FLAGS:-}
"$PY" train_sup_eval.py --model_dir="${WORK}/classification" --eval_size=128,128 \
    --output_json="${WORK}/classification/eval.json"
"$PY" export_backbone.py --model_dir="${WORK}/classification" --output_dir="${OUTPUT}"
