"""The training loop shared by `train_sup.py` and `train_wss.py`.

The step function, its metric names and its checkpoint items come from a task
(core/tasks/), which knows the algorithm. This module knows no algorithm and no option;
it owns everything around the step: the distribution strategy, the optimizer,
checkpoints and resume (step, optimizer slots and data position), TensorBoard
summaries, the progress line and the NaN check. Checkpoints, summaries and metric resets stay in Python,
outside the inner `tf.function` that runs `steps_per_loop` replicated steps.
"""

import json
import math
import os
import time

from absl import logging
import numpy as np
import tensorflow as tf

from core import config as config_lib
from core.modeling import model as model_lib
from core.training import schedules

CONFIG_FILENAME = 'config.json'
# Settings a resumed run replaced, one JSON line each (check_model_dir).
CONFIG_HISTORY_FILENAME = 'config_history.jsonl'


def get_strategy(name, tpu=''):
  """Returns the tf.distribute strategy named by `name`.

  Args:
    name: 'default' (one device), 'mirrored' (all local GPUs or logical devices),
      'multi_worker' (MultiWorkerMirroredStrategy; cluster from TF_CONFIG) or 'tpu'.
    tpu: TPU name or address for 'tpu' ('' = local / from the environment).
  """
  if name == 'default':
    return tf.distribute.get_strategy()
  if name == 'mirrored':
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


def check_model_dir(model_dir, cfg, num_classes, state_settings=()):
  """Writes the resolved config, or checks it against the one already there.

  A model_dir that already holds a checkpoint of another model (other backbone, heads
  or classes) is refused with a clear message instead of a shape error deep inside
  the restore. Other settings may change on resume (a longer schedule, say): each
  change is logged, and the superseded config is appended to config_history.jsonl.

  Args:
    model_dir: the run directory.
    cfg: the run's ExperimentConfig.
    num_classes: classes the model predicts.
    state_settings: (setting, what) pairs, e.g. ('ema_teacher.ema_decay', 'an
      EMA teacher'): settings that add state to the checkpoint when on (the
      task's `state_settings()`); they cannot be turned on or off on resume.

  Raises:
    ValueError: model_dir holds a checkpoint of another model.
  """
  tf.io.gfile.makedirs(model_dir)
  path = os.path.join(model_dir, CONFIG_FILENAME)
  record = json.loads(cfg.to_json())
  record['num_classes'] = num_classes
  latest = tf.train.latest_checkpoint(model_dir)
  if latest and tf.io.gfile.exists(path):
    with tf.io.gfile.GFile(path) as f:
      old = _with_current_defaults(json.load(f))
    mismatched = [
        'model.%s: %r (saved) vs %r (now)' % (k, old.get('model', {}).get(k), v)
        for k, v in record['model'].items() if old.get('model', {}).get(k) != v]
    if old.get('num_classes') != num_classes:
      mismatched.append('num_classes: %r (saved) vs %r (now)' %
                        (old.get('num_classes'), num_classes))
    for setting, what in state_settings:
      section, key = setting.split('.')
      old_value = old.get(section, {}).get(key)
      new_value = record.get(section, {}).get(key)
      if bool(old_value) != bool(new_value):
        mismatched.append('%s: %r (saved) vs %r (now), %s in one checkpoint and '
                          'not the other' % (setting, old_value, new_value, what))
    if mismatched:
      raise ValueError(
          '%s holds a checkpoint of another model; use a new --model_dir or the '
          'same model flags. Differences: %s' % (model_dir, '; '.join(mismatched)))
    changed = settings_changes(old, record)
    if changed:
      # Legitimate (a longer schedule, another learning rate), but never silent:
      # the superseded settings are kept, with the checkpoint they stopped at.
      logging.warning('Resuming %s with changed settings: %s', model_dir,
                      '; '.join(changed))
      _append_history(model_dir, {'until_checkpoint': os.path.basename(latest),
                                  'config': old})
  with tf.io.gfile.GFile(path + '.tmp', 'w') as f:
    json.dump(record, f, indent=2, sort_keys=True)
  tf.io.gfile.rename(path + '.tmp', path, overwrite=True)


def _append_history(model_dir, entry):
  """Appends `entry` to config_history.jsonl, once per checkpoint.

  Every worker of a multi-worker run checks the same model_dir; the first one to
  get here records the superseded config, the others find it there.
  """
  path = os.path.join(model_dir, CONFIG_HISTORY_FILENAME)
  line = json.dumps(entry, sort_keys=True)
  if tf.io.gfile.exists(path):
    with tf.io.gfile.GFile(path) as f:
      if line in f.read().splitlines():
        return
  with tf.io.gfile.GFile(path, 'a') as f:
    f.write(line + '\n')


def _with_current_defaults(record):
  """A saved config record, settings added since it was written at their default.

  A run made before a setting existed ran with what is now its default (which
  is how `config_lib.from_dict` reads it), so resuming it is no change.
  """
  completed = json.loads(config_lib.from_dict(record).to_json())
  completed['num_classes'] = record.get('num_classes')
  return completed


def settings_changes(old, new, prefix=''):
  """'key: old -> new' for every leaf of two config records that differs."""
  changes = []
  for key in sorted(set(old) | set(new)):
    a, b = old.get(key), new.get(key)
    if isinstance(a, dict) and isinstance(b, dict):
      changes += settings_changes(a, b, prefix + key + '.')
    elif a != b:
      changes.append('%s%s: %r -> %r' % (prefix, key, a, b))
  return changes


def load_config(model_dir):
  """Returns (ExperimentConfig, num_classes) saved in a run directory."""
  path = os.path.join(model_dir, CONFIG_FILENAME)
  if not tf.io.gfile.exists(path):
    raise FileNotFoundError('%s not found: is %s a training run directory?' %
                            (path, model_dir))
  with tf.io.gfile.GFile(path) as f:
    record = json.load(f)
  return config_lib.from_dict(record), record['num_classes']


def build_model_from_run(model_dir):
  """Rebuilds a run's model (variables created, not restored) from config.json.

  Returns:
    (model, ExperimentConfig, num_classes).
  """
  cfg, num_classes = load_config(model_dir)
  h, w = cfg.data.crop_size
  model = model_lib.build_model(cfg.model, num_classes, crop_size=(h, w))
  return model, cfg, num_classes


def restore_model(model, path, name='model'):
  """Restores the model's weights (only) from a training checkpoint.

  Args:
    model: a built model of the run's config.
    path: checkpoint prefix.
    name: which saved model: 'model' (the trained one) or 'teacher' (the EMA
      teacher of a run with --ema_decay).

  Raises:
    ValueError: the checkpoint holds no object `name`.
  """
  if name not in [n.split('/')[0] for n, _ in tf.train.list_variables(path)]:
    raise ValueError('Checkpoint %s holds no %r (runs with --ema_decay save a '
                     "'teacher')." % (path, name))
  tf.train.Checkpoint(**{name: model}).restore(path).expect_partial(
  ).assert_existing_objects_matched()


def load_trained_model(model_dir, checkpoint='', name='model'):
  """Rebuilds a run's model and restores a checkpoint's weights into it.

  Args:
    model_dir: a training run directory (config.json and checkpoints).
    checkpoint: a checkpoint prefix; default: the run's latest.
    name: 'model' or 'teacher', as in `restore_model`.

  Returns:
    (model, ExperimentConfig, num_classes, checkpoint prefix restored).

  Raises:
    FileNotFoundError: the run has no config.json, or no checkpoint.
  """
  model, cfg, num_classes = build_model_from_run(model_dir)
  path = checkpoint or tf.train.latest_checkpoint(model_dir)
  if not path:
    raise FileNotFoundError('No checkpoint in %s.' % model_dir)
  restore_model(model, path, name=name)
  return model, cfg, num_classes, path


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
      self._vis_fn = tf.function(
          lambda batch: strategy.run(image_summary_fn, args=(batch,)))
    self._metrics = {}
    self._checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer,
                                           **(checkpoint_objects or {}))
    self._manager = tf.train.CheckpointManager(
        self._checkpoint, model_dir, max_to_keep=train_cfg.keep_checkpoints,
        step_counter=optimizer.iterations,
        checkpoint_interval=train_cfg.checkpoint_every)
    self._writer = tf.summary.create_file_writer(os.path.join(model_dir, 'train'))

  @property
  def global_step(self):
    return int(self._optimizer.iterations.numpy())

  def restore(self):
    """Restores the latest checkpoint if any; returns the step it resumes from."""
    path = self._manager.latest_checkpoint
    if path:
      status = self._checkpoint.restore(path)
      try:
        status.assert_existing_objects_matched()
      except AssertionError as e:
        raise ValueError(
            '%s does not hold everything this run saves (written with other '
            'flags, e.g. without --ema_decay?); use a new --model_dir. %s' %
            (path, e)) from e
      logging.info('Resumed from %s at step %d.', path, self.global_step)
    return self.global_step

  def _metric(self, name):
    if name not in self._metrics:
      with self._strategy.scope():
        self._metrics[name] = tf.keras.metrics.Mean(name)
    return self._metrics[name]

  def _build_loop_fn(self, iterator, metric_names):
    strategy = self._strategy
    step_fn = self._step_fn
    metrics = [self._metric(n) for n in metric_names]

    def replica_step(batch):
      out = step_fn(batch)
      for name, m in zip(metric_names, metrics):
        m.update_state(out[name])

    @tf.function
    def loop_fn(num_steps):
      for _ in tf.range(num_steps):
        strategy.run(replica_step, args=(next(iterator),))

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
      FloatingPointError: a logged metric became NaN or infinite.
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
        raise FloatingPointError(
            'Training diverged at step %d: %s became %s. The last good checkpoint '
            'is %s; lower --base_learning_rate or check the data.' %
            (step, ', '.join(bad), [last[n] for n in bad],
             self._manager.latest_checkpoint))
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
