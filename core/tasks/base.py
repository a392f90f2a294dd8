"""What every task shares: the model it builds and the mechanics of one step.

A task is one training algorithm, in the manner of Model Garden's
`official/core/base_task.Task`: it builds its model and any state beside it, runs one
replicated training step, and names its metrics and checkpoint items. The generic loop
(core/training/trainer.py) asks it for these and knows no algorithm and no option.

Losses are per-replica means; the total is divided by the number of replicas before
the gradient because the strategy sums gradients across replicas. With gradient
accumulation a step's batch holds several micro-batches (core/tasks/micro_batches.py);
a task computes the gradients of one in `gradients`, and `train_step` applies their
mean once.
"""

import tensorflow as tf

from core.modeling import model as model_lib
from core.tasks import micro_batches


def regularization(model):
  """The sum of the model's weight-decay losses (0 when it has none)."""
  if not model.losses:
    return tf.constant(0.0)
  return tf.add_n([tf.cast(l, tf.float32) for l in model.losses])


def scale_loss(optimizer, total):
  """The loss to differentiate; call inside the tape.

  Gradients are summed across replicas, so each replica contributes 1/N; under
  float16 the loss-scale optimizer scales it further.
  """
  scaled = total / tf.distribute.get_strategy().num_replicas_in_sync
  if isinstance(optimizer, tf.keras.mixed_precision.LossScaleOptimizer):
    scaled = optimizer.get_scaled_loss(scaled)
  return scaled


def gradients(model, optimizer, tape, scaled_loss):
  """The gradients of `scaled_loss`, one per trainable variable (None where
  the loss does not reach it), unscaled under float16."""
  grads = tape.gradient(scaled_loss, model.trainable_variables)
  if isinstance(optimizer, tf.keras.mixed_precision.LossScaleOptimizer):
    grads = optimizer.get_unscaled_gradients(grads)
  return grads


def apply_gradients(model, optimizer, grads):
  """Applies `grads` (from `gradients`) to the variables they reach."""
  pairs = [(g, v) for g, v in zip(grads, model.trainable_variables)
           if g is not None]
  if not pairs:
    raise ValueError('No variable receives a gradient from the loss.')
  optimizer.apply_gradients(pairs)


def step_seed(optimizer, seed, micro=None, num_micro=1):
  """[2] int64 stateless seed of this step and replica (the same on resume).

  With gradient accumulation, micro-batch `micro` of `num_micro` has its own:
  the counter is then step * num_micro + micro.
  """
  replica = tf.distribute.get_replica_context().replica_id_in_sync_group
  counter = tf.cast(optimizer.iterations, tf.int64)
  if micro is not None:
    counter = counter * num_micro + micro
  return tf.stack([counter, seed * 4096 + tf.cast(replica, tf.int64)])


def resize_label(label, size):
  """[B,H,W,1] label (or mask) to [B,h,w] by nearest neighbour."""
  return tf.image.resize(label, size, method='nearest')[..., 0]


def resize_mask(mask, size):
  """[B,H,W] float mask to [B,h,w] by nearest neighbour."""
  return resize_label(mask[..., None], size)


class Task(object):
  """An algorithm the generic loop trains.

  Args:
    cfg: the run's core.config.ExperimentConfig.
    num_classes: classes of the data set, the background included.
    ignore_label: the label id no loss sees.
    palette: [num_classes, 3] uint8 colours of the pictures.
  """

  def __init__(self, cfg, num_classes, ignore_label=255, palette=None):
    self.cfg = cfg
    self.num_classes = num_classes
    self.ignore_label = ignore_label
    self.palette = palette

  def build_model(self):
    """The task's model, variables created (call in the strategy's scope)."""
    return model_lib.build_model(self.cfg.model, self.num_classes,
                                 crop_size=tuple(self.cfg.data.crop_size))

  def build_state(self, model):
    """Builds what trains beside `model` (call in the strategy's scope, after
    the model's initialisation); nothing by default."""
    del model

  def train_step(self, model, optimizer, batch):
    """One replica's step: one update, from the mean gradient of
    cfg.train.grad_accum_steps micro-batches of `batch`; returns the named
    scalars (their mean over the micro-batches)."""
    num_micro = self.cfg.train.grad_accum_steps
    if num_micro == 1:
      grads, outputs, state = self.gradients(model, optimizer, batch)
    else:
      grads, outputs, state = micro_batches.accumulate(
          lambda part, index: self.gradients(model, optimizer, part, index),
          batch, num_micro)
    apply_gradients(model, optimizer, grads)
    self.after_update(model, state)
    return outputs

  def gradients(self, model, optimizer, batch, micro=None):
    """The gradients of one (micro-)batch, before any update.

    Args:
      model, optimizer: the trained model and its optimizer.
      batch: the (micro-)batch.
      micro: its index among the step's micro-batches (None without
        accumulation), for its random seed (`micro_seed`).

    Returns:
      (grads, one per model.trainable_variables, as `gradients` gives them;
      dict of named scalars; state for `after_update`).
    """
    raise NotImplementedError

  def after_update(self, model, state):
    """Runs once per step after the optimizer's update; nothing by default."""
    del model, state

  def micro_seed(self, optimizer, micro):
    """The stateless seed of this step's micro-batch `micro` (`step_seed`)."""
    return step_seed(optimizer, self.cfg.train.seed, micro,
                     self.cfg.train.grad_accum_steps)

  def metric_names(self):
    """Names of `train_step`'s outputs the loop averages and logs."""
    raise NotImplementedError

  def checkpoint_items(self):
    """{name: trackable} saved beside the model and optimizer."""
    return {}

  def state_settings(self):
    """(setting, what) pairs whose state is part of a checkpoint: such a
    setting cannot be turned on or off when a run resumes."""
    return ()

  def images_per_step(self):
    """Global images one step consumes (for the images/s figure)."""
    return self.cfg.train.batch_size * self.cfg.train.grad_accum_steps

  def image_summaries(self, model, batch):
    """{name: [N,H,W,3] float in [0, 1]} pictures of a batch for TensorBoard."""
    raise NotImplementedError
