"""CutMix between unlabeled images (an option; French et al., BMVC 2020)."""

import tensorflow as tf

from core.pseudoseg import cutmix
from core.tasks.options import base
from core import visualization

STREAM = 0  # The step's random stream of the boxes.


def cutmix_unlabeled(unl, pseudo, weight, seed, area):
  """Mixes the strong views and their pseudo labels between unlabeled images.

  Args:
    unl: the unlabeled sub-batch (strong_image, strong_valid, class_labels,
      has_class_labels).
    pseudo: [B,h,w,C] pseudo label of the weak views.
    weight: [B,h,w] its per-pixel weight.
    seed: [2] int stateless seed.
    area: share of the image inside the box.

  Returns:
    (dict with the mixed strong_image, strong_valid, class_labels and
    has_class_labels, mixed pseudo, mixed weight).
  """
  image = unl['strong_image']
  boxes = cutmix.sample_boxes(tf.shape(image)[0], area, seed)
  image_mask = cutmix.box_masks(boxes, tf.shape(image)[1:3])
  label_mask = cutmix.box_masks(boxes, tf.shape(pseudo)[1:3])
  class_labels, has_class_labels = cutmix.mix_class_labels(
      unl['class_labels'], unl['has_class_labels'])
  mixed = dict(unl, strong_image=cutmix.mix(image, image_mask),
               strong_valid=cutmix.mix(unl['strong_valid'], image_mask),
               class_labels=class_labels, has_class_labels=has_class_labels)
  return mixed, cutmix.mix(pseudo, label_mask), cutmix.mix(weight, label_mask)


@base.register
class CutMix(base.Option):
  """The student sees a box of one strong view pasted into its neighbour's."""

  section = 'cutmix'

  def __init__(self, area):
    self.area = area

  @classmethod
  def from_config(cls, cfg, num_classes, ignore_label):
    del num_classes, ignore_label
    return cls(cfg.cutmix.cutmix_area) if cfg.cutmix.cutmix else None

  def mix(self, ctx):
    ctx.unl, ctx.pseudo, ctx.weight = cutmix_unlabeled(
        ctx.unl, ctx.pseudo, ctx.weight, ctx.stream(STREAM), self.area)

  def pictures(self, ctx, palette):
    """Mixed strong view | mixed pseudo label: what the student trains on."""
    mixed, mixed_pseudo, _ = cutmix_unlabeled(
        ctx.unl, ctx.pseudo, ctx.weight, ctx.stream(STREAM), self.area)
    return {'cutmix_strong_pseudo': visualization.side_by_side([
        mixed['strong_image'],
        visualization.colorize(tf.argmax(mixed_pseudo, -1), palette)],
        tf.shape(ctx.unl['weak_image'])[1:3])}
