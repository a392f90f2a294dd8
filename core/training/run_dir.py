"""A run directory: its resolved config, the checks on resume, and loading its model.

A training run writes its resolved config into MODEL_DIR/config.json at start
(`check_model_dir`), which also refuses a directory holding another model's checkpoint
and keeps the settings a resumed run replaced in config_history.jsonl. Evaluation,
export and the lab's tools rebuild a run's model from it (`load_trained_model`).
"""

import json
import os

from absl import logging
import tensorflow as tf

from core import config as config_lib
from core.modeling import model as model_lib
from core.training import finiteness

CONFIG_FILENAME = 'config.json'
# Settings a resumed run replaced, one JSON line each (check_model_dir).
CONFIG_HISTORY_FILENAME = 'config_history.jsonl'


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
    ValueError: model_dir holds a checkpoint of another model, or checkpoints
      without the config.json that says which model they hold.
  """
  tf.io.gfile.makedirs(model_dir)
  path = os.path.join(model_dir, CONFIG_FILENAME)
  record = json.loads(cfg.to_json())
  record['num_classes'] = num_classes
  latest = tf.train.latest_checkpoint(model_dir)
  if latest and not tf.io.gfile.exists(path):
    raise ValueError(
        '%s holds checkpoints (latest %s) but no %s, so they cannot be checked '
        'against this model: put back the config.json of the run that wrote '
        'them, or use a new --model_dir.' % (
            model_dir, os.path.basename(latest), CONFIG_FILENAME))
  if latest:
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
  """Returns (ExperimentConfig, num_classes) saved in a run directory.

  Raises:
    FileNotFoundError: no config.json (the message says whether the directory
      holds checkpoints all the same).
  """
  path = os.path.join(model_dir, CONFIG_FILENAME)
  if not tf.io.gfile.exists(path):
    latest = tf.train.latest_checkpoint(model_dir)
    if latest:
      raise FileNotFoundError(
          '%s holds checkpoints (latest %s) but no %s, which says how to '
          'rebuild their model: put back the config.json of the run that wrote '
          'them.' % (model_dir, os.path.basename(latest), CONFIG_FILENAME))
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
    ValueError: the checkpoint holds no object `name`, or a NaN or an inf in
      one of its variables (batch-norm statistics included).
  """
  if name not in [n.split('/')[0] for n, _ in tf.train.list_variables(path)]:
    raise ValueError('Checkpoint %s holds no %r (runs with --ema_decay save a '
                     "'teacher')." % (path, name))
  tf.train.Checkpoint(**{name: model}).restore(path).expect_partial(
  ).assert_existing_objects_matched()
  bad = finiteness.non_finite(finiteness.saved_variables({name: model}))
  if bad:
    raise ValueError(
        'Checkpoint %s holds NaN or infinite values in %d variable(s) of its '
        '%r (%s): the run had diverged; use an earlier checkpoint '
        '(--checkpoint).' % (path, len(bad), name, finiteness.describe(bad)))


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
