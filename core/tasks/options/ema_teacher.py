"""EMA teacher (an option; Tarvainen & Valpola 2017): pseudo labels from a moving
average of the model instead of the model itself (the official recipe)."""

from core.pseudoseg import ema
from core.tasks.options import base


@base.register
class EmaTeacher(base.Option):
  """The teacher follows the model after every update with a ramped decay."""

  section = 'ema_teacher'

  state_setting = ('ema_teacher.ema_decay', 'an EMA teacher')

  def __init__(self, decay, teacher=None):
    """`teacher`: a model of the run's config to use as the teacher as it is
    (e.g. restored elsewhere); default: `build` makes a copy of the model."""
    self.decay = decay
    self._teacher = teacher

  @classmethod
  def from_config(cls, cfg, num_classes, ignore_label):
    del num_classes, ignore_label
    return cls(cfg.ema_teacher.ema_decay) if cfg.ema_teacher.ema_decay else None

  def build(self, model, build_model):
    # A copy of the model as initialised (or as --init_checkpoint left it); a
    # resumed run then restores the teacher from its checkpoint.
    if self._teacher is None:
      self._teacher = build_model()
      ema.copy_variables(self._teacher.variables, model.variables)

  def checkpoint_items(self):
    return {'teacher': self._teacher}

  def teacher(self):
    return self._teacher

  def after_update(self, model, ctx):
    ema.update(self._teacher.variables, model.variables,
               ema.ema_decay(self.decay, ctx.step))
