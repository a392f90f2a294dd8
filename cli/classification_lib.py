"""Scoring a classification-pretraining run (pretrain_classifier.py).

Every checkpoint the run kept is scored on a held-out split: mean F1 at a threshold and
mAP of its multi-label classifier (core/evaluation/multilabel.py), written to
TensorBoard (MODEL_DIR/eval) and, as the curve over the checkpoints with the last
one's full result, to MODEL_DIR/eval.json, which export_backbone.py copies into
backbone.json.
"""

import json
import os

from absl import logging
import tensorflow as tf

from core.evaluation import multilabel
from core.training import run_dir
from datasets import descriptors
from datasets import input_pipeline
from datasets import record_format

EVAL_FILENAME = 'eval.json'


def score_checkpoints(model_dir, split, threshold, batch_size=32):
  """Scores every checkpoint kept in `model_dir`; returns the last one's result.

  Images are scored whole: each is padded (never resized) to the run's crop size
  (its training crop: choose it to hold the images).

  Args:
    model_dir: a pretrain_classifier.py run.
    split: the held-out split of the run's records.
    threshold: score from which a class is predicted (for F1).
    batch_size: images per batch.

  Returns:
    dict: mean_f1, map, per_class_f1, per_class_ap, step, checkpoint, split,
    dataset, class_names, num_images, threshold, and 'curve', one
    {step, mean_f1, map} per checkpoint.

  Raises:
    FileNotFoundError: the run has no checkpoint or the split no shard.
  """
  model, cfg, num_classes = run_dir.build_model_from_run(model_dir)
  descriptor = descriptors.load_info(cfg.data.record_dir,
                                     default_name=cfg.data.dataset)
  files = record_format.list_shards(cfg.data.record_dir, split)
  state = tf.train.get_checkpoint_state(model_dir)
  if state is None or not state.model_checkpoint_path:
    raise FileNotFoundError('No checkpoint in %s.' % model_dir)
  writer = tf.summary.create_file_writer(os.path.join(model_dir, 'eval'))
  curve, result = [], None
  for path in state.all_model_checkpoint_paths:
    run_dir.restore_model(model, path)
    step = int(path.rsplit('-', 1)[-1])
    dataset = input_pipeline.classification_dataset(
        files, batch_size, tuple(cfg.data.crop_size), num_classes,
        is_training=False)
    scores, targets = multilabel.predict_scores(model, dataset)
    result = multilabel.summarize(scores, targets, threshold)
    with writer.as_default(step=step):
      tf.summary.scalar('eval/mean_f1', result['mean_f1'])
      tf.summary.scalar('eval/map', result['map'])
    logging.info('step %d: mean F1 %.4f | mAP %.4f (%d images, split %s)',
                 step, result['mean_f1'], result['map'], len(scores), split)
    curve.append({'step': step, 'mean_f1': result['mean_f1'],
                  'map': result['map']})
    result.update(step=step, checkpoint=path, num_images=len(scores))
  writer.flush()
  result.update(split=split, dataset=descriptor.name, threshold=threshold,
                class_names=list(descriptor.class_names), curve=curve)
  with tf.io.gfile.GFile(os.path.join(model_dir, EVAL_FILENAME), 'w') as f:
    json.dump(result, f, indent=2, sort_keys=True)
  return result
