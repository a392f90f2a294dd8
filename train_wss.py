r"""PseudoSeg: one-stage consistency training with calibrated-fusion pseudo labels.

Usage, on the embedded data set (scripts/main_job.sh runs the whole comparison):
  python train_wss.py --record_dir=data/synthetic/tfrecord --model_dir=runs/wss \
      --labeled_ids=data/synthetic/splits/labeled_20_seed0.txt \
      --unlabeled_split=train [--use_image_labels]

Each step: a teacher pass on the weak view of the unlabeled images gives decoder and
SGC logits; their calibrated fusion, sharpened, is the soft pseudo label for the
strong view of the same images; labeled images train the decoder, the classifier and
the SGC (core/tasks/pseudoseg.py). Progress, checkpoints, resume and TensorBoard as in
train_sup.py, plus pictures of weak view | strong view | CAM | SGC | decoder | pseudo
label.
"""

# First: keeps TensorFlow's start-up noise off the screen (launch/quiet_start.py).
from launch import quiet_start  # pylint: disable=unused-import,g-bad-import-order

from absl import app
from absl import logging

from cli import flags as flags_lib
from launch import app as launch_app

flags_lib.define_flags(flags_lib.PSEUDOSEG_SECTIONS,
                       overrides={'pseudoseg_heads': True},
                       binary='train_wss.py')


def main(argv):
  del argv
  cfg = flags_lib.config_from_flags()
  if not cfg.model.pseudoseg_heads:
    raise app.UsageError('train_wss.py needs --pseudoseg_heads.')
  # Imported once the flags are checked: a mistyped flag fails at once, not
  # after TensorFlow's start-up.
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  from cli import experiment_lib
  # pylint: enable=g-import-not-at-top
  experiment_lib.split_cpu(cfg)  # First: before anything touches a device.
  descriptor = experiment_lib.dataset_info(cfg)
  task = experiment_lib.build_task(cfg, descriptor, pseudoseg=True)
  labeled_fn = experiment_lib.labeled_dataset_fn(cfg, descriptor)
  unlabeled_fn = experiment_lib.unlabeled_dataset_fn(
      cfg, descriptor, include_weak_label=task.needs_unlabeled_masks())

  def dataset_fn(ctx, start_step):
    return tf.data.Dataset.zip({'labeled': labeled_fn(ctx, start_step),
                                'unlabeled': unlabeled_fn(ctx, start_step)})

  experiment_lib.train(cfg, task, dataset_fn)
  logging.info('Done: %s', cfg.train.model_dir)


if __name__ == '__main__':
  launch_app.run(main)
