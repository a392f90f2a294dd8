"""Feature dropout perturbation of the student (an option; as CCT, Ouali et al. 2020)."""

import tensorflow as tf

from core.modeling import model as model_lib
from core.tasks.options import base

STREAM = 1  # The step's random stream of the dropped channels.


@base.register
class FeatureDropout(base.Option):
  """Drops a share of the ASPP output's channels for the strong views only."""

  section = 'feature_dropout'

  def __init__(self, rate):
    self.rate = rate

  @classmethod
  def from_config(cls, cfg, num_classes, ignore_label):
    del num_classes, ignore_label
    rate = cfg.feature_dropout.feature_dropout
    return cls(rate) if rate else None

  def student_inputs(self, ctx, num_labeled, model):
    # The labeled images are not perturbed.
    num_unlabeled = tf.shape(ctx.unl['strong_image'])[0]
    perturbed = tf.concat([tf.zeros([num_labeled]), tf.ones([num_unlabeled])], 0)
    keep = model_lib.channel_dropout_mask(
        perturbed, model.config.aspp_filters, self.rate, ctx.stream(STREAM))
    return {'decoder_perturbation': lambda x: x * tf.cast(keep, x.dtype)}
