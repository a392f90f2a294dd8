"""Ramp-up of the consistency weight (an option; Laine & Aila 2017)."""

from core.tasks.options import base
from core.training import schedules


@base.register
class ConsistencyRampup(base.Option):
  """The consistency weight rises from e^-5 of its value to all of it."""

  section = 'rampup'

  metric_names = ('unsup_weight',)  # The consistency weight of the step.

  def __init__(self, steps):
    self.steps = steps

  @classmethod
  def from_config(cls, cfg, num_classes, ignore_label):
    del num_classes, ignore_label
    steps = cfg.rampup.unsup_rampup_steps
    return cls(steps) if steps else None

  def consistency_scale(self, ctx):
    return schedules.sigmoid_rampup(ctx.step, self.steps)

  def metrics(self, ctx):
    return {'unsup_weight': ctx.consistency_weight}
