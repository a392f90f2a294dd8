"""Tests for the tasks' steps (core/tasks/) on random tiny batches (smoke model, 65 px)."""

import dataclasses
import functools

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from core import config
from core import losses
from core.modeling import cam as cam_lib
from core.modeling import model as model_lib
from core.tasks.options import base as options_base
from core.tasks.options import cutmix as cutmix_option
from core.tasks import pseudoseg as pseudoseg_task
from core.tasks import supervised
from core.training import trainer
from research import pseudo_label_options
from tests import testing_utils

_CROP = 65
_NUM_CLASSES = 5


def _build(pseudoseg_heads=True, base_learning_rate=0.01, train_steps=100,
           cam_level=''):
  cfg = config.smoke()
  model_cfg = dataclasses.replace(cfg.model, pseudoseg_heads=pseudoseg_heads,
                                  cam_level=cam_level)
  model = model_lib.build_model(model_cfg, _NUM_CLASSES, (_CROP, _CROP))
  train_cfg = dataclasses.replace(cfg.train,
                                  base_learning_rate=base_learning_rate,
                                  train_steps=train_steps)
  optimizer = trainer.make_optimizer(train_cfg)
  optimizer.build(model.trainable_variables)
  return model, optimizer


def _labels(batch, seed):
  """[B,H,W,1] int32 labels: a few classes in blocks, some ignored pixels."""
  rng = np.random.RandomState(seed)
  coarse = rng.randint(0, _NUM_CLASSES, size=(batch, 5, 5))
  label = np.kron(coarse, np.ones((13, 13), np.int64))[..., None]
  label[:, :3] = 255
  return tf.constant(label, tf.int32)


def _labeled_batch(batch=2, seed=0):
  label = _labels(batch, seed)
  fg = tf.one_hot(label[..., 0], _NUM_CLASSES, on_value=1.0, off_value=0.0)
  return {
      'image': tf.random.stateless_uniform([batch, _CROP, _CROP, 3], [seed, 1]),
      'label': label,
      'valid': tf.ones([batch, _CROP, _CROP]),
      'class_labels': tf.cast(tf.reduce_max(fg, [1, 2])[:, 1:] > 0, tf.float32),
  }


def _unlabeled_batch(batch=2, seed=1, strong_valid=1.0, has_labels=False):
  weak = tf.random.stateless_uniform([batch, _CROP, _CROP, 3], [seed, 2])
  return {
      'weak_image': weak,
      'strong_image': tf.clip_by_value(weak * 0.8 + 0.1, 0.0, 1.0),
      'weak_valid': tf.ones([batch, _CROP, _CROP]),
      'strong_valid': tf.fill([batch, _CROP, _CROP], strong_valid),
      'class_labels': tf.constant([[1.0, 0.0, 1.0, 0.0]] * batch),
      'has_class_labels': tf.fill([batch], has_labels),
  }


def _settings(**kwargs):
  """Settings of a step, by flag name (core.config.override)."""
  return kwargs


def _pseudoseg_task(model, settings):
  """The PseudoSeg task of `settings` (a dict) around `model`, state built."""
  task = pseudoseg_task.PseudoSegTask(
      testing_utils.task_config(model, settings), _NUM_CLASSES)
  task.build_state(model)
  return task


def _pseudoseg_step(model, optimizer, batch, settings):
  return _pseudoseg_task(model, settings).train_step(model, optimizer, batch)


def _supervised_step(model, optimizer, batch, settings):
  task = supervised.SupervisedTask(testing_utils.task_config(model, settings),
                                   _NUM_CLASSES)
  return task.train_step(model, optimizer, batch)


def _make_pseudo_labels(model, weak_image, weak_valid, settings):
  """The teacher pass of `model` on weak views and its fused pseudo label."""
  task = _pseudoseg_task(model, settings)
  ctx = options_base.StepContext(None, None, None, {
      'weak_image': weak_image, 'weak_valid': weak_valid})
  return task.teacher_pass(
      model, ctx, training=task.cfg.pseudo_label.teacher_training_mode)


_SCORES = pseudo_label_options.PseudoLabelScores.metric_names


def _snapshot(variables):
  return [v.numpy().copy() for v in variables]


def _changed(before, variables):
  return [not np.array_equal(b, v.numpy()) for b, v in zip(before, variables)]


class SupervisedStepTest(tf.test.TestCase):

  def test_one_step_is_finite_counts_and_changes_weights(self):
    model, optimizer = _build(pseudoseg_heads=False)
    before = _snapshot(model.trainable_variables)
    out = _supervised_step(model, optimizer, _labeled_batch(),
                                      _settings())
    self.assertCountEqual(out, supervised.METRICS)
    for name, value in out.items():
      self.assertTrue(np.isfinite(value.numpy()), msg=name)
    self.assertGreater(float(out['sup_loss']), 0.0)
    self.assertGreater(float(out['reg_loss']), 0.0)  # Weight decay is on.
    self.assertAllClose(out['loss'], out['sup_loss'] + out['reg_loss'])
    self.assertEqual(int(optimizer.iterations.numpy()), 1)
    changed = _changed(before, model.trainable_variables)
    # The decoder's last conv (the logits) and the first backbone conv both move.
    self.assertTrue(changed[0])
    self.assertTrue(changed[-1])
    self.assertGreater(sum(changed), 0.9 * len(changed))

  def test_loss_falls_on_a_fixed_batch(self):
    model, optimizer = _build(pseudoseg_heads=False, base_learning_rate=0.05,
                              train_steps=1000)
    batch = _labeled_batch(batch=2, seed=3)
    settings = _settings()

    @tf.function
    def step():
      return _supervised_step(model, optimizer, batch, settings)

    sup = [float(step()['sup_loss']) for _ in range(35)]
    self.assertTrue(np.all(np.isfinite(sup)))
    self.assertEqual(int(optimizer.iterations.numpy()), 35)
    # Mean of the last steps, not one value: batch-norm noise.
    self.assertLess(np.mean(sup[-3:]), 0.5 * sup[0], msg=str(sup))


class PseudoSegStepTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(('semi', False, ''),
                                  ('weakly_labeled', True, ''),
                                  ('semi_stride4_cam', False, '2'))
  def test_one_step_is_finite_counts_and_changes_weights(self, use_image_labels,
                                                         cam_level):
    model, optimizer = _build(cam_level=cam_level)
    before = _snapshot(model.trainable_variables)
    batch = {'labeled': _labeled_batch(),
             'unlabeled': _unlabeled_batch(has_labels=use_image_labels)}
    out = _pseudoseg_step(
        model, optimizer, batch, _settings(use_image_labels=use_image_labels))
    self.assertCountEqual(out, pseudoseg_task.METRICS)
    for name, value in out.items():
      self.assertTrue(np.isfinite(value.numpy()), msg=name)
    for name in ('sup_loss', 'sgc_loss', 'cls_loss', 'unsup_loss'):
      self.assertGreater(float(out[name]), 0.0, msg=name)
    self.assertAllClose(
        out['loss'], out['sup_loss'] + out['sgc_loss'] + out['cls_loss'] +
        out['unsup_loss'] + out['reg_loss'], rtol=1e-5)
    self.assertAllClose(out['pixels_used'], 1.0)  # All valid, no threshold.
    self.assertBetween(float(out['pseudo_confidence']), 1.0 / _NUM_CLASSES, 1.0)
    self.assertEqual(int(optimizer.iterations.numpy()), 1)
    changed = dict(zip([v.name for v in model.trainable_variables],
                       _changed(before, model.trainable_variables)))
    # Every head learns: decoder, classifier and SGC.
    self.assertTrue(changed[model.cls_dense.kernel.name])
    for v in model.sgc.trainable_variables:
      self.assertTrue(changed[v.name], msg=v.name)
    self.assertGreater(sum(changed.values()), 0.9 * len(changed))

  def test_image_labels_change_the_classification_loss(self):
    # With use_image_labels the unlabeled images' class labels enter the
    # classifier loss; without, they must not.
    model, optimizer = _build()
    weights = _snapshot(model.trainable_variables)
    batch = {'labeled': _labeled_batch(),
             'unlabeled': _unlabeled_batch(has_labels=True)}
    cls = {}
    for weakly in (False, True):
      for v, w in zip(model.trainable_variables, weights):
        v.assign(w)
      settings = _settings(use_image_labels=weakly, teacher_training_mode=False)
      # Dropout in the classifier: compare with the same op seeds.
      tf.random.set_seed(0)
      cls[weakly] = float(_pseudoseg_step(
          model, optimizer, batch, settings)['cls_loss'])
    self.assertNotAllClose(cls[False], cls[True])

  def test_decoder_image_labels_stand_in_for_image_labels(self):
    # --decoder_image_labels: the step is the weakly-labeled one, with the
    # teacher decoder's classes as the unlabeled images' labels.
    model, optimizer = _build()
    # All variables: the teacher pass (inference mode) reads batch-norm
    # statistics that a training step moves.
    weights = _snapshot(model.variables)
    unl = _unlabeled_batch(has_labels=False)
    share = 0.05
    decoder_classes = model(
        unl['weak_image'],
        cam_classes=functools.partial(cam_lib.classes_from_logits,
                                      min_share=share),
        attention_mask=unl['weak_valid'])['cam_classes']
    self.assertGreater(float(tf.reduce_sum(decoder_classes)), 0.0)

    def step(unlabeled, **kwargs):
      for v, w in zip(model.variables, weights):
        v.assign(w)
      optimizer.iterations.assign(0)  # The same step seeds.
      return _pseudoseg_step(
          model, optimizer, {'labeled': _labeled_batch(), 'unlabeled': unlabeled},
          _settings(teacher_training_mode=False, **kwargs))

    ours = step(unl, decoder_image_labels=share)
    given = step(dict(unl, class_labels=decoder_classes,
                      has_class_labels=tf.fill([2], True)),
                 use_image_labels=True)
    semi = step(unl)
    for name in pseudoseg_task.METRICS:
      self.assertAllClose(ours[name], given[name], msg=name)
    self.assertNotAllClose(ours['cls_loss'], semi['cls_loss'])

  def test_no_valid_strong_pixel_gives_no_consistency_loss(self):
    model, optimizer = _build()
    batch = {'labeled': _labeled_batch(),
             'unlabeled': _unlabeled_batch(strong_valid=0.0)}
    out = _pseudoseg_step(model, optimizer, batch, _settings())
    self.assertEqual(float(out['unsup_loss']), 0.0)
    self.assertEqual(float(out['pixels_used']), 0.0)
    self.assertEqual(float(out['pseudo_confidence']), 0.0)
    for name, value in out.items():
      self.assertTrue(np.isfinite(value.numpy()), msg=name)
    self.assertGreater(float(out['sup_loss']), 0.0)

  def test_confidence_threshold_drops_pixels(self):
    model, optimizer = _build()
    batch = {'labeled': _labeled_batch(), 'unlabeled': _unlabeled_batch()}
    out = _pseudoseg_step(
        model, optimizer, batch, _settings(confidence_threshold=1.0))
    # No sharpened pseudo label is (numerically) one-hot on an untrained model.
    self.assertLess(float(out['pixels_used']), 1.0)

  def test_pseudo_labels_carry_no_gradient(self):
    model, _ = _build()
    unl = _unlabeled_batch()
    weak = unl['weak_image']
    student_logits = tf.random.stateless_normal([2, 17, 17, _NUM_CLASSES],
                                                [5, 5])
    with tf.GradientTape(persistent=True) as tape:
      tape.watch(weak)
      outputs, pseudo, weight = _make_pseudo_labels(
          model, weak, unl['weak_valid'], _settings())
      unsup = losses.soft_cross_entropy(student_logits, pseudo, weight)
      # Control: the teacher's own logits do depend on the weak image.
      control = tf.reduce_sum(outputs['logits'])
    self.assertEqual(pseudo.shape, (2, 17, 17, _NUM_CLASSES))
    self.assertGreater(float(unsup), 0.0)
    self.assertIsNone(tape.gradient(unsup, weak))
    grads = tape.gradient(unsup, model.trainable_variables)
    self.assertTrue(all(g is None for g in grads))
    self.assertIsNotNone(tape.gradient(control, weak))
    del tape


class PseudoSegOptionsTest(tf.test.TestCase):
  """EMA teacher, CutMix, feature dropout (SPEC.md's options; off by default)."""

  def test_ema_teacher_makes_the_labels_and_follows_the_model(self):
    model, optimizer = _build()
    tf.keras.utils.set_random_seed(7)
    other, _ = _build()  # Other initial weights than the model's.
    tf.random.set_seed(None)
    settings = _settings(ema_decay=0.99, teacher_training_mode=False,
                         score_pseudo_labels=True)
    task = _pseudoseg_task(model, settings)
    teacher = task.teacher(model)
    self.assertIsNot(teacher, model)
    for t, o in zip(teacher.variables, other.variables):
      t.assign(o)
    unl = _unlabeled_batch()
    unl['weak_label'] = _labels(2, seed=4)
    outputs, pseudo, _ = _make_pseudo_labels(
        teacher, unl['weak_image'], unl['weak_valid'],
        _settings(teacher_training_mode=False))
    expected = pseudo_label_options.score_pseudo_labels(
        outputs, pseudo, unl['weak_label'], _NUM_CLASSES)
    teacher_before = _snapshot(teacher.variables)
    out = task.train_step(
        model, optimizer, {'labeled': _labeled_batch(), 'unlabeled': unl})
    # The pseudo labels (and their scores) are the teacher's, before its update.
    for name in _SCORES:
      self.assertAllClose(out[name], expected[name], msg=name)
    # After the model's update every teacher variable, batch-norm statistics
    # included, is d * teacher + (1 - d) * model, d = (1 + 1) / (10 + 1).
    d = 2.0 / 11.0
    for t, before, s in zip(teacher.variables, teacher_before, model.variables):
      self.assertAllClose(t, d * before + (1 - d) * s.numpy(), msg=t.name,
                          atol=1e-6)

  def test_cutmix_step_is_finite_and_trains(self):
    model, optimizer = _build()
    before = _snapshot(model.trainable_variables)
    unl = _unlabeled_batch(batch=3, has_labels=True)
    out = _pseudoseg_step(
        model, optimizer, {'labeled': _labeled_batch(), 'unlabeled': unl},
        _settings(cutmix=True, use_image_labels=True))
    for name, value in out.items():
      self.assertTrue(np.isfinite(value.numpy()), msg=name)
    self.assertGreater(float(out['unsup_loss']), 0.0)
    self.assertAllClose(out['pixels_used'], 1.0)
    self.assertGreater(sum(_changed(before, model.trainable_variables)), 0)

  def test_feature_dropout_step_is_finite_and_trains(self):
    model, optimizer = _build()
    before = _snapshot(model.trainable_variables)
    out = _pseudoseg_step(
        model, optimizer,
        {'labeled': _labeled_batch(), 'unlabeled': _unlabeled_batch()},
        _settings(feature_dropout=0.5, cutmix=True))
    for name, value in out.items():
      self.assertTrue(np.isfinite(value.numpy()), msg=name)
    self.assertGreater(float(out['unsup_loss']), 0.0)
    self.assertGreater(sum(_changed(before, model.trainable_variables)), 0)

  def test_cutmix_mixes_views_and_pseudo_labels_with_the_same_boxes(self):
    # Image b is filled with b % 2; its valid mask, pseudo label and weight say
    # the same, so after mixing they must still agree pixel for pixel.
    values = tf.constant([0.0, 1.0, 0.0, 1.0])
    unl = {'weak_image': values[:, None, None, None] * tf.ones([4, 64, 64, 3]),
           'strong_image': values[:, None, None, None] * tf.ones([4, 64, 64, 3]),
           'strong_valid': values[:, None, None] * tf.ones([4, 64, 64]),
           'class_labels': tf.one_hot([0, 1, 2, 3], 4),
           'has_class_labels': tf.constant([True, True, True, False])}
    pseudo = tf.one_hot(tf.cast(values, tf.int32), 2)[:, None, None, :] * tf.ones(
        [4, 16, 16, 2])
    weight = values[:, None, None] * tf.ones([4, 16, 16])
    settings = _settings(cutmix=True, cutmix_area=0.5)
    mixed, mixed_pseudo, mixed_weight = cutmix_option.cutmix_unlabeled(
        unl, pseudo, weight, tf.constant([3, 9], tf.int64),
        settings['cutmix_area'])
    self.assertAllEqual(mixed['strong_valid'], mixed['strong_image'][..., 0])
    self.assertAllEqual(mixed_weight, tf.cast(tf.argmax(mixed_pseudo, -1),
                                              tf.float32))
    cells = tf.image.resize(mixed['strong_valid'][..., None], (16, 16),
                            method='area')[..., 0]
    self.assertLess(float(tf.reduce_mean(tf.abs(cells - mixed_weight))), 0.1)
    # Each image keeps half of itself: image 0 (value 0) half-filled by image 3.
    self.assertAllClose(tf.reduce_mean(mixed['strong_image'], [1, 2, 3]),
                        [0.5, 0.5, 0.5, 0.5], atol=0.05)
    self.assertAllEqual(mixed['class_labels'][1], [1.0, 1.0, 0.0, 0.0])
    self.assertAllEqual(mixed['has_class_labels'], [False, True, True, False])
    # The weak view is untouched: the teacher saw whole images.
    self.assertAllEqual(mixed['weak_image'], unl['weak_image'])


class UnsupRampupTest(tf.test.TestCase):
  """--unsup_rampup_steps scales the consistency term by the step's factor."""

  def _pair(self, step, ramped, plain):
    """The same batch through two copies of one model at `step`."""
    batch = {'labeled': _labeled_batch(), 'unlabeled': _unlabeled_batch()}
    outs = []
    for settings in (ramped, plain):
      model, optimizer = _build()
      if outs:
        model.set_weights(first_weights)
      else:
        first_weights = model.get_weights()
      optimizer.iterations.assign(step)
      outs.append(_pseudoseg_step(model, optimizer, batch, settings))
      outs[-1]['weights'] = model.get_weights()
    return outs

  def test_first_step_weighs_the_consistency_by_exp_minus_5(self):
    ramped, plain = self._pair(0, _settings(unsup_weight=2.0,
                                            unsup_rampup_steps=10),
                               _settings(unsup_weight=2.0 * np.exp(-5.0)))
    self.assertAllClose(ramped['unsup_weight'], 2.0 * np.exp(-5.0))
    self.assertNotIn('unsup_weight', plain)
    self.assertAllClose(
        ramped['loss'], ramped['sup_loss'] + ramped['sgc_loss'] +
        ramped['cls_loss'] + 2.0 * np.exp(-5.0) * ramped['unsup_loss'] +
        ramped['reg_loss'])
    # The same update as a fixed weight of 2·e^-5.
    for name in pseudoseg_task.METRICS:
      self.assertAllClose(ramped[name], plain[name], msg=name)
    for a, b in zip(ramped['weights'], plain['weights']):
      self.assertAllClose(a, b, atol=1e-6)

  def test_after_the_rampup_the_step_is_the_plain_one(self):
    ramped, plain = self._pair(12, _settings(unsup_rampup_steps=10),
                               _settings())
    self.assertAllClose(ramped['unsup_weight'], 1.0)
    for a, b in zip(ramped['weights'], plain['weights']):
      self.assertAllClose(a, b, atol=1e-6)


class StepSeedTest(tf.test.TestCase, parameterized.TestCase):
  """Dropout (ASPP output, classifier) is drawn from --seed and the step."""

  def _one_step(self, pseudoseg, seed):
    tf.keras.utils.set_random_seed(11)  # The same initial weights every time.
    try:
      model, optimizer = _build(pseudoseg_heads=pseudoseg)
    finally:
      tf.random.set_seed(None)
    self.assertGreater(model.config.aspp_dropout, 0.0)
    settings = _settings(seed=seed)
    if pseudoseg:
      batch = {'labeled': _labeled_batch(), 'unlabeled': _unlabeled_batch()}
      _pseudoseg_step(model, optimizer, batch, settings)
    else:
      _supervised_step(model, optimizer, _labeled_batch(), settings)
    return _snapshot(model.variables)

  @parameterized.named_parameters(('supervised', False), ('pseudoseg', True))
  def test_same_seed_same_step_other_seed_other_step(self, pseudoseg):
    first = self._one_step(pseudoseg, seed=0)
    again = self._one_step(pseudoseg, seed=0)
    other = self._one_step(pseudoseg, seed=1)
    for a, b in zip(first, again):
      self.assertAllEqual(a, b)
    self.assertFalse(all(np.array_equal(a, b) for a, b in zip(first, other)))


class ScorePseudoLabelsTest(tf.test.TestCase):

  def test_hand_computed_scores(self):
    # 1 image, 2x2 decoder grid, 3 classes; the mask is at 4x4 (resized nearest).
    mask = np.kron(np.array([[0, 1], [2, 255]]), np.ones((2, 2), np.int64))
    weak_label = tf.constant(mask[None, ..., None], tf.int32)

    def one_hot(ids):
      return tf.one_hot([ids], 3)

    teacher = {
        'logits': 5.0 * one_hot([[0, 1], [2, 0]]),  # Right on every scored cell.
        'sgc_logits': one_hot([[0, 0], [0, 0]]),   # Background everywhere.
    }
    pseudo = one_hot([[0, 1], [1, 1]])             # Class 2 taken for 1.
    scores = pseudo_label_options.score_pseudo_labels(teacher, pseudo,
                                                      weak_label, 3)
    self.assertAllClose(scores['decoder_miou'], 1.0)
    # SGC: IoU_0 = 1/3, IoU_1 = IoU_2 = 0.
    self.assertAllClose(scores['sgc_miou'], 1.0 / 9.0)
    # Fused: IoU_0 = 1, IoU_1 = 1/2, IoU_2 = 0.
    self.assertAllClose(scores['pseudo_miou'], 0.5)

  def test_step_reports_scores_only_with_a_weak_label(self):
    model, optimizer = _build()
    unl = _unlabeled_batch()
    unl['weak_label'] = _labels(2, seed=4)
    out = _pseudoseg_step(
        model, optimizer, {'labeled': _labeled_batch(), 'unlabeled': unl},
        _settings(score_pseudo_labels=True))
    self.assertCountEqual(out, pseudoseg_task.METRICS +
                          _SCORES)
    for name in _SCORES:
      self.assertBetween(float(out[name]), 0.0, 1.0, msg=name)


class OraclePseudoLabelsTest(tf.test.TestCase):

  # A 4x4 mask, resized nearest to the 2x2 decoder grid; 3 classes.
  _MASK = np.kron(np.array([[0, 2], [255, 1]]), np.ones((2, 2), np.int64))
  _TEACHER = np.array([[[0.2, 0.6, 0.2], [0.5, 0.5, 0.0]],
                       [[0.0, 0.0, 1.0], [0.1, 0.1, 0.8]]], np.float32)

  def _oracle(self, chosen):
    """Two images of the same mask and teacher label."""
    return pseudo_label_options.oracle_pseudo_labels(
        tf.constant(np.stack([self._MASK] * 2)[..., None], tf.int32),
        tf.constant(np.stack([self._TEACHER] * 2)),
        tf.constant([[[1.0, 0.5], [0.5, 1.0]]] * 2), tf.constant(chosen), 3)

  def test_hand_computed_one_hot_and_weight(self):
    pseudo, weight = self._oracle([True, True])
    for i in range(2):
      self.assertAllEqual(pseudo[i], [[[1, 0, 0], [0, 0, 1]],
                                      [[0, 0, 0], [0, 1, 0]]])
      self.assertAllEqual(weight[i], [[1, 1], [0, 1]])

  def test_images_not_chosen_keep_the_teachers_label(self):
    pseudo, weight = self._oracle([False, True])
    self.assertAllEqual(pseudo[0], self._TEACHER)
    self.assertAllEqual(weight[0], [[1.0, 0.5], [0.5, 1.0]])
    self.assertAllEqual(weight[1], [[1, 1], [0, 1]])

  def test_oracle_images_share_and_seed(self):
    seed = tf.constant([3, 7], tf.int64)
    self.assertFalse(np.any(pseudo_label_options.oracle_images(100, 0.0, seed)))
    self.assertTrue(np.all(pseudo_label_options.oracle_images(100, 1.0, seed)))
    draw = pseudo_label_options.oracle_images(10000, 0.3, seed)
    self.assertBetween(float(np.mean(draw)), 0.28, 0.32)
    self.assertAllEqual(draw, pseudo_label_options.oracle_images(10000, 0.3, seed))

  def test_step_trains_on_the_masks(self):
    model, optimizer = _build()
    unl = _unlabeled_batch()
    unl['weak_label'] = _labels(2, seed=4)  # Top 3 of 65 rows ignored.
    out = _pseudoseg_step(
        model, optimizer, {'labeled': _labeled_batch(), 'unlabeled': unl},
        _settings(oracle_pseudo_labels=True, score_pseudo_labels=True))
    # One-hot labels: full confidence; the ignored rows drop out of the loss.
    self.assertAllClose(out['pseudo_confidence'], 1.0)
    self.assertBetween(float(out['pixels_used']), 0.85, 0.99)
    self.assertGreater(float(out['unsup_loss']), 0.0)
    # The teacher's own fused label is still what gets scored; the label
    # trained on is the mask.
    self.assertLess(float(out['pseudo_miou']), 1.0)
    self.assertAllClose(out['target_miou'], 1.0)

  def test_step_with_no_oracle_share_trains_on_the_teachers_label(self):
    unl = _unlabeled_batch()
    unl['weak_label'] = _labels(2, seed=4)
    batch = {'labeled': _labeled_batch(), 'unlabeled': unl}
    model, optimizer = _build()
    model_p, optimizer_p = _build()
    model_p.set_weights(model.get_weights())
    out = _pseudoseg_step(
        model, optimizer, batch,
        _settings(oracle_pseudo_labels=True, oracle_share=0.0,
                  score_pseudo_labels=True))
    # The trained-on label is the fused one, on every pixel (ignored rows too) ...
    self.assertAllClose(out['target_miou'], out['pseudo_miou'])
    self.assertLess(float(out['pseudo_confidence']), 1.0)
    self.assertAllClose(out['pixels_used'], 1.0)
    # ... and the step is PseudoSeg's own.
    ref = _pseudoseg_step(model_p, optimizer_p, batch, _settings())
    for name in pseudoseg_task.METRICS:
      self.assertAllClose(out[name], ref[name], msg=name)

  def test_all_ignored_masks_give_no_consistency_loss(self):
    model, optimizer = _build()
    unl = _unlabeled_batch()
    unl['weak_label'] = tf.fill([2, _CROP, _CROP, 1], 255)
    out = _pseudoseg_step(
        model, optimizer, {'labeled': _labeled_batch(), 'unlabeled': unl},
        _settings(oracle_pseudo_labels=True))
    self.assertEqual(float(out['unsup_loss']), 0.0)
    self.assertEqual(float(out['pixels_used']), 0.0)

  def test_step_without_masks_says_so(self):
    model, optimizer = _build()
    with self.assertRaisesRegex(ValueError, 'oracle_pseudo_labels needs'):
      _pseudoseg_step(
          model, optimizer,
          {'labeled': _labeled_batch(), 'unlabeled': _unlabeled_batch()},
          _settings(oracle_pseudo_labels=True))


if __name__ == '__main__':
  tf.test.main()
