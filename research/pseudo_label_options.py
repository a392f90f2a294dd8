"""The lab's options of the PseudoSeg step: diagnostics, not methods.

* `PseudoLabelScores` (`score_pseudo_labels`): the mIoU of the teacher's decoder, SGC
  and fused pseudo labels against the unlabeled images' own masks, on each batch.
* `OraclePseudoLabels` (`oracle_pseudo_labels`, `oracle_share`): the pseudo label of
  some unlabeled images is their own mask: what the consistency path could give with a
  perfect teacher.

Both need records whose unlabeled images carry their masks (the step's 'weak_label');
the masks never reach a loss except through the oracle. Importing this module
registers them with the PseudoSeg task (the binaries' cli/experiment_lib does).
"""

import tensorflow as tf

from core.evaluation import metrics as metrics_lib
from core.tasks import base as task_base
from core.tasks.options import base

ORACLE_STREAM = 4  # The step's random stream of the images given their mask.


def miou(scores_map, weak_label, num_classes, ignore_label):
  """mIoU of argmax([B,h,w,C] scores) against the mask resized to [h, w]."""
  label = task_base.resize_label(weak_label, tf.shape(scores_map)[1:3])
  prediction = tf.argmax(scores_map, -1, output_type=tf.int32)
  cm = metrics_lib.confusion_matrix(label, prediction, num_classes,
                                    ignore_label=ignore_label)
  return metrics_lib.mean_iou(cm)


def score_pseudo_labels(teacher, pseudo, weak_label, num_classes,
                        ignore_label=255):
  """mIoU of the teacher's decoder, SGC and fused pseudo labels vs. the masks.

  Scored at decoder resolution (masks resized nearest), on this batch.

  Args:
    teacher: the model's outputs on the weak view.
    pseudo: [B,h,w,C] fused pseudo label.
    weak_label: [B,H,W,1] int32 mask of the weak view (255 = ignore).
    num_classes: C.
    ignore_label: the id no score counts.

  Returns:
    dict of float32 scalars: decoder_miou, sgc_miou, pseudo_miou.
  """
  sgc = tf.image.resize(teacher['sgc_logits'], tf.shape(pseudo)[1:3],
                        method='bilinear')
  return {name: miou(scores_map, weak_label, num_classes, ignore_label)
          for name, scores_map in (('decoder_miou', teacher['logits']),
                                   ('sgc_miou', sgc), ('pseudo_miou', pseudo))}


def oracle_pseudo_labels(weak_label, teacher_pseudo, teacher_weight, chosen,
                         num_classes, ignore_label=255):
  """The weak view's own mask as a pseudo label (a diagnostic, not a method).

  Args:
    weak_label: [B,H,W,1] int32 mask of the weak view; resized nearest to the
      pseudo label's size.
    teacher_pseudo: [B,h,w,C] the teacher's pseudo label ...
    teacher_weight: [B,h,w] ... and its per-pixel weight.
    chosen: [B] bool, the images whose pseudo label is their mask; the others
      keep the teacher's.
    num_classes: C.
    ignore_label: the id that weighs 0.

  Returns:
    pseudo: [B,h,w,C] on chosen images the one-hot of the mask (zeros on ignored
      pixels), elsewhere teacher_pseudo.
    weight: [B,h,w] on chosen images 1 where the mask has a class and 0 on
      ignored pixels, elsewhere teacher_weight.
  """
  label = task_base.resize_label(weak_label, tf.shape(teacher_pseudo)[1:3])
  valid = tf.cast(tf.not_equal(label, ignore_label), tf.float32)
  # An out-of-range id (the ignore label included) gives an all-zero row.
  one_hot = tf.one_hot(label, num_classes, dtype=tf.float32)
  chosen = tf.reshape(chosen, [-1, 1, 1])
  return (tf.where(chosen[..., None], one_hot, teacher_pseudo),
          tf.where(chosen, valid, teacher_weight))


def oracle_images(batch_size, share, seed):
  """[B] bool: each image independently True with probability `share`."""
  return tf.random.stateless_uniform([batch_size], seed) < share


def _weak_label(ctx, what):
  if 'weak_label' not in ctx.unl:
    raise ValueError('%s needs the unlabeled views\' masks (include_weak_label '
                     'in the unlabeled stream).' % what)
  return ctx.unl['weak_label']


@base.register
class PseudoLabelScores(base.Option):
  """Logs how good each pseudo-label source is on the batch."""

  section = 'diagnostics'

  metric_names = ('decoder_miou', 'sgc_miou', 'pseudo_miou')
  needs_unlabeled_masks = True

  def __init__(self, num_classes, ignore_label):
    self.num_classes = num_classes
    self.ignore_label = ignore_label

  @classmethod
  def from_config(cls, cfg, num_classes, ignore_label):
    if not cfg.diagnostics.score_pseudo_labels:
      return None
    return cls(num_classes, ignore_label)

  def metrics(self, ctx):
    return score_pseudo_labels(
        ctx.teacher_outputs, ctx.weak_pseudo,
        _weak_label(ctx, 'score_pseudo_labels'), self.num_classes,
        self.ignore_label)


@base.register
class OraclePseudoLabels(base.Option):
  """Some unlabeled images train on their own mask; logs the label's mIoU."""

  section = 'diagnostics'

  metric_names = ('target_miou',)  # The label the student is trained on.
  needs_unlabeled_masks = True

  def __init__(self, share, num_classes, ignore_label):
    self.share = share
    self.num_classes = num_classes
    self.ignore_label = ignore_label

  @classmethod
  def from_config(cls, cfg, num_classes, ignore_label):
    if not cfg.diagnostics.oracle_pseudo_labels:
      return None
    return cls(cfg.diagnostics.oracle_share, num_classes, ignore_label)

  def replace(self, ctx):
    weak_label = _weak_label(ctx, 'oracle_pseudo_labels')
    chosen = oracle_images(tf.shape(ctx.weak_pseudo)[0], self.share,
                           ctx.stream(ORACLE_STREAM))
    ctx.pseudo, ctx.weight = oracle_pseudo_labels(
        weak_label, ctx.weak_pseudo, ctx.weak_weight, chosen, self.num_classes,
        self.ignore_label)
    ctx.oracle_target = ctx.pseudo

  def metrics(self, ctx):
    return {'target_miou': miou(ctx.oracle_target, ctx.unl['weak_label'],
                                self.num_classes, self.ignore_label)}
