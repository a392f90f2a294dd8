"""Tests for gradient accumulation (core/tasks/micro_batches.py, --grad_accum_steps).

The mechanics against numpy (slices, the mean of the gradients), then the claim
users rely on: N micro-batches of b images give the update of one batch of N*b.
That holds exactly only where nothing in the step depends on which images share a
batch. Batch normalisation does (training-mode statistics are per micro-batch), so
the step tests give every micro-batch the same images (tiled) with their own labels
and image labels: the batch statistics of each micro-batch are then those of the
whole batch, while losses and gradients still differ between micro-batches. The
global logit norm of the fusion is an RMS over the (micro-)batch: the PseudoSeg test
uses the per-pixel one. Dropout is off (its masks are drawn per micro-batch). What
remains is float32 summation order, measured per machine (AccumulatedStepTest). Under
MirroredStrategy: tests/distributed_test.py.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from core import config
from core.modeling import model as model_lib
from core.tasks import base
from core.tasks import micro_batches
from core.tasks import pseudoseg as pseudoseg_task
from core.tasks import supervised
from core.training import trainer
from tests.train_steps_test import _CROP
from tests.train_steps_test import _NUM_CLASSES
from tests.train_steps_test import _labels

_RTOL, _ATOL = 1e-5, 1e-7


class MicroBatchTest(tf.test.TestCase):

  def test_micro_batch_takes_consecutive_rows_of_every_leaf(self):
    batch = {'a': np.arange(12).reshape(6, 2), 'b': {'c': np.arange(6)}}
    for index in range(3):
      part = micro_batches.micro_batch(batch, index, 3)
      self.assertAllEqual(part['a'], batch['a'][2 * index:2 * index + 2])
      self.assertAllEqual(part['b']['c'], [2 * index, 2 * index + 1])
      self.assertEqual(part['a'].shape, (2, 2))

  def test_accumulate_is_the_mean_of_the_micro_gradients(self):
    # Least squares L_i = mean_rows (x w - y)^2 on micro-batch i: its gradient
    # is 2/b x^T (x w - y); their mean over equal-sized micro-batches is the
    # gradient of the whole batch's mean.
    rng = np.random.RandomState(0)
    x, y, w = rng.randn(6, 3), rng.randn(6), rng.randn(3)
    calls = []

    def compute(part, index):
      calls.append(index)
      residual = tf.linalg.matvec(part['x'], w) - part['y']
      grad = 2.0 * tf.linalg.matvec(part['x'], residual, transpose_a=True) / 2
      return ([grad, None], {'loss': tf.reduce_mean(residual ** 2)},
              'state %d' % index)

    grads, outputs, state = micro_batches.accumulate(
        compute, {'x': tf.constant(x), 'y': tf.constant(y)}, 3)
    self.assertEqual(calls, [0, 1, 2])
    self.assertEqual(state, 'state 2')
    self.assertIsNone(grads[1])
    full = 2.0 * x.T @ (x @ w - y) / 6
    micro = [2.0 * x[i:i + 2].T @ (x[i:i + 2] @ w - y[i:i + 2]) / 2
             for i in (0, 2, 4)]
    self.assertAllClose(grads[0], np.mean(micro, 0))
    self.assertAllClose(grads[0], full)
    self.assertAllClose(outputs['loss'], np.mean((x @ w - y) ** 2))

  def test_each_micro_batch_has_its_own_seed(self):
    optimizer = tf.keras.optimizers.SGD(0.1)
    optimizer.iterations.assign(5)
    # Micro-batch i of step s counts s * N + i; without accumulation, s.
    self.assertAllEqual(base.step_seed(optimizer, 3), [5, 3 * 4096])
    self.assertAllEqual(base.step_seed(optimizer, 3, 0, 2), [10, 3 * 4096])
    self.assertAllEqual(base.step_seed(optimizer, 3, 1, 2), [11, 3 * 4096])

  def test_grad_accum_steps_is_checked(self):
    with self.assertRaisesRegex(config.ConfigError,
                                r'train\.grad_accum_steps must be >= 1'):
      config.override(config.ExperimentConfig(), grad_accum_steps=0)


def _tiled_batches(num_micro, micro, pseudoseg):
  """A step's batch of num_micro * micro rows: the same `micro` images (and
  image labels) in every micro-batch, each row its own pixel labels."""
  rows = num_micro * micro
  tile = lambda t: tf.concat([t] * num_micro, 0)
  image = tile(tf.random.stateless_uniform([micro, _CROP, _CROP, 3], [0, 1]))
  label = _labels(rows, seed=5)
  ones = tf.ones([rows, _CROP, _CROP])
  # Image labels select the CAM classes, whose SGC output is batch-normalised:
  # tiled too.
  rng = np.random.RandomState(1)
  class_labels = tile(tf.constant(
      rng.randint(0, 2, (micro, _NUM_CLASSES - 1)), tf.float32))
  labeled = {'image': image, 'label': label, 'valid': ones,
             'class_labels': class_labels}
  if not pseudoseg:
    return labeled
  weak = tile(tf.random.stateless_uniform([micro, _CROP, _CROP, 3], [0, 2]))
  return {'labeled': labeled, 'unlabeled': {
      'weak_image': weak, 'strong_image': tf.clip_by_value(weak * 1.3, 0., 1.),
      'weak_valid': ones, 'strong_valid': ones,
      'class_labels': class_labels[::-1], 'has_class_labels': tf.ones([rows],
                                                                      bool)}}


def _relative_update_error(run, reference):
  """||update - reference's update|| / ||reference's update||, over all
  trainable variables (the updates from the same initial weights)."""
  def update(r):
    return np.concatenate([(v.numpy() - s).ravel() for v, s in zip(
        r['model'].trainable_variables, r['start'])])
  return (np.linalg.norm(update(run) - update(reference)) /
          np.linalg.norm(update(reference)))


class AccumulatedStepTest(tf.test.TestCase):
  """A step of N=2 micro-batches of 2 against a step of one batch of 4.

  Tolerance: in float32 this model's gradient moves with the batch size
  alone. A batch of 4 holding the same 2 images and labels twice (the same
  update in exact arithmetic) differs from the batch of 2 by what
  `_float32_floor` measures: reduction order amplified through ~20 batch
  norms, and by 1e-1 after a second step, so one step is compared. The floor
  depends on the CPU's kernels: about 3e-5 (supervised) and 4e-3 (PseudoSeg)
  with TensorFlow's default kernels off, 1e-2 and 6e-3 with oneDNN's on an
  AVX-512 machine. The accumulated step must be within twice that floor (and
  never needs more than 5e-2); one micro-batch alone (the control) is off by
  about 1.
  """

  def _float32_floor(self, pseudoseg, **settings):
    """`_relative_update_error` of a batch of 4 holding its first 2 rows
    twice against the batch of those 2 rows: zero in exact arithmetic."""
    twice, once = self._runs(pseudoseg, runs=((1, 4), (1, 2)), duplicate=True,
                             **settings)
    floor = _relative_update_error(twice, once)
    self.assertLess(floor, 5e-2)
    return floor

  def _runs(self, pseudoseg, runs=((2, 4), (1, 4)), duplicate=False,
            **settings):
    """For each (N, rows) of `runs`: one step on the first `rows` rows of the
    tiled batch (with `duplicate`, of its first 2 rows repeated), from the same
    initial weights."""
    base_cfg = config.smoke()
    model_cfg = dataclasses.replace(
        base_cfg.model, pseudoseg_heads=pseudoseg, aspp_dropout=0.0,
        cls_dropout=0.0, cam_threshold=0.0)
    tf.keras.utils.set_random_seed(0)
    initial = model_lib.build_model(model_cfg, _NUM_CLASSES,
                                    (_CROP, _CROP)).get_weights()
    tf.random.set_seed(None)
    batch = _tiled_batches(2, 2, pseudoseg)
    if duplicate:
      batch = tf.nest.map_structure(lambda t: tf.concat([t[:2]] * 2, 0), batch)
    results = []
    for num_micro, rows in runs:
      cfg = config.override(
          dataclasses.replace(base_cfg, model=model_cfg),
          grad_accum_steps=num_micro, base_learning_rate=0.01,
          train_steps=100, **settings)
      model = model_lib.build_model(model_cfg, _NUM_CLASSES, (_CROP, _CROP))
      model.set_weights(initial)
      start = [v.numpy() for v in model.trainable_variables]
      optimizer = trainer.make_optimizer(cfg.train)
      optimizer.build(model.trainable_variables)
      cls = (pseudoseg_task.PseudoSegTask if pseudoseg else
             supervised.SupervisedTask)
      task = cls(cfg, _NUM_CLASSES)
      task.build_state(model)
      part = tf.nest.map_structure(lambda t, r=rows: t[:r], batch)
      outputs = tf.function(task.train_step)(model, optimizer, part)
      results.append(dict(model=model, optimizer=optimizer, task=task,
                          outputs=outputs, start=start))
    return results

  def _assert_same_update(self, accumulated, large, floor):
    # One update, counted once (the learning-rate schedule and the EMA read
    # this counter).
    self.assertEqual(int(accumulated['optimizer'].iterations), 1)
    self.assertLess(_relative_update_error(accumulated, large),
                    max(2.0 * floor, 1e-4))
    for name, value in accumulated['outputs'].items():
      self.assertAllClose(value, large['outputs'][name], rtol=1e-5, msg=name)

  def test_supervised(self):
    # The third run, on the first micro-batch alone, is the control.
    accumulated, large, first_alone = self._runs(
        pseudoseg=False, runs=((2, 4), (1, 4), (1, 2)))
    self._assert_same_update(accumulated, large,
                             self._float32_floor(pseudoseg=False))
    self.assertGreater(_relative_update_error(first_alone, large), 0.2)
    self.assertEqual(accumulated['task'].images_per_step(), 4)

  def test_pseudoseg_with_image_labels_and_an_ema_teacher(self):
    settings = dict(use_image_labels=True, logit_norm='pixel', ema_decay=0.99)
    accumulated, large = self._runs(pseudoseg=True, **settings)
    self._assert_same_update(accumulated, large,
                             self._float32_floor(pseudoseg=True, **settings))
    self.assertGreater(float(accumulated['outputs']['unsup_loss']), 0.0)
    self.assertGreater(float(accumulated['outputs']['cls_loss']), 0.0)
    self.assertEqual(accumulated['task'].images_per_step(), 8)
    # The teacher followed the model once, after the update:
    # d * initial + (1 - d) * model with the decay of update 1, (1+1)/(10+1).
    d = 2.0 / 11.0
    teacher = accumulated['task'].teacher(accumulated['model'])
    for t, s, v in zip(teacher.trainable_variables, accumulated['start'],
                       accumulated['model'].trainable_variables):
      self.assertAllClose(t, d * s + (1 - d) * v.numpy(), atol=1e-6,
                          msg=t.name)
