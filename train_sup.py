r"""Supervised DeepLabv3+ training (the baseline of PseudoSeg).

Usage, on the embedded data set (see scripts/local_test.sh for the full chain):
  python train_sup.py --record_dir=data/synthetic/tfrecord --model_dir=runs/sup \
      --train_split=train --labeled_ids=data/synthetic/splits/labeled_20_seed0.txt

Prints a progress line per loop (step, losses, learning rate, images/s, ETA),
writes checkpoints and TensorBoard summaries (pictures: image | ground truth |
prediction) to --model_dir and resumes from the last checkpoint when restarted.
Score the result with train_sup_eval.py.
"""

# First: keeps TensorFlow's start-up noise off the screen (launch/quiet_start.py).
from launch import quiet_start  # pylint: disable=unused-import,g-bad-import-order

from absl import logging

from cli import flags as flags_lib
from launch import app as launch_app

flags_lib.define_flags(flags_lib.SUPERVISED_SECTIONS, binary='train_sup.py')


def main(argv):
  del argv
  cfg = flags_lib.config_from_flags()
  # Imported once the flags are checked: a mistyped flag fails at once, not
  # after TensorFlow's start-up.
  from cli import experiment_lib  # pylint: disable=g-import-not-at-top
  experiment_lib.split_cpu(cfg)  # First: before anything touches a device.
  descriptor = experiment_lib.dataset_info(cfg)
  task = experiment_lib.build_task(cfg, descriptor, pseudoseg=False)
  experiment_lib.train(cfg, task,
                       experiment_lib.labeled_dataset_fn(cfg, descriptor))
  logging.info('Done: %s', cfg.train.model_dir)


if __name__ == '__main__':
  launch_app.run(main)
