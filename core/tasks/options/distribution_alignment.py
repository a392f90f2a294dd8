"""Distribution alignment of the fused probability (an option; ReMixMatch)."""

import tensorflow as tf

from core.pseudoseg import distribution_alignment
from core.tasks import base as task_base
from core.tasks.options import base


@base.register
class DistributionAlignment(base.Option):
  """The fused probability times (labeled marginal / teacher's marginal)."""

  section = 'alignment'

  state_setting = ('alignment.distribution_alignment', 'class marginals')

  def __init__(self, num_classes, momentum, marginals=None):
    """`marginals`: a core.pseudoseg.distribution_alignment.DistributionAlignment
    to use as it is; default: `build` makes one, both marginals uniform."""
    self.num_classes = num_classes
    self.momentum = momentum
    self.marginals = marginals

  @classmethod
  def from_config(cls, cfg, num_classes, ignore_label):
    del ignore_label
    momentum = cfg.alignment.distribution_alignment
    return cls(num_classes, momentum) if momentum else None

  def build(self, model, build_model):
    del model, build_model
    if self.marginals is None:
      self.marginals = distribution_alignment.DistributionAlignment(
          self.num_classes, self.momentum)

  def checkpoint_items(self):
    return {'distribution_alignment': self.marginals}

  def align(self, prob, ctx, update=True):
    # The marginals follow this batch first (ReMixMatch), over the weak views'
    # valid pixels and the labeled pixels.
    if update:
      self.marginals.update(
          prob, task_base.resize_mask(ctx.unl['weak_valid'],
                                      tf.shape(prob)[1:3]),
          ctx.lab['label'])
    return self.marginals.align(prob)
