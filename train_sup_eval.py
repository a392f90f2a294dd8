r"""Scores a trained model: mIoU and per-class IoU over a whole split.

Usage:
  python train_sup_eval.py --model_dir=runs/sup [--eval_split=val] \
      [--scales=0.75,1.0,1.25 --flip] [--continuous]

Works for runs of train_sup.py and train_wss.py alike: the model is rebuilt from the
run's config.json. Images are padded, not resized or cropped, so every pixel of the
original image is scored. Writes MODEL_DIR/eval/results-STEP.json (and --output_json
if given) and TensorBoard scalars; with --continuous it waits for new checkpoints
until training reaches its last step.
"""

# First: keeps TensorFlow's start-up noise off the screen (launch/quiet_start.py).
from launch import quiet_start  # pylint: disable=unused-import,g-bad-import-order

from absl import flags

from cli import flags as flags_lib
from core import config as config_lib
from launch import app as launch_app

_MODEL_DIR = flags.DEFINE_string('model_dir', None, 'Training run directory.',
                                 required=True)
_CHECKPOINT = flags_lib.define_checkpoint_flag()
_RECORD_DIR = flags.DEFINE_string(
    'record_dir', '', 'Records to score; default: the run\'s --record_dir.')
_EVAL_SPLIT = flags.DEFINE_string('eval_split', 'val', 'Split to score.')
_EVAL_SIZE = flags.DEFINE_list(
    'eval_size', [], '"height,width" every image is padded to (at least the '
    'largest image); default: each image padded to its own size, batch 1.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 8, 'Images per batch.')
_SCALES = flags.DEFINE_list('scales', ['1.0'], 'Inference scales.')
_FLIP = flags.DEFINE_bool('flip', False, 'Add horizontally flipped inference.')
_ALL_CHECKPOINTS = flags.DEFINE_bool(
    'all_checkpoints', False, 'Score every checkpoint kept in --model_dir (for '
    'best-vs-last reports); --output_json gets the latest.')
_CONTINUOUS = flags.DEFINE_bool(
    'continuous', False, 'Score each new checkpoint until the last step.')
_TIMEOUT = flags.DEFINE_integer(
    'timeout', 3600, 'With --continuous: seconds to wait for a new checkpoint.')
_WEIGHTS = flags_lib.define_weights_flag()
_OUTPUT_JSON = flags.DEFINE_string('output_json', '', 'Also write results here.')
_MAX_BATCHES = flags.DEFINE_integer('max_batches', None,
                                    'Score only this many batches (smoke runs).')


def main(argv):
  del argv
  # Every flag is checked before the run is read or its model built.
  batch_size = flags_lib.checked(_BATCH_SIZE, config_lib.in_range(1))
  scales = flags_lib.checked(_SCALES, flags_lib.POSITIVE_NUMBERS, item=float)
  eval_size = flags_lib.checked(_EVAL_SIZE, flags_lib.SIZE_OR_EMPTY,
                                item=int) or None
  timeout = flags_lib.checked(_TIMEOUT, config_lib.in_range(0, low_open=True))
  max_batches = flags_lib.checked(_MAX_BATCHES, config_lib.in_range(1))
  checkpoint = flags_lib.checked_checkpoint(_CHECKPOINT)
  # Imported once the flags are checked: a mistyped flag fails at once, not
  # after TensorFlow's start-up.
  from cli import eval_lib  # pylint: disable=g-import-not-at-top
  eval_lib.score_run(
      _MODEL_DIR.value, checkpoint=checkpoint, record_dir=_RECORD_DIR.value,
      eval_split=_EVAL_SPLIT.value, eval_size=eval_size, batch_size=batch_size,
      scales=scales, flip=_FLIP.value, all_checkpoints=_ALL_CHECKPOINTS.value,
      continuous=_CONTINUOUS.value, timeout=timeout, weights=_WEIGHTS.value,
      output_json=_OUTPUT_JSON.value, max_batches=max_batches)


if __name__ == '__main__':
  launch_app.run(main)
