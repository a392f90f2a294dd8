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

import json
import os

from absl import flags
from absl import logging
import tensorflow as tf

from cli import experiment_lib
from cli import flags as flags_lib
from core import config as config_lib
from core.evaluation import evaluator
from core.training import run_dir
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


def _write_json(path, result):
  tf.io.gfile.makedirs(os.path.dirname(path) or '.')
  with tf.io.gfile.GFile(path + '.tmp', 'w') as f:
    json.dump(result, f, indent=2, sort_keys=True)
  tf.io.gfile.rename(path + '.tmp', path, overwrite=True)


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
  model, cfg, num_classes = run_dir.build_model_from_run(_MODEL_DIR.value)
  descriptor, files = experiment_lib.eval_records(
      cfg, num_classes, _RECORD_DIR.value, _EVAL_SPLIT.value, _MODEL_DIR.value)
  writer = tf.summary.create_file_writer(os.path.join(_MODEL_DIR.value, 'eval'))
  # One compiled prediction for every checkpoint restored into `model`.
  scorer = evaluator.Evaluator(model, num_classes,
                               ignore_label=descriptor.ignore_label,
                               scales=scales, flip=_FLIP.value)

  def score(path):
    run_dir.restore_model(model, path, name=_WEIGHTS.value)
    step = int(path.rsplit('-', 1)[-1])
    dataset = experiment_lib.eval_dataset(files, eval_size, batch_size)
    result = scorer.evaluate(dataset, max_batches=max_batches)
    result.update(step=step, checkpoint=path, split=_EVAL_SPLIT.value,
                  weights=_WEIGHTS.value,
                  class_names=list(descriptor.class_names), scales=list(scales),
                  flip=_FLIP.value)
    with writer.as_default(step=step):
      tf.summary.scalar('eval/miou', result['miou'])
      tf.summary.scalar('eval/pixel_accuracy', result['pixel_accuracy'])
      for name, iou in zip(descriptor.class_names, result['per_class_iou']):
        if iou == iou:  # Not NaN.
          tf.summary.scalar('eval_class_iou/' + name, iou)
    _write_json(os.path.join(_MODEL_DIR.value, 'eval',
                             'results-%d.json' % step), result)
    if _OUTPUT_JSON.value:
      _write_json(_OUTPUT_JSON.value, result)
    logging.info('step %d: mIoU %.4f | %s', step, result['miou'], ' '.join(
        '%s %.3f' % (n, v) for n, v in zip(descriptor.class_names,
                                            result['per_class_iou'])))
    print('mIoU %.4f (step %d, %d images, split %s)' %
          (result['miou'], step, result['num_images'], _EVAL_SPLIT.value))
    return step

  if not _CONTINUOUS.value:
    state = tf.train.get_checkpoint_state(_MODEL_DIR.value)
    if checkpoint:
      paths = [checkpoint]
    elif state is None or not state.model_checkpoint_path:
      raise FileNotFoundError('No checkpoint in %s.' % _MODEL_DIR.value)
    elif _ALL_CHECKPOINTS.value:
      paths = list(state.all_model_checkpoint_paths)
    else:
      paths = [state.model_checkpoint_path]
    for path in paths:
      score(path)
    return
  for path in tf.train.checkpoints_iterator(_MODEL_DIR.value,
                                            timeout=timeout):
    if score(path) >= cfg.train.train_steps:
      break


if __name__ == '__main__':
  launch_app.run(main)
