r"""Supervised DeepLabv3+ training (the baseline of PseudoSeg).

Usage, on the embedded data set (see scripts/local_test.sh for the full chain):
  python train_sup.py --record_dir=data/synthetic/tfrecord --model_dir=runs/sup \
      --train_split=train --labeled_ids=data/synthetic/splits/labeled_20_seed0.txt

Prints a progress line per loop (step, losses, learning rate, images/s, ETA),
writes checkpoints and TensorBoard summaries to --model_dir and resumes from the last
checkpoint when restarted. Score the result with train_sup_eval.py.
"""

import functools

from absl import app
from absl import logging
import tensorflow as tf

from core import train_steps
from core.training import trainer
from core import visualization
from cli import experiment_lib
from cli import flags as flags_lib

flags_lib.define_flags(flags_lib.SUPERVISED_SECTIONS)


def supervised_pictures(model, palette, batch):
  """Image | ground truth | prediction, for TensorBoard."""
  outputs = model(batch['image'], training=False)
  pred = tf.argmax(outputs['logits'], -1)
  size = tf.shape(batch['image'])[1:3]
  return {'image_label_prediction': visualization.side_by_side(
      [batch['image'], visualization.colorize(batch['label'], palette),
       visualization.colorize(pred, palette)], size)}


def main(argv):
  del argv
  cfg = flags_lib.config_from_flags()
  descriptor, strategy, model, optimizer, settings = experiment_lib.set_up(cfg)
  loop = trainer.TrainLoop(
      strategy, model, optimizer,
      step_fn=functools.partial(train_steps.supervised_step, model, optimizer,
                                settings=settings),
      dataset_fn=experiment_lib.labeled_dataset_fn(cfg, descriptor),
      model_dir=cfg.train.model_dir, train_cfg=cfg.train,
      images_per_step=cfg.train.batch_size,
      image_summary_fn=functools.partial(supervised_pictures, model,
                                         descriptor.palette))
  loop.run(train_steps.SUPERVISED_METRICS)
  logging.info('Done: %s', cfg.train.model_dir)


if __name__ == '__main__':
  app.run(main)
