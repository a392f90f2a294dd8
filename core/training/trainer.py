"""The training loop shared by `train_sup.py` and `train_wss.py`.

The step function, its metric names and its checkpoint items come from a task
(core/tasks/), which knows the algorithm. This module knows no algorithm and no option;
it owns everything around the step: the distribution strategy, the optimizer,
checkpoints and resume (step, optimizer slots and data position), TensorBoard
summaries, the progress line and the NaN check (of the logged metrics and of every
variable before it is saved: no checkpoint holds a NaN or an inf). Checkpoints,
summaries and metric resets stay in Python, outside the inner `tf.function` that
runs `steps_per_loop` replicated steps.
"""

import math
import os
import time

from absl import logging
import numpy as np
import tensorflow as tf

from core.training import finiteness
from core.training import schedules

def split_cpu(num_devices):
  """Splits the CPU into `num_devices` logical devices (0: leaves it whole).

  A binary's first TensorFlow call, before anything initialises the devices:
  --strategy=mirrored --cpu_replicas=N then rehearses N replicas on a CPU.
  Nothing changes where a GPU is found, or once the split is made.

  Raises:
    RuntimeError: the devices were initialised already with another split.
  """
  if not num_devices or tf.config.list_physical_devices('GPU'):
    return
  cpu = tf.config.list_physical_devices('CPU')[0]
  wanted = [tf.config.LogicalDeviceConfiguration()] * num_devices
  if len(tf.config.get_logical_device_configuration(cpu) or []) != num_devices:
    tf.config.set_logical_device_configuration(cpu, wanted)


def get_strategy(name, tpu='', cpu_replicas=0):
  """Returns the tf.distribute strategy named by `name`.

  Args:
    name: 'default' (one device), 'mirrored' (all local GPUs or logical devices),
      'multi_worker' (MultiWorkerMirroredStrategy; cluster from TF_CONFIG) or 'tpu'.
    tpu: TPU name or address for 'tpu' ('' = local / from the environment).
    cpu_replicas: for 'mirrored' where no GPU is found: mirror over this many
      logical CPU devices (`split_cpu`; 0: the devices TensorFlow finds).
  """
  if name == 'default':
    return tf.distribute.get_strategy()
  if name == 'mirrored':
    if cpu_replicas and not tf.config.list_physical_devices('GPU'):
      split_cpu(cpu_replicas)
      return tf.distribute.MirroredStrategy(
          ['/cpu:%d' % i for i in range(cpu_replicas)])
    return tf.distribute.MirroredStrategy()
  if name == 'multi_worker':
    return tf.distribute.MultiWorkerMirroredStrategy()
  if name == 'tpu':
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)
  raise ValueError('Unknown strategy %r (default, mirrored, multi_worker, tpu)' %
                   name)


def set_precision(policy):
  """Sets the Keras global dtype policy ('' keeps float32)."""
  tf.keras.mixed_precision.set_global_policy(policy or 'float32')


def make_optimizer(train_cfg):
  """SGD with momentum (or Adam) on a poly schedule, optionally warmed up."""
  lr = schedules.PolynomialDecayWithWarmup(
      base_learning_rate=train_cfg.base_learning_rate,
      decay_steps=train_cfg.train_steps,
      end_learning_rate=train_cfg.end_learning_rate,
      power=train_cfg.lr_power,
      warmup_steps=train_cfg.warmup_steps)
  if train_cfg.optimizer == 'sgd':
    optimizer = tf.keras.optimizers.SGD(learning_rate=lr,
                                        momentum=train_cfg.momentum)
  elif train_cfg.optimizer == 'adam':
    optimizer = tf.keras.optimizers.Adam(learning_rate=lr)
  else:
    raise ValueError('Unknown optimizer %r (sgd, adam)' % train_cfg.optimizer)
  if train_cfg.mixed_precision == 'mixed_float16':
    optimizer = tf.keras.mixed_precision.LossScaleOptimizer(optimizer)
  return optimizer


def _format_duration(seconds):
  seconds = int(max(seconds, 0))
  if seconds >= 3600:
    return '%dh%02dm' % (seconds // 3600, seconds % 3600 // 60)
  if seconds >= 60:
    return '%dm%02ds' % (seconds // 60, seconds % 60)
  return '%ds' % seconds


def _worker_dir(strategy, model_dir):
  resolver = getattr(strategy, 'cluster_resolver', None)
  if resolver is None or not resolver.task_type:
    return model_dir
  is_chief = (resolver.task_type == 'chief' or
              (resolver.task_type == 'worker' and resolver.task_id == 0 and
               'chief' not in resolver.cluster_spec().as_dict()))
  if is_chief:
    return model_dir
  return os.path.join(model_dir, 'workers', '%s_%d' % (resolver.task_type,
                                                       resolver.task_id))


def remove_interrupted_saves(model_dir, checkpoint_name='ckpt'):
  """Removes what checkpoint saves killed midway left in `model_dir`.

  TensorFlow writes a checkpoint into PREFIX_temp/ and moves it into place once
  complete, so a save killed midway (SIGKILL, a preempted machine) leaves that
  directory behind and the checkpoints before it intact.

  Returns:
    The paths removed.
  """
  pattern = os.path.join(model_dir, '%s-*_temp' % checkpoint_name)
  removed = [p for p in sorted(tf.io.gfile.glob(pattern))
             if tf.io.gfile.isdir(p)]
  for path in removed:
    tf.io.gfile.rmtree(path)
    logging.warning('Removed %s, left by a checkpoint save that was '
                    'interrupted; the checkpoints before it are intact.', path)
  return removed


class TrainLoop(object):
  """Runs a replicated step function with checkpoints, summaries and progress.

  Args:
    strategy: a tf.distribute.Strategy; the model and optimizer were built in its
      scope.
    model: the Keras model.
    optimizer: its optimizer; `optimizer.iterations` is the global step.
    step_fn: `step_fn(batch) -> dict of scalar tensors`, run in replica context; it
      applies gradients itself and reports at least 'loss'.
    dataset_fn: `dataset_fn(input_context, start_step) -> tf.data.Dataset` of
      per-replica batches, whose order continues from `start_step` (the data
      position on resume).
    model_dir: run directory (checkpoints, config.json, TensorBoard).
    train_cfg: core.config.TrainConfig.
    images_per_step: global images consumed per step (for the images/s figure).
    image_summary_fn: optional `fn(batch) -> dict name: [N,H,W,3] float in [0,1]`,
      run in replica context on the first replica's batch for TensorBoard pictures.
    checkpoint_objects: optional {name: trackable} saved and restored beside the
      model and optimizer (e.g. an EMA teacher).
  """

  def __init__(self, strategy, model, optimizer, step_fn, dataset_fn, model_dir,
               train_cfg, images_per_step, image_summary_fn=None,
               checkpoint_objects=None):
    self._strategy = strategy
    self._model = model
    self._optimizer = optimizer
    self._step_fn = step_fn
    self._dataset_fn = dataset_fn
    # Every worker of a multi-worker run saves (saving is collective), but only the
    # chief writes into model_dir; the others write to a scratch sub-directory.
    model_dir = _worker_dir(strategy, model_dir)
    self._model_dir = model_dir
    self._cfg = train_cfg
    self._images_per_step = images_per_step
    # One tf.function for every picture step (a new one per call would retrace the
    # model each time); None without pictures.
    self._vis_fn = None
    if image_summary_fn is not None:
      self._vis_fn = tf.function(autograph=False)(
          lambda batch: strategy.run(image_summary_fn, args=(batch,)))
    self._metrics = {}
    self._saved_items = dict(model=model, optimizer=optimizer,
                             **(checkpoint_objects or {}))
    self._checkpoint = tf.train.Checkpoint(**self._saved_items)
    self._manager = tf.train.CheckpointManager(
        self._checkpoint, model_dir, max_to_keep=train_cfg.keep_checkpoints,
        step_counter=optimizer.iterations,
        checkpoint_interval=train_cfg.checkpoint_every)
    self._writer = tf.summary.create_file_writer(os.path.join(model_dir, 'train'))

  @property
  def global_step(self):
    return int(self._optimizer.iterations.numpy())

  def restore(self):
    """Restores the latest checkpoint if any; returns the step it resumes from.

    First removes the leftovers of a save that was interrupted.
    """
    remove_interrupted_saves(self._model_dir)
    path = self._manager.latest_checkpoint
    if path:
      status = self._checkpoint.restore(path)
      try:
        status.assert_existing_objects_matched()
      except AssertionError as e:
        raise ValueError(
            '%s does not hold everything this run saves (written with other '
            'flags?); use a new --model_dir. %s' %
            (path, e)) from e
      bad = self._non_finite()
      if bad:
        raise ValueError(
            '%s holds NaN or infinite values (%s): the run had diverged before '
            'it was saved. Resume from an earlier checkpoint of %s (edit its '
            '"checkpoint" file) or use a new --model_dir.' %
            (path, finiteness.describe(bad), self._model_dir))
      logging.info('Resumed from %s at step %d.', path, self.global_step)
    return self.global_step

  def _non_finite(self):
    """Names of the saved variables holding a NaN or an inf."""
    return finiteness.non_finite(finiteness.saved_variables(self._saved_items))

  def _diverged(self, step, what):
    latest = self._manager.latest_checkpoint
    return FloatingPointError(
        'Training diverged at step %d: %s. The last good checkpoint is %s; '
        'lower --base_learning_rate or check the data.' %
        (step, what, latest if latest else 'none (none was saved yet)'))

  def _metric(self, name):
    if name not in self._metrics:
      with self._strategy.scope():
        self._metrics[name] = tf.keras.metrics.Mean(name)
    return self._metrics[name]

  def _build_loop_fn(self, iterator, metric_names):
    strategy = self._strategy
    step_fn = self._step_fn
    if self._cfg.jit_compile:
      # The step alone: the iterator and the metrics stay outside XLA.
      step_fn = tf.function(step_fn, jit_compile=True, autograph=False)
    metrics = [self._metric(n) for n in metric_names]

    def replica_step(batch):
      out = step_fn(batch)
      for name, m in zip(metric_names, metrics):
        m.update_state(out[name])

    # The project's graph code is written without Python branches on tensors,
    # so AutoGraph's source conversion (of the step, the model's layers and
    # what they call) is skipped: it would only add seconds to every start.
    @tf.function(autograph=False)
    def loop_fn(num_steps):

      def body(i):
        strategy.run(replica_step, args=(next(iterator),))
        return (i + 1,)

      tf.while_loop(lambda i: i < num_steps, body, (tf.constant(0),))

    return loop_fn

  def _image_summaries(self, iterator, step):
    if self._vis_fn is None:
      return
    pictures = self._vis_fn(next(iterator))
    with self._writer.as_default(step=step):
      for name, value in pictures.items():
        local = self._strategy.experimental_local_results(value)[0]
        tf.summary.image(name, local, max_outputs=4)

  def run(self, metric_names):
    """Trains to `train_cfg.train_steps`, resuming from the latest checkpoint.

    Args:
      metric_names: names of the step function's outputs to average and log;
        'loss' must be among them.

    Returns:
      dict of the last logged metric values (floats).

    Raises:
      FloatingPointError: a logged metric or a variable to save became NaN or
        infinite; the message names the last checkpoint saved (all finite).
    """
    cfg = self._cfg
    start_step = self.restore()
    if start_step >= cfg.train_steps:
      logging.info('Already trained to step %d.', start_step)
      return {}
    dataset = self._strategy.distribute_datasets_from_function(
        lambda ctx: self._dataset_fn(ctx, start_step))
    iterator = iter(dataset)
    loop_fn = self._build_loop_fn(iterator, metric_names)
    vis_iterator = iter(self._strategy.distribute_datasets_from_function(
        lambda ctx: self._dataset_fn(ctx, start_step))) \
        if self._vis_fn else None

    step = start_step
    last = {}
    t_start = time.time()
    steps_timed = 0
    while step < cfg.train_steps:
      num_steps = min(cfg.steps_per_loop, cfg.train_steps - step)
      t0 = time.time()
      loop_fn(tf.constant(num_steps))
      step = self.global_step
      dt = time.time() - t0
      # The first loop includes tracing; leave it out of the throughput figure.
      if step - start_step > num_steps:
        steps_timed += num_steps
      else:
        t_start = time.time()
      last = {n: float(self._metrics[n].result().numpy()) for n in metric_names}
      for m in self._metrics.values():
        m.reset_state()
      bad = [n for n, v in last.items() if not math.isfinite(v)]
      if bad:
        raise self._diverged(step, '%s became %s' % (
            ', '.join(bad), [last[n] for n in bad]))
      # The loss may stay finite while a batch-norm moving variance or an
      # optimizer slot overflows: every variable of the checkpoint is checked
      # before it is saved, so no checkpoint holds a NaN or an inf.
      bad = self._non_finite()
      if bad:
        raise self._diverged(step, 'saved variables became NaN or infinite '
                             '(%s), nothing of them was saved' %
                             finiteness.describe(bad))
      lr = float(self._learning_rate(step))
      elapsed = time.time() - t_start
      rate = (steps_timed * self._images_per_step / elapsed
              if steps_timed and elapsed > 0 else
              num_steps * self._images_per_step / max(dt, 1e-9))
      steps_per_s = rate / self._images_per_step
      eta = (cfg.train_steps - step) / max(steps_per_s, 1e-9)
      logging.info('step %d/%d | %s | lr %.5f | %.1f img/s | ETA %s', step,
                   cfg.train_steps,
                   ' '.join('%s %.4f' % (n, last[n]) for n in metric_names), lr,
                   rate, _format_duration(eta))
      if (step % cfg.summary_every < num_steps or step >= cfg.train_steps):
        with self._writer.as_default(step=step):
          for n, v in last.items():
            tf.summary.scalar('losses/' + n if 'loss' in n else 'metrics/' + n, v)
          tf.summary.scalar('learning_rate', lr)
          tf.summary.scalar('images_per_second', rate)
      if vis_iterator is not None and (
          step % cfg.image_summary_every < num_steps or step >= cfg.train_steps):
        self._image_summaries(vis_iterator, step)
      self._manager.save(checkpoint_number=step,
                         check_interval=step < cfg.train_steps)
    self._writer.flush()
    return last

  def _learning_rate(self, step):
    lr = self._optimizer.learning_rate
    if isinstance(lr, tf.keras.optimizers.schedules.LearningRateSchedule):
      return lr(step)
    return np.asarray(lr)
