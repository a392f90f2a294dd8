# Sourced by voc_sup.sh, voc_pseudoseg.sh and coco_pseudoseg.sh: each cell of one of the
# paper's tables is one `cell` line on top of its named recipe (core/experiments.py,
# `python train_wss.py --experiment=list`), which holds the whole configuration.
#
# Settings, from the environment:
#   INIT_CHECKPOINT    the ImageNet backbone every cell starts from (README "ImageNet
#                      backbones"); required unless ALLOW_RANDOM_INIT=1
#   CELLS              the cells to run, e.g. CELLS="92 366" (default: the whole table)
#   RECORD_DIR         the converted data set (default: the recipe's, data/voc/tfrecord or
#                      data/coco/tfrecord)
#   ROOT               the runs, one directory per cell named after its recipe
#   STRATEGY           mirrored (the recipe's) | multi_worker | tpu | default
#   EVAL_SIZE          the evaluation crop (train_sup_eval.py --eval_size)
#   EXTRA_FLAGS        flags given to every training run after the recipe's (they win)
#   DRY_RUN=1          print each cell's commands and run nothing
# Uses $PY.
source scripts/run_or_print.sh

# paper_table "KEY ..." DEFAULT_ROOT DEFAULT_EVAL_SIZE: checks the settings before any
# run starts (a wrong cell or a missing backbone would otherwise show hours in).
paper_table() {
  TABLE_CELLS="$1"
  ROOT="${ROOT:-$2}"
  EVAL_SIZE="${EVAL_SIZE:-$3}"
  CELLS="${CELLS:-${TABLE_CELLS}}"
  local key
  for key in ${CELLS}; do
    case " ${TABLE_CELLS} " in
      *" ${key} "*) ;;
      *) echo "CELLS: no cell '${key}' in this table (${TABLE_CELLS})." >&2; exit 2 ;;
    esac
  done
  PAPER_FLAGS=()
  if [ -n "${INIT_CHECKPOINT:-}" ]; then
    PAPER_FLAGS+=(--init_checkpoint="${INIT_CHECKPOINT}")
  elif [ "${ALLOW_RANDOM_INIT:-0}" = 1 ]; then
    PAPER_FLAGS+=(--allow_random_init)
  else
    echo "INIT_CHECKPOINT: the paper's recipe starts from an ImageNet backbone; give its" \
         "checkpoint (README \"ImageNet backbones\"), or ALLOW_RANDOM_INIT=1." >&2
    exit 2
  fi
  [ -n "${RECORD_DIR:-}" ] && PAPER_FLAGS+=(--record_dir="${RECORD_DIR}")
  [ -n "${STRATEGY:-}" ] && PAPER_FLAGS+=(--strategy="${STRATEGY}")
  return 0
}

# cell KEY BINARY EXPERIMENT PAPER_MIOU: trains and evaluates one cell, if CELLS has it.
cell() {
  local key="$1" binary="$2" experiment="$3" paper="$4"
  case " ${CELLS} " in *" ${key} "*) ;; *) return 0 ;; esac
  local run_dir="${ROOT}/${experiment}"
  echo "== ${experiment}: paper mIoU ${paper} -> ${run_dir}"
  # shellcheck disable=SC2086  # EXTRA_FLAGS is a list of flags.
  run_or_print "$PY" "${binary}" --experiment="${experiment}" --model_dir="${run_dir}" \
      "${PAPER_FLAGS[@]}" ${EXTRA_FLAGS:-}
  run_or_print "$PY" train_sup_eval.py --model_dir="${run_dir}" --eval_size="${EVAL_SIZE}"
}
