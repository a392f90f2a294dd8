"""Compiled training steps, timed as TrainLoop runs them: `steps` iterations of
`strategy.run(step, next(iterator))` inside one tf.function, on real input.

Three steps on one model, batch and crop: ours supervised, ours PseudoSeg (equal
labeled and unlabeled batches), and Model Garden's own
`SemanticSegmentationTask.train_step`.

FLOPs: tf.compat.v1.profiler's float_ops counted on the traced graph of one
forward pass (inference mode) of the batch; a trained pass costs 3 forwards
(forward, and a backward of twice its cost), the convention of MLPerf and the
scaling literature. On the whole step's graph the profiler counts about 3 times
that again (its gradient-op statistics are not meant for this), so it is not
used.
"""

import functools
import time

import tensorflow as tf

from official.vision.configs import semantic_segmentation as mg_config
from official.vision.tasks import semantic_segmentation as mg_task


def loop_timer(strategy, step_fn, dataset, steps):
  """fn() -> seconds per step of `steps` compiled steps (the first call traces).

  Args:
    strategy: the strategy the model was built under.
    step_fn: `step_fn(batch) -> dict of scalars`, run in replica context.
    dataset: a tf.data.Dataset of per-replica batches (repeated).
    steps: steps per timed call.
  """
  iterator = iter(strategy.experimental_distribute_dataset(dataset))

  @tf.function
  def loop(num_steps):
    out = None
    for _ in tf.range(num_steps):
      out = strategy.run(step_fn, args=(next(iterator),))
    return out

  def measure():
    start = time.perf_counter()
    out = loop(tf.constant(steps))
    tf.nest.map_structure(lambda t: t.numpy(),
                          strategy.experimental_local_results(out))
    return (time.perf_counter() - start) / steps

  return measure


def model_garden_step(model, optimizer, ignore_label):
  """Model Garden's SemanticSegmentationTask.train_step on our model and batch.

  Its loss: softmax cross-entropy with the ignore label, logits resized to the
  label size (use_groundtruth_dimension), plus model.losses (our weight decay):
  the loss our supervised step takes.
  """
  task = mg_task.SemanticSegmentationTask(mg_config.SemanticSegmentationTask(
      losses=mg_config.Losses(ignore_label=ignore_label,
                              use_groundtruth_dimension=True)))

  def step(batch):
    labels = {'masks': batch['label'],
              'valid_masks': tf.not_equal(batch['label'], ignore_label)}
    logs = task.train_step((batch['image'], labels), model, optimizer)
    return {'loss': logs[task.loss]}

  return step


def forward_flops(model, images):
  """Float operations of one inference-mode forward pass of `images`."""
  fn = tf.function(lambda x: model(x, training=False)).get_concrete_function(
      tf.TensorSpec(images.shape, images.dtype))
  options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
  options['output'] = 'none'
  logger = tf.get_logger()
  level = logger.level
  logger.setLevel('ERROR')  # The v1 profiler's deprecation notices.
  try:
    profile = tf.compat.v1.profiler.profile(fn.graph, options=options)
  finally:
    logger.setLevel(level)
  return int(profile.total_float_ops)


def matmul_timer(n, dtype, repeats_inside=10):
  """fn() -> GFLOP/s of an n x n matmul in a compiled loop."""
  a = tf.random.stateless_normal([n, n], seed=[1, 2], dtype=tf.float32)
  a = tf.cast(a, dtype)
  b = tf.cast(tf.random.stateless_normal([n, n], seed=[3, 4]), dtype)

  @tf.function
  def loop():
    acc = tf.zeros([], dtype)
    for _ in tf.range(repeats_inside):
      acc += tf.reduce_sum(tf.matmul(a, b)[:1, :1])
    return acc

  def measure():
    start = time.perf_counter()
    loop().numpy()
    return 2.0 * n**3 * repeats_inside / (time.perf_counter() - start) / 1e9

  return measure


def bind(task, model, optimizer):
  """The task's train_step as `fn(batch)`."""
  return functools.partial(task.train_step, model, optimizer)
