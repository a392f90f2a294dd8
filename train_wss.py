r"""PseudoSeg: one-stage consistency training with calibrated-fusion pseudo labels.

Usage, on the embedded data set (scripts/main_job.sh runs the whole comparison):
  python train_wss.py --record_dir=data/synthetic/tfrecord --model_dir=runs/wss \
      --labeled_ids=data/synthetic/splits/labeled_20_seed0.txt \
      --unlabeled_split=train [--use_image_labels]

Each step: a teacher pass on the weak view of the unlabeled images gives decoder and
SGC logits; their calibrated fusion, sharpened, is the soft pseudo label for the
strong view of the same images; labeled images train the decoder, the classifier and
the SGC. Progress, checkpoints, resume and TensorBoard as in train_sup.py, plus
pictures of weak view | strong view | CAM | SGC | decoder | pseudo label.
"""

import dataclasses
import functools

from absl import app
from absl import logging
import tensorflow as tf

from core.modeling import cam as cam_lib
from core import train_steps
from core.training import trainer
from core import visualization
from cli import experiment_lib
from cli import flags as flags_lib

flags_lib.define_flags(flags_lib.PSEUDOSEG_SECTIONS,
                            overrides={'pseudoseg_heads': True})


def pseudoseg_pictures(model, palette, settings, alignment, batch):
  """Weak | strong | CAM | SGC | decoder | pseudo label, for TensorBoard.

  `model` is the pseudo-label maker: the EMA teacher when there is one;
  `alignment` (or None) re-weights its label as in training, without moving its
  marginals. With
  CutMix, a second picture shows what the student trains on: mixed strong view |
  mixed pseudo label.
  """
  unl = batch['unlabeled']
  cam_classes = unl['class_labels'] if settings.use_image_labels else None
  # Inference mode here: drawing pictures must not move batch-norm statistics.
  outputs, pseudo, weight = train_steps.make_pseudo_labels(
      model, unl['weak_image'], unl['weak_valid'],
      dataclasses.replace(settings, teacher_training_mode=False), cam_classes,
      align=alignment.align if alignment is not None else None)
  size = tf.shape(unl['weak_image'])[1:3]
  cam = cam_lib.cam_with_background(outputs['cam'])
  pictures = {'weak_strong_cam_sgc_decoder_pseudo': visualization.side_by_side([
      unl['weak_image'], unl['strong_image'],
      visualization.heatmap(tf.reduce_max(cam[..., 1:], -1)),
      visualization.colorize(tf.argmax(outputs['sgc_logits'], -1), palette),
      visualization.colorize(tf.argmax(outputs['logits'], -1), palette),
      visualization.colorize(tf.argmax(pseudo, -1), palette)], size)}
  if settings.cutmix:
    mixed, mixed_pseudo, _ = train_steps.cutmix_unlabeled(
        unl, pseudo, weight, tf.constant([0, settings.seed], tf.int64), settings)
    pictures['cutmix_strong_pseudo'] = visualization.side_by_side([
        mixed['strong_image'],
        visualization.colorize(tf.argmax(mixed_pseudo, -1), palette)], size)
  return pictures


def main(argv):
  del argv
  cfg = flags_lib.config_from_flags()
  if not cfg.model.pseudoseg_heads:
    raise app.UsageError('train_wss.py needs --pseudoseg_heads.')
  experiment_lib.check_oracle_masks(cfg)
  descriptor, strategy, model, optimizer, settings = experiment_lib.set_up(cfg)
  teacher = experiment_lib.build_ema_teacher(cfg, strategy, model,
                                             descriptor.num_classes)
  alignment = experiment_lib.build_distribution_alignment(
      cfg, strategy, descriptor.num_classes)
  checkpoint_objects = {'teacher': teacher, 'distribution_alignment': alignment}
  labeled_fn = experiment_lib.labeled_dataset_fn(cfg, descriptor)
  unlabeled_fn = experiment_lib.unlabeled_dataset_fn(cfg, descriptor)

  def dataset_fn(ctx, start_step):
    return tf.data.Dataset.zip({'labeled': labeled_fn(ctx, start_step),
                                'unlabeled': unlabeled_fn(ctx, start_step)})

  loop = trainer.TrainLoop(
      strategy, model, optimizer,
      step_fn=functools.partial(train_steps.pseudoseg_step, model, optimizer,
                                settings=settings, teacher=teacher,
                                alignment=alignment),
      dataset_fn=dataset_fn, model_dir=cfg.train.model_dir, train_cfg=cfg.train,
      images_per_step=cfg.train.batch_size + cfg.train.unlabeled_batch_size,
      image_summary_fn=functools.partial(
          pseudoseg_pictures, model if teacher is None else teacher,
          descriptor.palette, settings, alignment),
      checkpoint_objects={k: v for k, v in checkpoint_objects.items()
                          if v is not None})
  metric_names = train_steps.PSEUDOSEG_METRICS
  if cfg.pseudo_label.score_pseudo_labels:
    metric_names += train_steps.PSEUDO_LABEL_SCORES
  if cfg.pseudo_label.oracle_pseudo_labels:
    metric_names += train_steps.ORACLE_SCORES
  if cfg.loss.unsup_rampup_steps:
    metric_names += train_steps.RAMPUP_METRICS
  loop.run(metric_names)
  logging.info('Done: %s', cfg.train.model_dir)


if __name__ == '__main__':
  app.run(main)
