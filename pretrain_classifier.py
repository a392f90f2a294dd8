r"""Pretrains a backbone by image-level classification, as an ImageNet backbone is made.

Usage, on the broad synthetic set (scripts/build_broad_backbone.sh runs it all):
  python pretrain_classifier.py --record_dir=data/broad/tfrecord \
      --model_dir=runs/broad_cls --backbone=mobilenet_v2 --width_multiplier=0.5
  python export_backbone.py --model_dir=runs/broad_cls --output_dir=pretrained/mine

Trains the backbone and the multi-label classifier on its pooled features (sigmoid
cross-entropy on the records' image-level labels; no mask is read) on --train_split.
Prints a progress line per loop (step, losses, learning rate, images/s, ETA), writes
checkpoints and TensorBoard summaries to --model_dir and resumes from the last
checkpoint when restarted. At the end it scores every checkpoint kept on
--eval_split (mean F1 at --eval_threshold, and mAP), prints the last one's and writes
MODEL_DIR/eval.json, which export_backbone.py copies into backbone.json.
"""

# First: keeps TensorFlow's start-up noise off the screen (launch/quiet_start.py).
from launch import quiet_start  # pylint: disable=unused-import,g-bad-import-order

from absl import flags
from absl import logging

from cli import classification_lib
from cli import experiment_lib
from cli import flags as flags_lib
from core import config as config_lib
from core.tasks import classification
from datasets import record_format
from launch import app as launch_app

# Whole 128 px images of the embedded sets, shrunk at most to 3/4 (padded): the
# image-level labels stay the crop's.
flags_lib.define_flags(
    flags_lib.SUPERVISED_SECTIONS,
    overrides={'pseudoseg_heads': True, 'crop_size': (128, 128),
               'min_scale': 0.75, 'max_scale': 1.0, 'scale_step': 0.0})
_EVAL_SPLIT = flags.DEFINE_string('eval_split', 'val',
                                  'Held-out split the classifier is scored on.')
_EVAL_THRESHOLD = flags.DEFINE_float(
    'eval_threshold', 0.5, 'Sigmoid score from which a class is predicted, for '
    'the F1 score.')
_EVAL_BATCH_SIZE = flags.DEFINE_integer('eval_batch_size', 32,
                                        'Images per batch of the scoring.')


def main(argv):
  del argv
  # Every flag is checked before the records are read or the model built.
  cfg = flags_lib.config_from_flags()
  threshold = flags_lib.checked(_EVAL_THRESHOLD, config_lib.in_range(
      0.0, 1.0, low_open=True, high_open=True))
  eval_batch_size = flags_lib.checked(_EVAL_BATCH_SIZE, config_lib.in_range(1))
  if not cfg.model.pseudoseg_heads:
    raise flags_lib.usage_error('--nopseudoseg_heads: the classifier is one '
                                'of these heads.')
  if cfg.data.use_image_labels or cfg.data.unlabeled_ids:
    raise flags_lib.usage_error(
        '--use_image_labels and --unlabeled_ids are for train_wss.py: every '
        'image of --train_split trains on its image-level labels here.')
  record_format.list_shards(cfg.data.record_dir, _EVAL_SPLIT.value)
  experiment_lib.split_cpu(cfg)  # First: before anything touches a device.
  descriptor = experiment_lib.dataset_info(cfg)
  task = classification.ClassificationTask(
      cfg, descriptor.num_classes, ignore_label=descriptor.ignore_label,
      palette=descriptor.palette)
  experiment_lib.train(cfg, task,
                       experiment_lib.classification_dataset_fn(cfg, descriptor))
  result = classification_lib.score_checkpoints(
      cfg.train.model_dir, _EVAL_SPLIT.value, threshold, eval_batch_size)
  print('mean F1 %.4f, mAP %.4f (step %d, %d images, split %s)' % (
      result['mean_f1'], result['map'], result['step'], result['num_images'],
      _EVAL_SPLIT.value))
  logging.info('Done: %s', cfg.train.model_dir)


if __name__ == '__main__':
  launch_app.run(main)
