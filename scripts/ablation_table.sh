#!/usr/bin/env bash
# The paper's ablations on the embedded data set, one command: each row changes one
# thing of the official pseudo label and trains the main job's PseudoSeg run
# (--experiment=embedded_pseudoseg, or embedded_pseudoseg_image_labels with
# MODE=image_labels) on each seed's 20 labeled images; the table sets the rows beside
# the paper's ordering (fusion > decoder alone > CAM alone; soft > hard; calibrated >
# uncalibrated; sharpened; strong augmentation).
#
# Usage: bash scripts/ablation_table.sh [SEEDS...]        (default: 0 1 2)
# Rows (ROWS="fusion dec" runs some; the default is all, in this order):
#   supervised    the labeled images alone (--experiment=embedded_sup_few), the reference
#   fusion        the official pseudo label: calibrated fusion of decoder and SGC, soft,
#                 temperature 0.5, photometric strong view
#   dec           the decoder's prediction alone (--pseudo_src=dec)
#   att           the SGC (self-attention CAM) alone (--pseudo_src=att)
#   hard          the fused label's one-hot argmax (--nosoft_labels)
#   uncalibrated  fusion of the logits as they are (--logit_norm=none)
#   t1            no sharpening (--temperature=1)
#   no_strong     a strong view photometrically the weak one (no colour jitter, no cutout)
# Settings: MODE (unlabeled | image_labels), INIT_CHECKPOINT (the main job's default,
# pretrained/source_cls; INIT_CHECKPOINT= trains from scratch), DATA (data/synthetic),
# NUM_LABELED (20), ROOT (runs/ablation/MODE), EXTRA_FLAGS (every run, last), DRY_RUN=1.
# Each run costs about what one of the main job's PseudoSeg runs does (3-4 min on 2 free
# cores): all eight rows over 3 seeds, about an hour and a half. Prints the table at the
# end (also ROOT/ablation.md and ablation.json).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
SEEDS=("$@"); [ ${#SEEDS[@]} -gt 0 ] || SEEDS=(0 1 2)
MODE="${MODE:-unlabeled}"
DATA="${DATA:-data/synthetic}"
NUM_LABELED="${NUM_LABELED:-20}"
ROOT="${ROOT:-runs/ablation/${MODE}}"
INIT_CHECKPOINT="${INIT_CHECKPOINT-pretrained/source_cls}"
ALL_ROWS="supervised fusion dec att hard uncalibrated t1 no_strong"
ROWS="${ROWS:-${ALL_ROWS}}"
case "${MODE}" in
  unlabeled) WSS=embedded_pseudoseg ;;
  image_labels) WSS=embedded_pseudoseg_image_labels ;;
  *) echo "MODE: '${MODE}' is neither unlabeled nor image_labels." >&2; exit 2 ;;
esac
declare -A ROW_FLAGS=(
  [fusion]=""
  [dec]="--pseudo_src=dec"
  [att]="--pseudo_src=att"
  [hard]="--nosoft_labels"
  [uncalibrated]="--logit_norm=none"
  [t1]="--temperature=1"
  [no_strong]="--brightness=0 --contrast=0 --saturation=0 --hue=0 --cutout_size=0"
)
for row in ${ROWS}; do
  case " ${ALL_ROWS} " in
    *" ${row} "*) ;;
    *) echo "ROWS: no row '${row}' (${ALL_ROWS})." >&2; exit 2 ;;
  esac
done
source scripts/embedded_flags.sh
source scripts/run_or_print.sh

run_or_print make_embedded_data "${DATA}" embedded --seed=1234
for seed in "${SEEDS[@]}"; do
  run_or_print make_embedded_split "${DATA}" "${NUM_LABELED}" "${seed}"
  for row in ${ROWS}; do
    run_dir="${ROOT}/seed${seed}/${row}"
    if [ "${row}" = supervised ]; then
      cmd=("$PY" train_sup.py --experiment=embedded_sup_few)
    else
      # shellcheck disable=SC2206  # A row's flags are a list.
      cmd=("$PY" train_wss.py --experiment="${WSS}" ${ROW_FLAGS[${row}]})
    fi
    echo "== ${row}, seed ${seed} -> ${run_dir}"
    # shellcheck disable=SC2086  # EXTRA_FLAGS is a list of flags.
    run_or_print "${cmd[@]}" --seed="${seed}" --record_dir="${DATA}/tfrecord" \
        --labeled_ids="${DATA}/splits/labeled_${NUM_LABELED}_seed${seed}.txt" \
        --init_checkpoint="${INIT_CHECKPOINT}" --model_dir="${run_dir}" ${EXTRA_FLAGS:-}
    run_or_print "$PY" train_sup_eval.py --model_dir="${run_dir}" --eval_size=128,128
  done
done
run_or_print "$PY" scripts/summarize_ablation.py --root="${ROOT}" \
    --seeds="$(IFS=,; echo "${SEEDS[*]}")" --rows="${ROWS// /,}" --mode="${MODE}"
