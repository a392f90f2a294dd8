"""What every task shares: the model it builds and the mechanics of one step.

A task is one training algorithm, in the manner of Model Garden's
`official/core/base_task.Task`: it builds its model and any state beside it, runs one
replicated training step, and names its metrics and checkpoint items. The generic loop
(core/training/trainer.py) asks it for these and knows no algorithm and no option.

Losses are per-replica means; the total is divided by the number of replicas before
the gradient because the strategy sums gradients across replicas.
"""

import tensorflow as tf

from core.modeling import model as model_lib


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


def apply_gradients(model, optimizer, tape, scaled_loss):
  """Applies the gradient of `scaled_loss` to the variables it reaches."""
  variables = model.trainable_variables
  grads = tape.gradient(scaled_loss, variables)
  if isinstance(optimizer, tf.keras.mixed_precision.LossScaleOptimizer):
    grads = optimizer.get_unscaled_gradients(grads)
  pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
  if not pairs:
    raise ValueError('No variable receives a gradient from the loss.')
  optimizer.apply_gradients(pairs)


def step_seed(optimizer, seed):
  """[2] int64 stateless seed of this step and replica (the same on resume)."""
  replica = tf.distribute.get_replica_context().replica_id_in_sync_group
  return tf.stack([tf.cast(optimizer.iterations, tf.int64),
                   seed * 4096 + tf.cast(replica, tf.int64)])


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
    """One replica's step; applies its gradients, returns named scalars."""
    raise NotImplementedError

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
    return self.cfg.train.batch_size

  def image_summaries(self, model, batch):
    """{name: [N,H,W,3] float in [0, 1]} pictures of a batch for TensorBoard."""
    raise NotImplementedError
