"""The pieces the PseudoSeg step is composed of, and their registry.

An option is a small object that owns its config section (core/config.py, read in
`from_config`), its state (`build`, `checkpoint_items`), its metric names and its part of
the step. The step runs
its phases in a fixed order and, in each, asks every option; an option implements the
hooks of the phases it takes part in and inherits no-ops for the others:

  teacher      which model makes the pseudo labels (the EMA teacher)
  align        re-weights the fused probability before sharpening
  replace      may replace the pseudo label of some images (a diagnostic oracle)
  mix          mixes the strong views and their labels (CutMix)
  student_inputs  extra inputs of the student pass (feature dropout)
  consistency_scale  a factor of the consistency weight (ramp-up)
  after_update runs after the optimizer's update (the EMA teacher follows)
  metrics      named scalars of the step

Adding an option is a module in this package with a class decorated by `@register`
(or, for a research tool, a module of the research package that cli/ imports), its
section in core/config.py (and in cli/flags.py's PSEUDOSEG_SECTIONS), and its test.
"""

import tensorflow as tf

from core import config as config_lib

_REGISTRY = []


def register(cls):
  """Class decorator: the PseudoSeg task builds this option from the config."""
  if cls not in _REGISTRY:
    _REGISTRY.append(cls)
  return cls


def from_config(cfg, num_classes, ignore_label):
  """The options `cfg` turns on, in registration order.

  Raises:
    ValueError: an option section of `cfg` is set but no registered option
      reads it (its module was not imported): it would be ignored silently.
  """
  read = {cls.section for cls in _REGISTRY}
  defaults = config_lib.ExperimentConfig()
  for name in config_lib.OPTION_SECTIONS:
    if name not in read and getattr(cfg, name) != getattr(defaults, name):
      raise ValueError(
          'The config sets %r (%s) but no option of the PseudoSeg task reads '
          'it; import the module that registers it (cli/experiment_lib does).'
          % (name, getattr(cfg, name)))
  built = [cls.from_config(cfg, num_classes, ignore_label) for cls in _REGISTRY]
  return [option for option in built if option is not None]


def state_settings():
  """(setting, what) of every registered option whose state is checkpointed."""
  return tuple(cls.state_setting for cls in _REGISTRY if cls.state_setting)


class StepContext(object):
  """What the phases of one PseudoSeg step share (plain attributes).

  Attributes:
    seed: [2] int64 stateless seed of the step; `stream(k)` folds in k.
    step: the optimizer's iteration counter.
    lab: the labeled sub-batch.
    unl: the unlabeled sub-batch (options may replace it with a mixed one).
    teacher_outputs: the teacher's outputs on the weak views.
    weak_pseudo, weak_weight: the fused pseudo label and weight of the weak
      views, as the teacher made them.
    pseudo, weight: the label and weight the student is trained on.
    consistency_weight: the consistency loss's weight of this step.
  """

  def __init__(self, seed, step, lab, unl):
    self.seed = seed
    self.step = step
    self.lab = lab
    self.unl = unl
    self.teacher_outputs = None
    self.weak_pseudo = self.weak_weight = None
    self.pseudo = self.weight = None
    self.consistency_weight = None

  def stream(self, index):
    """The seed of one random stream of the step (one stream per draw)."""
    return tf.random.experimental.stateless_fold_in(self.seed, index)


class Option(object):
  """One piece of the PseudoSeg step; every hook is a no-op here."""

  # The name of the ExperimentConfig section the option reads.
  section = ''

  # Names of the scalars `metrics` returns, in the order they are logged.
  metric_names = ()
  # (setting, what) when the option's state is part of the checkpoint, e.g.
  # ('ema_teacher.ema_decay', 'an EMA teacher'): it cannot appear or vanish
  # when a run resumes.
  state_setting = None
  # Whether the option reads the unlabeled images' own masks ('weak_label').
  needs_unlabeled_masks = False

  @classmethod
  def from_config(cls, cfg, num_classes, ignore_label):
    """The option with its settings, or None when `cfg` leaves it off."""
    raise NotImplementedError

  def build(self, model, build_model):
    """Creates the option's state beside `model` (in the strategy's scope).

    Args:
      model: the trained model, initialised.
      build_model: a function that builds another model of the same config.
    """

  def checkpoint_items(self):
    return {}

  def teacher(self):
    """The model that makes the pseudo labels, or None for the model itself."""
    return None

  def align(self, prob, ctx, update=True):
    """Re-weights the fused [B,h,w,C] probability; `update` moves its state."""
    del ctx, update
    return prob

  def replace(self, ctx):
    """May set ctx.pseudo and ctx.weight for some images."""

  def mix(self, ctx):
    """May set ctx.unl, ctx.pseudo and ctx.weight together."""

  def student_inputs(self, ctx, num_labeled, model):
    """Extra keyword arguments of the student's model call."""
    del ctx, num_labeled, model
    return {}

  def consistency_scale(self, ctx):
    """A factor of the consistency loss's weight this step."""
    del ctx
    return 1.0

  def after_update(self, model, ctx):
    """Runs after the optimizer has updated `model`."""

  def metrics(self, ctx):
    """{name: scalar} for `metric_names`."""
    del ctx
    return {}

  def pictures(self, ctx, palette):
    """{name: [N,H,W,3] picture} of what the option does, for TensorBoard."""
    del ctx, palette
    return {}
