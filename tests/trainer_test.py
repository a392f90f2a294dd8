"""Tests for core/trainer.py: resume, kill and restart, NaN check, run-dir check.

The resume test runs the loop in this process on the tiny records (conftest.py),
through the same experiment_lib functions as train_sup.py, so that it can watch the
data position handed to the dataset function. The kill test runs train_sup.py in a
subprocess, kills it with SIGKILL after its first checkpoint and starts it again.
"""

import dataclasses
import json
import os
import re
import shutil
import signal
import tempfile
import time

from absl.testing import parameterized
import numpy as np
import pytest
import tensorflow as tf

from cli import experiment_lib
from core import config
from core.tasks import options  # pylint: disable=unused-import
from core.tasks.options import base as options_base
from core.tasks import supervised
from core.training import run_dir
from core.training import trainer
from tests import testing_utils


def _smoke_cfg(records, model_dir, train_steps=4):
  cfg = config.smoke()
  return config.replace(
      cfg,
      data=dict(record_dir=records.record_dir, labeled_ids=records.labeled_ids),
      train=dict(model_dir=model_dir, train_steps=train_steps,
                 # Save at every loop so that a short run leaves checkpoints.
                 checkpoint_every=cfg.train.steps_per_loop))


def _supervised_loop(cfg, start_steps, image_summary_fn=None):
  """The TrainLoop that train_sup.py builds, recording start steps."""
  strategy = tf.distribute.get_strategy()
  descriptor = experiment_lib.dataset_info(cfg)
  run_dir.check_model_dir(cfg.train.model_dir, cfg, descriptor.num_classes)
  model, optimizer = experiment_lib.build_model_and_optimizer(
      cfg, strategy, descriptor.num_classes)
  task = experiment_lib.build_task(cfg, descriptor, pseudoseg=False)
  labeled_fn = experiment_lib.labeled_dataset_fn(cfg, descriptor)

  def dataset_fn(ctx, start_step):
    start_steps.append(start_step)
    return labeled_fn(ctx, start_step)

  def step_fn(batch):
    return task.train_step(model, optimizer, batch)

  loop = trainer.TrainLoop(strategy, model, optimizer, step_fn, dataset_fn,
                           cfg.train.model_dir, cfg.train,
                           images_per_step=cfg.train.batch_size,
                           image_summary_fn=image_summary_fn)
  return loop, model, optimizer


class ResumeTest(testing_utils.FixturesMixin, tf.test.TestCase):

  FIXTURES = {'records': 'tiny_records'}

  def test_second_run_resumes_step_weights_and_data_position(self):
    model_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    first_starts = []
    cfg = _smoke_cfg(self.records, model_dir, train_steps=2)
    loop, model, optimizer = _supervised_loop(cfg, first_starts)
    last = loop.run(supervised.METRICS)
    self.assertEqual(first_starts, [0])
    self.assertEqual(int(optimizer.iterations.numpy()), 2)
    self.assertTrue(np.isfinite(last['loss']))
    self.assertEqual(os.path.basename(tf.train.latest_checkpoint(model_dir)),
                     'ckpt-2')
    saved = [v.numpy() for v in model.trainable_variables]

    second_starts = []
    cfg = _smoke_cfg(self.records, model_dir, train_steps=4)
    loop, model, optimizer = _supervised_loop(cfg, second_starts)
    self.assertEqual(int(optimizer.iterations.numpy()), 0)
    self.assertEqual(loop.restore(), 2)
    # Weights (not just the step) come back.
    for before, v in zip(saved, model.trainable_variables):
      self.assertAllEqual(before, v.numpy(), msg=v.name)
    with self.assertLogs('absl', level='INFO') as logs:
      last = loop.run(supervised.METRICS)
    text = '\n'.join(logs.output)
    self.assertRegex(text, r'Resumed from \S*ckpt-2 at step 2\.')
    self.assertIn('step 4/4', text)
    self.assertNotIn('step 2/4', text)
    self.assertTrue(np.isfinite(last['loss']))
    self.assertEqual(second_starts, [2])
    self.assertEqual(int(optimizer.iterations.numpy()), 4)
    self.assertEqual(os.path.basename(tf.train.latest_checkpoint(model_dir)),
                     'ckpt-4')
    # A third run with nothing left to do neither trains nor reads data.
    third_starts = []
    loop, _, optimizer = _supervised_loop(cfg, third_starts)
    self.assertEqual(loop.run(supervised.METRICS), {})
    self.assertEqual(third_starts, [])
    self.assertEqual(int(optimizer.iterations.numpy()), 4)

  def test_pictures_traced_once(self):
    model_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    cfg = _smoke_cfg(self.records, model_dir, train_steps=6)
    cfg = config.replace(cfg, train=dict(steps_per_loop=2,
                                         image_summary_every=2))
    calls = []

    def pictures(batch):
      calls.append(1)  # Python side effect: runs once per trace.
      return {'crop': batch['image']}

    loop, _, _ = _supervised_loop(cfg, [], image_summary_fn=pictures)
    loop.run(supervised.METRICS)
    self.assertLen(calls, 1)
    self.assertEqual(loop._vis_fn.experimental_get_tracing_count(), 1)
    written = []
    for path in tf.io.gfile.glob(os.path.join(model_dir, 'train', 'events*')):
      for event in tf.compat.v1.train.summary_iterator(path):
        written += [(event.step, v.tag) for v in event.summary.value
                    if v.tag == 'crop']
    self.assertEqual(sorted(written), [(2, 'crop'), (4, 'crop'), (6, 'crop')])

  def test_start_step_skips_the_examples_already_seen(self):
    cfg = _smoke_cfg(self.records, tempfile.mkdtemp(dir=self.get_temp_dir()))
    descriptor = experiment_lib.dataset_info(cfg)
    fn = experiment_lib.labeled_dataset_fn(cfg, descriptor)
    ctx = tf.distribute.InputContext()
    from_zero = list(fn(ctx, 0).take(3))
    from_two = list(fn(ctx, 2).take(1))
    self.assertAllEqual(from_two[0]['image'], from_zero[2]['image'])
    self.assertAllEqual(from_two[0]['label'], from_zero[2]['label'])
    self.assertNotAllClose(from_zero[0]['image'], from_zero[2]['image'])


class GradientAccumulationResumeTest(testing_utils.FixturesMixin,
                                     tf.test.TestCase):
  """--grad_accum_steps=2: a step reads two micro-batches; resume carries on."""

  FIXTURES = {'records': 'tiny_records'}

  def _cfg(self, model_dir, train_steps):
    return config.replace(_smoke_cfg(self.records, model_dir, train_steps),
                          train=dict(grad_accum_steps=2))

  def test_a_step_reads_two_micro_batches(self):
    cfg = self._cfg(tempfile.mkdtemp(dir=self.get_temp_dir()), 4)
    descriptor = experiment_lib.dataset_info(cfg)
    fn = experiment_lib.labeled_dataset_fn(cfg, descriptor)
    ctx = tf.distribute.InputContext()
    plain = experiment_lib.labeled_dataset_fn(
        config.replace(cfg, train=dict(grad_accum_steps=1)), descriptor)
    micro = list(plain(ctx, 0).take(4))
    steps = list(fn(ctx, 0).take(2))
    from_one = list(fn(ctx, 1).take(1))
    self.assertEqual(steps[0]['image'].shape[0], 2 * cfg.train.batch_size)
    # Step s holds micro-batches 2s and 2s+1 of the plain stream, in order.
    self.assertAllEqual(steps[1]['image'],
                        tf.concat([micro[2]['image'], micro[3]['image']], 0))
    self.assertAllEqual(from_one[0]['image'], steps[1]['image'])

  def test_resumed_run_ends_as_one_never_stopped(self):
    straight_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    loop, straight, _ = _supervised_loop(self._cfg(straight_dir, 4), [])
    loop.run(supervised.METRICS)
    # The run as it was at its step-2 checkpoint, resumed to step 4.
    resumed_dir = os.path.join(self.get_temp_dir(), 'resumed')
    shutil.copytree(straight_dir, resumed_dir)
    for path in tf.io.gfile.glob(os.path.join(resumed_dir, 'ckpt-4*')):
      tf.io.gfile.remove(path)
    tf.compat.v1.train.update_checkpoint_state(resumed_dir,
                                               os.path.join(resumed_dir, 'ckpt-2'))
    starts = []
    loop, resumed, optimizer = _supervised_loop(self._cfg(resumed_dir, 4),
                                                starts)
    loop.run(supervised.METRICS)
    self.assertEqual(starts, [2])
    self.assertEqual(int(optimizer.iterations.numpy()), 4)
    # Close, not bit-equal: in one process the second model may take another
    # floating-point path (also with --grad_accum_steps=1; KillAndRestartTest
    # checks bit-identity across processes).
    for a, b in zip(straight.trainable_variables, resumed.trainable_variables):
      self.assertAllClose(a, b, rtol=1e-3, atol=1e-4, msg=a.name)


class LoadTrainedModelTest(testing_utils.FixturesMixin, tf.test.TestCase):

  FIXTURES = {'records': 'tiny_records'}

  def test_restores_the_latest_or_a_given_checkpoint(self):
    model_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    cfg = _smoke_cfg(self.records, model_dir, train_steps=2)
    loop, model, _ = _supervised_loop(cfg, [])
    loop.run(supervised.METRICS)
    loaded, loaded_cfg, num_classes, path = run_dir.load_trained_model(model_dir)
    self.assertEqual(os.path.basename(path), 'ckpt-2')
    self.assertEqual(num_classes, self.records.num_classes)
    self.assertEqual(loaded_cfg.model, cfg.model)
    for trained, restored in zip(model.weights, loaded.weights):
      self.assertAllEqual(trained, restored, msg=trained.name)
    _, _, _, given = run_dir.load_trained_model(model_dir, path)
    self.assertEqual(given, path)
    with self.assertRaisesRegex(ValueError, "holds no 'teacher'"):
      run_dir.load_trained_model(model_dir, name='teacher')

  def test_run_without_checkpoint_is_a_clear_error(self):
    model_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    _supervised_loop(_smoke_cfg(self.records, model_dir), [])  # config only
    with self.assertRaisesRegex(FileNotFoundError,
                                'No checkpoint in ' + re.escape(model_dir)):
      run_dir.load_trained_model(model_dir)


def _toy_loop(model_dir, train_steps, corrupt=None, jit_compile=False):
  """A TrainLoop of one Dense layer (and a non-trainable variable, as batch
  norm's moving statistics are), saving every 2 steps.

  Args:
    model_dir: the run directory.
    train_steps: steps to train for.
    corrupt: optional `fn(model, optimizer, loss) -> loss`, run in the step after
      the update (`optimizer.iterations` is then the step just completed).
    jit_compile: train_cfg.jit_compile.
  """
  model = tf.keras.Sequential([tf.keras.layers.Dense(1)])
  model.build([None, 2])
  model.moving = tf.Variable([1.0, 1.0], trainable=False, name='moving_var')
  train_cfg = dataclasses.replace(config.smoke().train, model_dir=model_dir,
                                  train_steps=train_steps, checkpoint_every=2,
                                  jit_compile=jit_compile)
  optimizer = trainer.make_optimizer(train_cfg)

  def step_fn(batch):
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(model(batch) ** 2)
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    if corrupt is not None:
      loss = corrupt(model, optimizer, loss)
    return {'loss': loss, 'other': tf.constant(1.0)}

  def dataset_fn(ctx, start_step):
    del ctx, start_step
    return tf.data.Dataset.from_tensors(tf.ones([1, 2])).repeat()

  return trainer.TrainLoop(tf.distribute.get_strategy(), model, optimizer,
                           step_fn, dataset_fn, model_dir, train_cfg,
                           images_per_step=1)


class JitCompileTest(tf.test.TestCase):

  def test_xla_step_trains_as_the_plain_one(self):
    weights, start = [], None
    for jit in (False, True):
      model_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
      loop = _toy_loop(model_dir, 6, jit_compile=jit)
      if start is None:
        start = loop._model.get_weights()
      loop._model.set_weights(start)  # The same initial weights.
      loop.run(('loss', 'other'))
      weights.append(loop._model.get_weights())
    for plain, compiled in zip(*weights):
      self.assertAllClose(plain, compiled, atol=1e-6)

  def test_the_step_is_compiled(self):
    # ResizeArea has no XLA kernel: only a compiled step fails on it.
    def area(model, optimizer, loss):
      del model, optimizer
      # Of the loss, so that it is not folded to a constant before XLA.
      return loss + tf.reduce_sum(tf.image.resize(
          tf.ones([1, 4, 4, 1]) * loss, (2, 2), method='area')) * 0.0

    _toy_loop(tempfile.mkdtemp(dir=self.get_temp_dir()), 2,
              corrupt=area).run(('loss', 'other'))
    with self.assertRaisesRegex(Exception, 'ResizeArea'):
      _toy_loop(tempfile.mkdtemp(dir=self.get_temp_dir()), 2, corrupt=area,
                jit_compile=True).run(('loss', 'other'))


class NanTest(tf.test.TestCase):

  def test_nan_loss_raises_naming_the_step(self):
    model_dir = tempfile.mkdtemp(dir=self.get_temp_dir())

    def nan_from_step_3(model, optimizer, loss):
      del model
      return tf.where(optimizer.iterations >= 3, tf.constant(np.nan), loss)

    loop = _toy_loop(model_dir, 10, corrupt=nan_from_step_3)
    with self.assertRaisesRegex(FloatingPointError,
                                r'step 4: loss became \[nan\].*ckpt-2'):
      loop.run(('loss', 'other'))
    # Nothing was saved after the divergence.
    self.assertEqual(os.path.basename(tf.train.latest_checkpoint(model_dir)),
                     'ckpt-2')


  def test_inf_loss_raises_too(self):
    model_dir = tempfile.mkdtemp(dir=self.get_temp_dir())

    def inf_from_step_3(model, optimizer, loss):
      del model
      return tf.where(optimizer.iterations >= 3, tf.constant(np.inf), loss)

    with self.assertRaisesRegex(FloatingPointError,
                                r'step 4: loss became \[inf\].*ckpt-2'):
      _toy_loop(model_dir, 10, corrupt=inf_from_step_3).run(('loss', 'other'))

  def _assert_every_checkpoint_finite(self, model_dir):
    testing_utils.assert_checkpoints_finite(self, model_dir)

  def test_a_non_finite_variable_with_a_finite_loss_is_never_saved(self):
    # As batch norm's moving variance overflows while the loss (computed with
    # batch statistics) stays finite.
    model_dir = tempfile.mkdtemp(dir=self.get_temp_dir())

    def inf_variance_at_step_3(model, optimizer, loss):
      model.moving.assign(tf.where(optimizer.iterations >= 3,
                                   tf.constant([1.0, np.inf]), model.moving))
      return loss

    loop = _toy_loop(model_dir, 10, corrupt=inf_variance_at_step_3)
    with self.assertRaisesRegex(
        FloatingPointError, r'step 4: saved variables became NaN or infinite '
        r'\(model/moving_var:0\), nothing of them was saved\. The last good '
        r'checkpoint is \S*ckpt-2;'):
      loop.run(('loss', 'other'))
    self.assertEqual(os.path.basename(tf.train.latest_checkpoint(model_dir)),
                     'ckpt-2')
    self._assert_every_checkpoint_finite(model_dir)

  def test_diverged_before_the_first_save(self):
    model_dir = tempfile.mkdtemp(dir=self.get_temp_dir())

    def nan_variance(model, optimizer, loss):
      del optimizer
      model.moving.assign([np.nan, 1.0])
      return loss

    with self.assertRaisesRegex(
        FloatingPointError, r'step 2: saved variables became NaN or infinite '
        r'\(model/moving_var:0\).*The last good checkpoint is none \(none was '
        r'saved yet\)'):
      _toy_loop(model_dir, 10, corrupt=nan_variance).run(('loss', 'other'))
    self.assertIsNone(tf.train.latest_checkpoint(model_dir))

  def test_resuming_a_non_finite_checkpoint_is_refused(self):
    # One written before these checks existed.
    model_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    loop = _toy_loop(model_dir, 2)
    loop.run(('loss', 'other'))
    loop._model.moving.assign([np.inf, 1.0])
    tf.train.CheckpointManager(loop._checkpoint, model_dir,
                               max_to_keep=3).save(checkpoint_number=3)
    with self.assertRaisesRegex(
        ValueError, r'ckpt-3 holds NaN or infinite values \(model/moving_var:0'
        r'\): the run had diverged before it was saved'):
      _toy_loop(model_dir, 4).run(('loss', 'other'))


class InterruptedSaveTest(tf.test.TestCase):

  def test_leftover_of_a_killed_save_is_removed_and_logged(self):
    model_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    _toy_loop(model_dir, 2).run(('loss', 'other'))
    # What a SIGKILL during the save of ckpt-4 leaves: TensorFlow's temporary
    # directory, holding the shards written so far.
    leftover = os.path.join(model_dir, 'ckpt-4_temp')
    os.makedirs(leftover)
    for path in tf.io.gfile.glob(os.path.join(model_dir, 'ckpt-2.*')):
      suffix = os.path.basename(path)[len('ckpt-2'):]
      shutil.copy(path, os.path.join(leftover, 'part-00000-of-00001' + suffix))
    with self.assertLogs('absl', level='WARNING') as logs:
      loop = _toy_loop(model_dir, 4)
      loop.run(('loss', 'other'))
    self.assertIn('Removed %s, left by a checkpoint save that was interrupted'
                  % leftover, '\n'.join(logs.output))
    self.assertFalse(os.path.exists(leftover))
    self.assertEqual(os.path.basename(tf.train.latest_checkpoint(model_dir)),
                     'ckpt-4')
    self.assertEqual(sorted(n for n in os.listdir(model_dir) if 'temp' in n), [])


class CheckModelDirTest(tf.test.TestCase, parameterized.TestCase):

  def _dir_with_checkpoint(self, cfg, num_classes):
    model_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    run_dir.check_model_dir(model_dir, cfg, num_classes)
    tf.train.Checkpoint(v=tf.Variable(1.0)).save(os.path.join(model_dir, 'ckpt'))
    return model_dir

  @parameterized.named_parameters(
      ('backbone', dict(backbone='mobilenet_v3_small'), 7, 'model.backbone'),
      ('width', dict(width_multiplier=0.5), 7, 'model.width_multiplier'),
      ('heads', dict(pseudoseg_heads=True), 7, 'model.pseudoseg_heads'),
      ('num_classes', {}, 21, 'num_classes'))
  def test_refuses_a_checkpoint_of_another_model(self, model_changes,
                                                 num_classes, named):
    cfg = config.smoke()
    model_dir = self._dir_with_checkpoint(cfg, 7)
    other = config.replace(cfg, model=model_changes)
    with self.assertRaisesRegex(ValueError, re.escape(model_dir)) as raised:
      run_dir.check_model_dir(model_dir, other, num_classes)
    self.assertIn(named, str(raised.exception))
    self.assertIn('another model', str(raised.exception))

  @parameterized.named_parameters(
      ('ema_teacher', 'ema_teacher.ema_decay', 0.99, 'an EMA teacher'),
      ('alignment', 'alignment.distribution_alignment', 0.9, 'class marginals'))
  def test_refuses_checkpointed_state_appearing_or_vanishing(self, setting, value,
                                                             what):
    cfg = config.smoke()
    model_dir = self._dir_with_checkpoint(cfg, 7)
    other = config.override(cfg, **{setting.split('.')[1]: value})
    with self.assertRaisesRegex(ValueError, '%s: 0.0 \\(saved\\) '
                                'vs %s \\(now\\), %s' % (setting, value, what)):
      run_dir.check_model_dir(model_dir, other, 7,
                              options_base.state_settings())
    # And vanishing.
    model_dir = self._dir_with_checkpoint(other, 7)
    with self.assertRaisesRegex(ValueError, setting):
      run_dir.check_model_dir(model_dir, cfg, 7, options_base.state_settings())

  def test_accepts_same_model_and_other_training_settings(self):
    cfg = config.smoke()
    model_dir = self._dir_with_checkpoint(cfg, 7)
    longer = config.replace(cfg, train=dict(train_steps=100))
    with self.assertLogs(level='WARNING') as logs:
      run_dir.check_model_dir(model_dir, longer, 7)
    self.assertIn('train.train_steps: %r -> 100' % cfg.train.train_steps,
                  '\n'.join(logs.output))
    saved_cfg, num_classes = run_dir.load_config(model_dir)
    self.assertEqual(saved_cfg, longer)
    self.assertEqual(num_classes, 7)
    # The superseded settings are kept, with the checkpoint they stopped at.
    with open(os.path.join(model_dir, run_dir.CONFIG_HISTORY_FILENAME)) as f:
      history = [json.loads(line) for line in f]
    self.assertLen(history, 1)
    self.assertEqual(history[0]['until_checkpoint'], 'ckpt-1')
    self.assertEqual(config.from_dict(history[0]['config']), cfg)

  def test_a_run_from_before_a_setting_existed_resumes_unchanged(self):
    cfg = config.smoke()
    model_dir = self._dir_with_checkpoint(cfg, 7)
    path = os.path.join(model_dir, run_dir.CONFIG_FILENAME)
    with open(path) as f:
      saved = json.load(f)
    del saved['model']['cam_level']  # Written before --cam_level existed.
    with open(path, 'w') as f:
      json.dump(saved, f)
    run_dir.check_model_dir(model_dir, cfg, 7)
    self.assertFalse(os.path.exists(
        os.path.join(model_dir, run_dir.CONFIG_HISTORY_FILENAME)))
    # A setting that the old run did not have at its default still differs.
    with open(path, 'w') as f:
      json.dump(saved, f)
    other = config.replace(cfg, model=dict(cam_level='3'))
    with self.assertRaisesRegex(ValueError, "model.cam_level: '' \\(saved\\) "
                                "vs '3' \\(now\\)"):
      run_dir.check_model_dir(model_dir, other, 7)

  def test_history_is_written_once_per_checkpoint(self):
    # Every worker of a multi-worker run checks the same model_dir.
    cfg = config.smoke()
    model_dir = self._dir_with_checkpoint(cfg, 7)
    path = os.path.join(model_dir, run_dir.CONFIG_HISTORY_FILENAME)
    entry = {'until_checkpoint': 'ckpt-1', 'config': {'a': 1}}
    run_dir._append_history(model_dir, entry)
    run_dir._append_history(model_dir, entry)
    run_dir._append_history(model_dir, dict(entry, until_checkpoint='ckpt-2'))
    with open(path) as f:
      self.assertEqual([json.loads(l)['until_checkpoint'] for l in f],
                       ['ckpt-1', 'ckpt-2'])

  def test_unchanged_resume_keeps_no_history(self):
    cfg = config.smoke()
    model_dir = self._dir_with_checkpoint(cfg, 7)
    run_dir.check_model_dir(model_dir, cfg, 7)
    self.assertFalse(os.path.exists(
        os.path.join(model_dir, run_dir.CONFIG_HISTORY_FILENAME)))

  def test_settings_changes_lists_every_differing_leaf(self):
    old = {'a': 1, 'b': {'c': 2, 'd': [1, 2]}, 'e': 'x'}
    new = {'a': 1, 'b': {'c': 3, 'd': [1, 2]}, 'f': 0.5}
    self.assertEqual(run_dir.settings_changes(old, new),
                     ["b.c: 2 -> 3", "e: 'x' -> None", 'f: None -> 0.5'])

  def test_refuses_checkpoints_whose_config_was_removed(self):
    cfg = config.smoke()
    model_dir = self._dir_with_checkpoint(cfg, 7)
    path = os.path.join(model_dir, run_dir.CONFIG_FILENAME)
    os.remove(path)
    other = config.replace(cfg, model=dict(backbone='resnet50'))
    with self.assertRaisesRegex(
        ValueError, re.escape(model_dir) + r' holds checkpoints \(latest '
        r'ckpt-1\) but no config.json, so they cannot be checked against this '
        r'model: put back .*, or use a new --model_dir\.'):
      run_dir.check_model_dir(model_dir, other, 21)
    self.assertFalse(os.path.exists(path))  # Nothing written in its place.
    with self.assertRaisesRegex(
        FileNotFoundError, re.escape(model_dir) + r' holds checkpoints \(latest '
        r'ckpt-1\) but no config.json, which says how to rebuild'):
      run_dir.load_config(model_dir)

  def test_without_checkpoint_any_model_is_accepted(self):
    model_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    run_dir.check_model_dir(model_dir, config.smoke(), 7)
    other = config.replace(config.smoke(), model=dict(backbone='resnet50'))
    run_dir.check_model_dir(model_dir, other, 21)
    self.assertEqual(run_dir.load_config(model_dir), (other, 21))


@pytest.mark.slow
class KillAndRestartTest(testing_utils.FixturesMixin, tf.test.TestCase):

  def _start_and_kill(self, script, flag_values):
    """Starts `script`, SIGKILLs it after its first checkpoint; returns that step.

    Also returns the killed run's log (for failure messages).
    """
    model_dir = flag_values['model_dir']
    log_path = os.path.join(tempfile.mkdtemp(dir=self.get_temp_dir()), 'first.log')
    proc = self.binaries.popen(script, log_path, **flag_values)
    try:
      deadline = time.time() + 240
      while (tf.train.latest_checkpoint(model_dir) is None and
             proc.poll() is None and time.time() < deadline):
        time.sleep(0.05)
      proc.send_signal(signal.SIGKILL)
      returncode = proc.wait(timeout=30)
    finally:
      if proc.poll() is None:
        proc.kill()
        proc.wait()
    with open(log_path) as f:
      first_log = f.read()
    self.assertEqual(returncode, -signal.SIGKILL,
                     msg='Not killed mid-run:\n' + first_log[-3000:])
    saved = tf.train.latest_checkpoint(model_dir)
    self.assertIsNotNone(saved, msg=first_log[-3000:])
    return int(saved.rsplit('-', 1)[1]), first_log

  def test_sigkill_then_restart_resumes_from_the_saved_step(self):
    model_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    flag_values = self.smoke_flags(
        self.records, model_dir, train_steps=16, summary_every=100,
        image_summary_every=100)
    saved_step, _ = self._start_and_kill('train_sup.py', flag_values)
    self.assertBetween(saved_step, 2, 14)

    second = self.binaries.run_ok('train_sup.py', **flag_values)
    self.assertRegex(second.stdout,
                     r'Resumed from \S*ckpt-%d at step %d\.' % (saved_step,
                                                                saved_step))
    steps_logged = [int(s) for s in re.findall(r'step (\d+)/16', second.stdout)]
    self.assertEqual(steps_logged[0], saved_step + 2)
    self.assertEqual(steps_logged[-1], 16)
    self.assertEqual(os.path.basename(tf.train.latest_checkpoint(model_dir)),
                     'ckpt-16')
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(model_dir))
    self.assertEqual(
        reader.get_tensor('optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE'), 16)

    # The killed and restarted run ends exactly where one run without the kill
    # does: data position, optimizer state and every random draw (augmentation,
    # dropout) are functions of --seed and the step (CPU, bit for bit).
    whole_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    self.binaries.run_ok('train_sup.py', **dict(flag_values, model_dir=whole_dir))
    whole = tf.train.load_checkpoint(tf.train.latest_checkpoint(whole_dir))
    names = [n for n, _ in tf.train.list_variables(whole_dir)
             if n.startswith('model/')]
    self.assertNotEmpty(names)
    for name in names:
      self.assertAllEqual(reader.get_tensor(name), whole.get_tensor(name),
                          msg=name)

  def test_train_wss_sigkill_then_restart_ends_bit_identical(self):
    # The EMA teacher, distribution alignment's marginals and CutMix's per-step
    # boxes: every checkpoint item of train_wss.py and one more random draw.
    model_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    flag_values = self.smoke_flags(
        self.records, model_dir, unlabeled_ids=self.records.unlabeled_ids,
        train_steps=8, summary_every=100, image_summary_every=100,
        ema_decay=0.9, distribution_alignment=0.9, cutmix=True)
    saved_step, first_log = self._start_and_kill('train_wss.py', flag_values)
    self.assertBetween(saved_step, 2, 6, msg=first_log[-3000:])
    second = self.binaries.run_ok('train_wss.py', **flag_values)
    self.assertRegex(second.stdout,
                     r'Resumed from \S*ckpt-%d at step %d\.' % (saved_step,
                                                                saved_step))
    self.assertRegex(second.stdout, r'step 8/8 \| loss')
    resumed_path = tf.train.latest_checkpoint(model_dir)
    self.assertEqual(os.path.basename(resumed_path), 'ckpt-8')

    whole_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    self.binaries.run_ok('train_wss.py', **dict(flag_values, model_dir=whole_dir))
    whole_path = tf.train.latest_checkpoint(whole_dir)
    resumed = tf.train.load_checkpoint(resumed_path)
    whole = tf.train.load_checkpoint(whole_path)
    names = sorted(n for n, _ in tf.train.list_variables(whole_path))
    # Every object of the checkpoint, not only the model's weights.
    self.assertEqual(names,
                     sorted(n for n, _ in tf.train.list_variables(resumed_path)))
    roots = {n.split('/')[0] for n in names}
    self.assertContainsSubset(
        {'model', 'optimizer', 'teacher', 'distribution_alignment'}, roots)
    for name in names:
      if name == '_CHECKPOINTABLE_OBJECT_GRAPH':
        continue
      self.assertAllEqual(resumed.get_tensor(name), whole.get_tensor(name),
                          msg=name)


if __name__ == '__main__':
  tf.test.main()
