#!/usr/bin/env bash
# The main job: on the embedded synthetic data set, compare with the same few labeled
# images (a) supervised only, (b) PseudoSeg with the rest unlabeled, (c) PseudoSeg
# with image-level labels on the rest, each for SUP_STEPS / WSS_STEPS steps, and
# (d) supervised on all labels for FULL_STEPS (more: it has 50x the images to learn).
# The PseudoSeg runs also score their pseudo labels against the unlabeled images'
# hidden masks (TensorBoard metrics/decoder_miou, sgc_miou, pseudo_miou; never a loss).
#
# Usage: bash scripts/main_job.sh [SEED]      (after bash scripts/setup.sh)
# As in the paper, every run starts from a pretrained backbone: INIT_CHECKPOINT
# (default pretrained/source_cls, the repository's own, built by
# scripts/build_pretrained_backbone.sh on other textures; INIT_CHECKPOINT= trains from
# scratch). The PseudoSeg runs' classifier, CAM and SGC read backbone level CAM_LEVEL
# (default 2, stride 4, where these fine textures carry their class; CAM_LEVEL= is the
# official top level); see README "The embedded benchmark".
# EXTRA_FLAGS go to every run, WSS_FLAGS to the two PseudoSeg runs only (after the
# above, so they win). The main job before the pretrained default
# (from scratch, the official CAM level):
#   INIT_CHECKPOINT= CAM_LEVEL= bash scripts/main_job.sh
# The weakly-labeled win from scratch of docs/experiments.md "The CAM on low-level
# features, tried":
#   INIT_CHECKPOINT= SUP_STEPS=3000 WSS_STEPS=3000 WSS_FLAGS=--unsup_rampup_steps=300 \
#       ROOT=runs/long bash scripts/run_seeds.sh
# A generator variant (docs/experiments.md "Recalibrating the generator, tried"):
# DATA=data/cues_100 GEN_FLAGS="--class_hue_prob=1 --class_hue_spread=0.04
# --class_shape_prob=1" bash scripts/main_job.sh
# DRY_RUN=1 prints the commands and runs nothing.
# Prints a progress line all the way and, at the end, the results table (also written
# to $OUT/results.md and $OUT/results.json). See README.md for the expected numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
SEED="${1:-0}"
PY="${PY:-.venv/bin/python}"
DATA="${DATA:-data/synthetic}"
OUT="${OUT:-runs/main/seed${SEED}}"
NUM_LABELED="${NUM_LABELED:-20}"
# Sized for 2 CPU cores (see README "The embedded benchmark").
SUP_STEPS="${SUP_STEPS:-600}"
WSS_STEPS="${WSS_STEPS:-600}"
FULL_STEPS="${FULL_STEPS:-1500}"
INIT_CHECKPOINT="${INIT_CHECKPOINT-pretrained/source_cls}"
CAM_LEVEL="${CAM_LEVEL-2}"
source scripts/embedded_flags.sh
source scripts/run_or_print.sh
COMMON=("${EMBEDDED_FLAGS[@]}" --seed="${SEED}" --record_dir="${DATA}/tfrecord")
if [ -n "${INIT_CHECKPOINT}" ]; then
  COMMON+=(--init_checkpoint="${INIT_CHECKPOINT}")
  echo "== every run starts from the backbone in ${INIT_CHECKPOINT}"
fi
WSS_COMMON=(--cam_level="${CAM_LEVEL}")

# GEN_FLAGS: make_synthetic_voc.py flags of a variant (see above), with its own DATA.
run_or_print make_embedded_data "${DATA}" embedded --seed=1234 ${GEN_FLAGS:-}
run_or_print make_embedded_split "${DATA}" "${NUM_LABELED}" "${SEED}"
LABELED="${DATA}/splits/labeled_${NUM_LABELED}_seed${SEED}.txt"

run() {  # run NAME BINARY FLAGS...
  local name="$1" binary="$2"; shift 2
  echo "== ${name}"
  run_or_print "$PY" "${binary}" "${COMMON[@]}" --model_dir="${OUT}/${name}" "$@" ${EXTRA_FLAGS:-}
  run_or_print "$PY" train_sup_eval.py --model_dir="${OUT}/${name}" --eval_size=128,128 \
      --all_checkpoints --output_json="${OUT}/${name}/eval.json"
}

run sup_few train_sup.py --train_steps="${SUP_STEPS}" --labeled_ids="${LABELED}"
run pseudoseg train_wss.py --train_steps="${WSS_STEPS}" --labeled_ids="${LABELED}" \
    --unlabeled_split=train --unlabeled_batch_size=8 --score_pseudo_labels \
    "${WSS_COMMON[@]}" ${WSS_FLAGS:-}
run pseudoseg_image_labels train_wss.py --train_steps="${WSS_STEPS}" \
    --labeled_ids="${LABELED}" --unlabeled_split=train --unlabeled_batch_size=8 \
    --use_image_labels --score_pseudo_labels "${WSS_COMMON[@]}" ${WSS_FLAGS:-}
run sup_full train_sup.py --train_steps="${FULL_STEPS}"

run_or_print "$PY" scripts/summarize_results.py --runs_dirs="${OUT}" --num_labeled="${NUM_LABELED}"
