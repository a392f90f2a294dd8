"""What train_sup_eval.py does once its flags are checked: score a run's checkpoints.

`score_run` rebuilds the run's model from its config.json, scores the chosen
checkpoints (or each new one, with `continuous`) on a split at original size, and
writes MODEL_DIR/eval/results-STEP.json, TensorBoard scalars and a line per
checkpoint. Plain values in, no flags read.
"""

import json
import os

from absl import logging
import tensorflow as tf

from cli import experiment_lib
from core.evaluation import evaluator
from core.training import run_dir


def _write_json(path, result):
  tf.io.gfile.makedirs(os.path.dirname(path) or '.')
  with tf.io.gfile.GFile(path + '.tmp', 'w') as f:
    json.dump(result, f, indent=2, sort_keys=True)
  tf.io.gfile.rename(path + '.tmp', path, overwrite=True)


def _checkpoints(model_dir, checkpoint, all_checkpoints):
  """The checkpoint paths to score once (not continuously)."""
  if checkpoint:
    return [checkpoint]
  state = tf.train.get_checkpoint_state(model_dir)
  if state is None or not state.model_checkpoint_path:
    raise FileNotFoundError('No checkpoint in %s.' % model_dir)
  if all_checkpoints:
    return list(state.all_model_checkpoint_paths)
  return [state.model_checkpoint_path]


def score_run(model_dir, checkpoint='', record_dir='', eval_split='val',
              eval_size=None, batch_size=8, scales=(1.0,), flip=False,
              all_checkpoints=False, continuous=False, timeout=3600,
              weights='model', output_json='', max_batches=None):
  """Scores a training run's checkpoints (train_sup_eval.py's flags say more).

  Args:
    model_dir: the run directory.
    checkpoint: a checkpoint prefix; '' = the latest (or all, or each new one).
    record_dir: records to score; '' = the run's own.
    eval_split: split to score.
    eval_size: optional (height, width) every image is padded to.
    batch_size: images per batch.
    scales: inference scales.
    flip: add flipped inference.
    all_checkpoints: score every checkpoint kept in `model_dir`.
    continuous: score each new checkpoint until the run's last step.
    timeout: with `continuous`, seconds to wait for a new checkpoint.
    weights: 'model' or 'teacher'.
    output_json: also write the (latest) result here.
    max_batches: score only this many batches.
  """
  model, cfg, num_classes = run_dir.build_model_from_run(model_dir)
  descriptor, files = experiment_lib.eval_records(
      cfg, num_classes, record_dir, eval_split, model_dir)
  writer = tf.summary.create_file_writer(os.path.join(model_dir, 'eval'))
  # One compiled prediction for every checkpoint restored into `model`.
  scorer = evaluator.Evaluator(model, num_classes,
                               ignore_label=descriptor.ignore_label,
                               scales=scales, flip=flip)
  # Built once and read again for each checkpoint (building it traces its
  # functions anew: about 0.1 s, a tenth of scoring the embedded val split).
  dataset = experiment_lib.eval_dataset(files, eval_size, batch_size)

  def score(path):
    run_dir.restore_model(model, path, name=weights)
    step = int(path.rsplit('-', 1)[-1])
    result = scorer.evaluate(dataset, max_batches=max_batches)
    result.update(step=step, checkpoint=path, split=eval_split,
                  weights=weights, class_names=list(descriptor.class_names),
                  scales=list(scales), flip=flip)
    with writer.as_default(step=step):
      tf.summary.scalar('eval/miou', result['miou'])
      tf.summary.scalar('eval/pixel_accuracy', result['pixel_accuracy'])
      for name, iou in zip(descriptor.class_names, result['per_class_iou']):
        if iou == iou:  # Not NaN.
          tf.summary.scalar('eval_class_iou/' + name, iou)
    _write_json(os.path.join(model_dir, 'eval', 'results-%d.json' % step),
                result)
    if output_json:
      _write_json(output_json, result)
    logging.info('step %d: mIoU %.4f | %s', step, result['miou'], ' '.join(
        '%s %.3f' % (n, v) for n, v in zip(descriptor.class_names,
                                            result['per_class_iou'])))
    print('mIoU %.4f (step %d, %d images, split %s)' %
          (result['miou'], step, result['num_images'], eval_split))
    return step

  if not continuous:
    for path in _checkpoints(model_dir, checkpoint, all_checkpoints):
      score(path)
    return
  for path in tf.train.checkpoints_iterator(model_dir, timeout=timeout):
    if score(path) >= cfg.train.train_steps:
      break
