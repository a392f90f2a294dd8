"""Pins what the tasks' training steps (core/tasks/) compute, term by term.

tests/train_steps_test.py checks that the steps run, count and train; this file
recomputes each step from the model's own outputs, with numpy for the losses,
so that a refactor of the steps cannot change their arithmetic, their random
streams or their gradient routing unnoticed. The references reproduce the
step's seeds exactly: the step seed is [optimizer.iterations,
settings.seed * 4096 + replica], and the PseudoSeg step folds in 0 (CutMix),
1 (feature dropout), 2 (teacher dropout) and 3 (student dropout); the
supervised step passes the step seed itself as the dropout seed.

The steps are called only through `_run_supervised_step` and
`_run_pseudoseg_step`: when the step API moves, only those lines change.

Batch norm runs in training mode in every pass compared here, so the outputs
do not read the moving statistics; a reference pass still moves them, so each
test snapshots all variables before its reference and restores them before the
step.
"""

import dataclasses
import math

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from augment import weak
from core import config
from core import losses
from core.modeling import model as model_lib
from core.pseudoseg import cutmix
from core.pseudoseg import distribution_alignment
from core.pseudoseg import fusion
from core.tasks.options import base as options_lib
from core.tasks.options import consistency_rampup
from core.tasks.options import distribution_alignment as alignment_option
from core.tasks.options import ema_teacher
from core.tasks import pseudoseg as pseudoseg_task
from core.tasks import supervised
from core.training import trainer
from tests import testing_utils
from tests.train_steps_test import _CROP
from tests.train_steps_test import _NUM_CLASSES
from tests.train_steps_test import _labeled_batch

_LEARNING_RATE = 0.01
_TRAIN_STEPS = 100
_RTOL = 1e-5  # Float32 step against a float64 numpy reference.


# ---------------------------------------------------------------------------
# The step functions under test: the only calls into their API.


def _run_supervised_step(model, optimizer, batch, **settings):
  task = supervised.SupervisedTask(testing_utils.task_config(model, settings),
                                   _NUM_CLASSES)
  return task.train_step(model, optimizer, batch)


def _run_pseudoseg_step(model, optimizer, batch, teacher=None, alignment=None,
                        **settings):
  """The PseudoSeg task's step; `teacher` and `alignment` are the state of its
  EMA-teacher and distribution-alignment options."""
  cfg = testing_utils.task_config(model, settings)
  given = []
  if teacher is not None:
    given.append(ema_teacher.EmaTeacher(cfg.ema_teacher.ema_decay, teacher))
  if alignment is not None:
    given.append(alignment_option.DistributionAlignment(
        _NUM_CLASSES, alignment.momentum, alignment))
  others = [o for o in options_lib.from_config(cfg, _NUM_CLASSES, 255)
            if type(o) not in [type(g) for g in given]]
  task = pseudoseg_task.PseudoSegTask(cfg, _NUM_CLASSES, options=given + others)
  task.build_state(model)
  return task.train_step(model, optimizer, batch)


# ---------------------------------------------------------------------------
# Fixtures.


def _build(init_seed=0, pseudoseg_heads=True, **model_overrides):
  """A smoke model (fixed initial weights) and its SGD optimizer, built."""
  cfg = config.smoke()
  model_cfg = dataclasses.replace(cfg.model, pseudoseg_heads=pseudoseg_heads,
                                  **model_overrides)
  tf.keras.utils.set_random_seed(init_seed)
  try:
    model = model_lib.build_model(model_cfg, _NUM_CLASSES, (_CROP, _CROP))
  finally:
    tf.random.set_seed(None)
  train_cfg = dataclasses.replace(cfg.train,
                                  base_learning_rate=_LEARNING_RATE,
                                  train_steps=_TRAIN_STEPS)
  optimizer = trainer.make_optimizer(train_cfg)
  optimizer.build(model.trainable_variables)
  return model, optimizer


def _unlabeled_batch(batch=2):
  """Weak and strong views with padding (weak) and a cutout square (strong).

  The weak views are blocks of colour plus noise; the strong views change the
  colours a lot (channels reversed, contrast up), so that a pseudo label made
  from the wrong view is far from the right one.
  """
  rng = np.random.RandomState(7)
  blocks = np.kron(rng.uniform(size=(batch, 5, 5, 3)), np.ones((1, 13, 13, 1)))
  weak_image = np.clip(blocks + 0.1 * rng.normal(size=blocks.shape), 0.0, 1.0)
  strong_image = np.clip(1.6 * (weak_image[..., ::-1] - 0.5) + 0.5, 0.0, 1.0)
  weak_valid = np.ones([batch, _CROP, _CROP])
  weak_valid[:, -9:] = 0.0  # Bottom padding, filled with the mean pixel.
  box = np.zeros([batch, _CROP, _CROP])
  box[0, 20:40, 30:50] = 1.0  # The cutout square.
  box[1:, 5:25, 2:22] = 1.0
  weak_image[weak_valid == 0] = weak.MEAN_PIXEL
  strong_image[(weak_valid == 0) | (box > 0)] = weak.MEAN_PIXEL
  as_tensor = lambda x: tf.constant(x, tf.float32)
  return {
      'weak_image': as_tensor(weak_image),
      'strong_image': as_tensor(strong_image),
      'weak_valid': as_tensor(weak_valid),
      'strong_valid': as_tensor(weak_valid * (1.0 - box)),
      'class_labels': tf.constant([[1.0, 0.0, 1.0, 0.0]] * batch),
      'has_class_labels': tf.fill([batch], False),
  }


def _batch(num_unlabeled=2):
  return {'labeled': _labeled_batch(batch=2, seed=0),
          'unlabeled': _unlabeled_batch(num_unlabeled)}


def _snapshot(variables):
  return [v.numpy().copy() for v in variables]


def _restore(variables, values):
  for v, value in zip(variables, values):
    v.assign(value)


def _step_seed(iteration, salt):
  """The step seed on replica 0: [iteration, salt * 4096]."""
  return tf.constant([iteration, salt * 4096], tf.int64)


def _fold(seed, index):
  return tf.random.experimental.stateless_fold_in(seed, index)


def _poly_learning_rate(iteration):
  return _LEARNING_RATE * (1.0 - iteration / _TRAIN_STEPS)**0.9


# ---------------------------------------------------------------------------
# Numpy references (float64).


def _np(x):
  return np.asarray(x, np.float64)


def _log_softmax(x):
  x = x - x.max(-1, keepdims=True)
  return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _softmax(x):
  return np.exp(_log_softmax(x))


def _resize_bilinear(logits, size):
  """Bilinear, half-pixel centres (as tf.image.resize; a plain op, not ours)."""
  return _np(tf.image.resize(tf.cast(logits, tf.float32), size,
                             method='bilinear'))


def _resize_nearest(mask, size):
  return _np(tf.image.resize(tf.cast(mask, tf.float32)[..., None], size,
                             method='nearest')[..., 0])


def _pixel_ce(logits, label, ignore_label=255):
  """Mean CE over non-ignored pixels; logits resized to the label's size."""
  label = np.asarray(label)[..., 0]
  logits = _resize_bilinear(logits, label.shape[1:3])
  valid = label != ignore_label
  picked = np.take_along_axis(_log_softmax(logits),
                              np.where(valid, label, 0)[..., None], -1)[..., 0]
  return -(picked * valid).sum() / valid.sum()


def _soft_ce(logits, target, mask):
  per_pixel = -(target * _log_softmax(_np(logits))).sum(-1)
  return (per_pixel * mask).sum() / max(mask.sum(), 1.0)


def _sigmoid_ce(logits, targets, weights=None):
  x, z = _np(logits), _np(targets)
  per_entry = np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x)))
  if weights is None:
    return per_entry.mean()
  w = _np(weights)[:, None] * np.ones_like(per_entry)
  return (per_entry * w).sum() / w.sum()


def _fused_prob(teacher_out):
  """SPEC §5 before sharpening: global RMS, then ½ softmax + ½ softmax."""
  decoder = _np(teacher_out['logits'])
  sgc = _resize_bilinear(teacher_out['sgc_logits'], decoder.shape[1:3])
  rms = np.sqrt((np.square(decoder).sum() + np.square(sgc).sum()) /
                (decoder.size + sgc.size) + 1e-8)
  return 0.5 * _softmax(decoder / rms) + 0.5 * _softmax(sgc / rms)


def _sharpen(prob, temperature=0.5):
  powered = prob**(1.0 / temperature)
  return powered / powered.sum(-1, keepdims=True)


def _reference_losses(student_out, lab, pseudo, strong_valid, weight=None):
  """Every loss term of the PseudoSeg step (semi mode) from the student pass.

  Args:
    student_out: the model's outputs on [labeled images; strong views].
    lab: the labeled sub-batch.
    pseudo: [B_u,h,w,C] numpy pseudo label (target of the strong views).
    strong_valid: [B_u,H,W] the strong views' valid mask.
    weight: optional [B_u,h,w] per-pixel weight of the pseudo label.

  Returns:
    dict of floats named as the step's metrics (reg_loss excluded).
  """
  n = int(lab['image'].shape[0])
  logits = student_out['logits']
  mask = _resize_nearest(strong_valid, logits.shape[1:3])
  if weight is not None:
    mask = mask * weight
  return {
      'sup_loss': _pixel_ce(logits[:n], lab['label']),
      'sgc_loss': _pixel_ce(student_out['sgc_logits'][:n], lab['label']),
      'cls_loss': _sigmoid_ce(student_out['cls_logits'][:n],
                              lab['class_labels']),
      'unsup_loss': _soft_ce(logits[n:], pseudo, mask),
      'pseudo_confidence': (pseudo.max(-1) * mask).sum() / max(mask.sum(), 1),
      'pixels_used': mask.mean(),
  }


def _teacher_pass(model, image, valid, seed, training=True):
  """The model on a view, as the step's teacher: (outputs, fused prob)."""
  out = model(image, training=training, attention_mask=valid,
              dropout_seed=_fold(seed, 2))
  return out, _fused_prob(out)


def _student_pass(model, lab, strong_image, strong_valid, seed,
                  feature_keep=None):
  """The student pass; `feature_keep` multiplies the ASPP output (dropout)."""
  perturbation = None
  if feature_keep is not None:
    perturbation = lambda x: x * tf.cast(feature_keep, x.dtype)
  return model(tf.concat([lab['image'], strong_image], 0), training=True,
               attention_mask=tf.concat([lab['valid'], strong_valid], 0),
               decoder_perturbation=perturbation, dropout_seed=_fold(seed, 3))


def _regularization(model):
  return float(tf.add_n(model.losses))


def _relative_gap(a, b):
  return abs(float(a) - float(b)) / max(abs(float(b)), 1e-12)


def _assert_mismatch(test, got, ref, names=('unsup_loss', 'pseudo_confidence'),
                     msg=None):
  """A wrong reference misses some term by 10x the tolerance of a match."""
  gap = max(_relative_gap(got[name], ref[name]) for name in names)
  test.assertGreater(gap, 10 * _RTOL, msg=msg)


_TERMS = ('sup_loss', 'sgc_loss', 'cls_loss', 'unsup_loss', 'reg_loss',
          'pseudo_confidence', 'pixels_used')


# ---------------------------------------------------------------------------
# Tests.


class SupervisedStepReferenceTest(tf.test.TestCase):

  def test_loss_matches_reference_with_the_step_seed_as_dropout_seed(self):
    model, optimizer = _build(pseudoseg_heads=False)
    optimizer.iterations.assign(4)
    batch = _labeled_batch(batch=2, seed=3)
    start = _snapshot(model.variables)
    seed = _step_seed(4, salt=2)
    out = model(batch['image'], training=True, dropout_seed=seed)
    sup = _pixel_ce(out['logits'], batch['label'])
    other = model(batch['image'], training=True, dropout_seed=_fold(seed, 3))
    reg = _regularization(model)
    _restore(model.variables, start)
    got = _run_supervised_step(model, optimizer, batch, seed=2)
    self.assertAllClose(got['sup_loss'], sup, rtol=_RTOL, atol=0)
    self.assertAllClose(got['reg_loss'], reg, rtol=_RTOL, atol=0)
    self.assertAllClose(got['loss'], sup + reg, rtol=_RTOL, atol=0)
    # The dropout draw matters: another seed gives another loss.
    self.assertGreater(
        _relative_gap(got['sup_loss'], _pixel_ce(other['logits'],
                                                 batch['label'])), 1e-4)


class PseudoSegStepReferenceTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(('teacher_training_mode', True),
                                  ('teacher_inference_mode', False))
  def test_every_term_matches_the_reference(self, teacher_training_mode):
    batch = _batch()
    lab, unl = batch['labeled'], batch['unlabeled']
    if teacher_training_mode:
      model, optimizer = _build()
    else:
      # With its initial moving statistics the model in inference mode gives
      # nearly the same logits for any image, which would hide a wrong view:
      # one training-mode pass at momentum 0 sets them to a batch's.
      model, optimizer = _build(batchnorm_momentum=0.0)
      model(tf.concat([lab['image'], unl['weak_image']], 0), training=True,
            dropout_seed=_step_seed(9, 9))
    iteration, salt = 3, 5
    optimizer.iterations.assign(iteration)
    start = _snapshot(model.variables)
    seed = _step_seed(iteration, salt)

    teacher_out, prob = _teacher_pass(model, unl['weak_image'],
                                      unl['weak_valid'], seed,
                                      training=teacher_training_mode)
    pseudo = _sharpen(prob)
    # The library's fusion agrees with the numpy one on these outputs.
    lib_pseudo, lib_weight = fusion.calibrated_fusion(
        teacher_out['logits'], teacher_out['sgc_logits'])
    self.assertAllClose(lib_pseudo, pseudo, atol=1e-6)
    self.assertAllEqual(lib_weight, np.ones(pseudo.shape[:3]))
    with tf.GradientTape() as tape:
      student_out = _student_pass(model, lab, unl['strong_image'],
                                  unl['strong_valid'], seed)
      # The same total from the library losses, for the gradient.
      n = int(lab['image'].shape[0])
      mask = _resize_nearest(unl['strong_valid'],
                             student_out['logits'].shape[1:3])
      total_tf = (
          losses.softmax_cross_entropy_with_ignore(student_out['logits'][:n],
                                                   lab['label']) +
          losses.softmax_cross_entropy_with_ignore(
              student_out['sgc_logits'][:n], lab['label']) +
          losses.multilabel_sigmoid_cross_entropy(
              student_out['cls_logits'][:n], lab['class_labels']) +
          losses.soft_cross_entropy(student_out['logits'][n:],
                                    tf.constant(pseudo, tf.float32),
                                    tf.constant(mask, tf.float32)) +
          tf.add_n(model.losses))
    grads = tape.gradient(total_tf, model.trainable_variables)
    ref = _reference_losses(student_out, lab, pseudo, unl['strong_valid'])
    ref['reg_loss'] = _regularization(model)
    ref_total = (ref['sup_loss'] + ref['sgc_loss'] + ref['cls_loss'] +
                 ref['unsup_loss'] + ref['reg_loss'])
    self.assertAllClose(total_tf, ref_total, rtol=_RTOL, atol=0)
    # Batch-norm statistics after the reference's passes: the teacher pass
    # moves them only in training mode.
    moved_stats = _snapshot(model.non_trainable_variables)
    _restore(model.variables, start)

    got = _run_pseudoseg_step(model, optimizer, batch, seed=salt,
                              teacher_training_mode=teacher_training_mode)
    self.assertCountEqual(got, pseudoseg_task.METRICS)
    for name in _TERMS:
      self.assertAllClose(got[name], ref[name], rtol=_RTOL, atol=0, msg=name)
    self.assertAllClose(got['loss'], ref_total, rtol=_RTOL, atol=0)
    # One SGD update (no momentum yet) with the poly rate of this iteration,
    # along the gradient of the total.
    self.assertEqual(int(optimizer.iterations), iteration + 1)
    lr = _poly_learning_rate(iteration)
    trainable_ids = {id(v) for v in model.trainable_variables}
    before = dict(zip([id(v) for v in model.variables], start))
    self.assertTrue(all(g is not None for g in grads))
    moves = np.concatenate([(v.numpy() - before[id(v)]).ravel()
                            for v in model.trainable_variables])
    expected = np.concatenate([-lr * g.numpy().ravel() for g in grads])
    self.assertLess(np.linalg.norm(moves - expected),
                    1e-3 * np.linalg.norm(expected))
    # Both passes moved the batch-norm statistics, as in the reference.
    for v, value in zip(model.non_trainable_variables, moved_stats):
      self.assertNotIn(id(v), trainable_ids)
      self.assertAllClose(v, value, rtol=1e-5, atol=1e-7, msg=v.name)

  def test_the_target_is_the_weak_views_pseudo_label(self):
    model, optimizer = _build()
    batch = _batch()
    lab, unl = batch['labeled'], batch['unlabeled']
    start = _snapshot(model.variables)
    seed = _step_seed(0, 0)
    _, weak_prob = _teacher_pass(model, unl['weak_image'], unl['weak_valid'],
                                 seed)
    _, strong_prob = _teacher_pass(model, unl['strong_image'],
                                   unl['strong_valid'], seed)
    # Teacher dropout from the student's stream (fold-in 3) instead of 2.
    other_seed_out = model(unl['weak_image'], training=True,
                           attention_mask=unl['weak_valid'],
                           dropout_seed=_fold(seed, 3))
    student = _student_pass(model, lab, unl['strong_image'],
                            unl['strong_valid'], seed)
    student_on_weak = _student_pass(model, lab, unl['weak_image'],
                                    unl['weak_valid'], seed)
    candidates = {
        'right': _reference_losses(student, lab, _sharpen(weak_prob),
                                   unl['strong_valid']),
        'swapped_views': _reference_losses(
            student_on_weak, lab, _sharpen(strong_prob), unl['weak_valid']),
        'strong_pseudo_label': _reference_losses(
            student, lab, _sharpen(strong_prob), unl['strong_valid']),
        'teacher_seed_3': _reference_losses(
            student, lab, _sharpen(_fused_prob(other_seed_out)),
            unl['strong_valid']),
        'unsharpened': _reference_losses(student, lab, weak_prob,
                                         unl['strong_valid']),
        'weak_valid_mask': _reference_losses(student, lab, _sharpen(weak_prob),
                                             unl['weak_valid']),
    }
    _restore(model.variables, start)
    got = _run_pseudoseg_step(model, optimizer, batch)
    self.assertAllClose(got['unsup_loss'], candidates['right']['unsup_loss'],
                        rtol=_RTOL, atol=0)
    self.assertAllClose(got['pseudo_confidence'],
                        candidates['right']['pseudo_confidence'], rtol=_RTOL,
                        atol=0)
    for name, ref in candidates.items():
      if name != 'right':
        _assert_mismatch(self, got, ref, msg=name)


class GradientRoutingTest(tf.test.TestCase, parameterized.TestCase):
  """Which variables each loss trains (SPEC §2-§7), through the step."""

  def _groups(self, model):
    """Trainable variable ids by part of the model."""
    below_f = set()  # Backbone variables that the ASPP input depends on.
    with tf.GradientTape() as tape:
      endpoints = model.backbone_endpoints(_batch()['labeled']['image'])
      aspp_level = str(int(math.log2(model.config.output_stride)))
      probe = tf.reduce_sum(endpoints[aspp_level])
    for v, g in zip(model.backbone.trainable_variables,
                    tape.gradient(probe, model.backbone.trainable_variables)):
      if g is not None:
        below_f.add(id(v))
    ids = lambda layer: {id(v) for v in layer.trainable_variables}
    return {'backbone': ids(model.backbone), 'aspp_input': below_f,
            'decoder': ids(model.decoder), 'head': ids(model.head),
            'cls': ids(model.cls_dense), 'sgc': ids(model.sgc)}

  @parameterized.named_parameters(
      ('sup', 'sup_weight', ('aspp_input', 'decoder', 'head')),
      ('unsup', 'unsup_weight', ('aspp_input', 'decoder', 'head')),
      # The classifier pools the last backbone features: the whole backbone.
      ('cls', 'cls_weight', ('backbone', 'cls')),
      # Detached features and CAM: the SGC loss trains the SGC alone.
      ('sgc', 'sgc_weight', ('sgc',)))
  def test_each_loss_trains_exactly_its_parts(self, weight_name, parts):
    model, optimizer = _build(weight_decay=0.0)
    groups = self._groups(model)
    # The last backbone block (after the ASPP input) is a real subset.
    self.assertLess(len(groups['aspp_input']), len(groups['backbone']))
    self.assertGreater(len(groups['aspp_input']), 0)
    expected = set().union(*(groups[p] for p in parts))
    before = _snapshot(model.trainable_variables)
    weights = dict(sup_weight=0.0, sgc_weight=0.0, cls_weight=0.0,
                   unsup_weight=0.0)
    weights[weight_name] = 1.0
    got = _run_pseudoseg_step(model, optimizer, _batch(), **weights)
    self.assertEqual(float(got['reg_loss']), 0.0)
    changed = {id(v) for v, b in zip(model.trainable_variables, before)
               if not np.array_equal(v.numpy(), b)}
    names = {id(v): v.name for v in model.trainable_variables}
    self.assertEqual(sorted(names[i] for i in changed),
                     sorted(names[i] for i in expected))

  def test_no_gradient_through_the_pseudo_label_or_the_teacher(self):
    model, optimizer = _build()
    teacher, _ = _build(init_seed=1)
    batch = _batch()
    unl = batch['unlabeled']
    with tf.GradientTape(persistent=True) as tape:
      tape.watch([unl['weak_image'], unl['strong_image']])
      got = _run_pseudoseg_step(model, optimizer, batch, teacher=teacher,
                                ema_decay=0.99)
    self.assertIsNone(tape.gradient(got['unsup_loss'], unl['weak_image']))
    self.assertIsNone(tape.gradient(got['loss'], unl['weak_image']))
    for g in tape.gradient(got['loss'], teacher.trainable_variables):
      self.assertIsNone(g)
    # Control: the student's view does carry the gradient.
    strong_grad = tape.gradient(got['unsup_loss'], unl['strong_image'])
    self.assertGreater(float(tf.reduce_max(tf.abs(strong_grad))), 0.0)
    del tape

  def test_sgc_and_cam_are_detached_in_the_model(self):
    model, _ = _build()
    lab = _labeled_batch()
    with tf.GradientTape(persistent=True) as tape:
      out = model(lab['image'], training=True, attention_mask=lab['valid'],
                  dropout_seed=_step_seed(0, 0))
      sgc = losses.softmax_cross_entropy_with_ignore(out['sgc_logits'],
                                                     lab['label'])
      cam = tf.reduce_sum(out['cam'])
    self.assertGreater(float(tf.reduce_sum(out['cam_classes'])), 0.0)
    grads = dict(zip([id(v) for v in model.trainable_variables],
                     tape.gradient(sgc, model.trainable_variables)))
    sgc_ids = {id(v) for v in model.sgc.trainable_variables}
    for v in model.trainable_variables:
      g = grads[id(v)]
      if id(v) in sgc_ids:
        # Queries and keys too: the attention learns from the SGC loss.
        self.assertGreater(float(tf.reduce_max(tf.abs(g))), 0.0, msg=v.name)
      else:
        self.assertIsNone(g, msg=v.name)
    self.assertIsNone(tape.gradient(sgc, model.cls_dense.kernel))
    for g in tape.gradient(cam, model.trainable_variables):
      self.assertIsNone(g)
    del tape


class PseudoSegOptionsReferenceTest(tf.test.TestCase):
  """CutMix, feature dropout, EMA teacher, distribution alignment, weights."""

  def test_cutmix_matches_the_reference(self):
    model, optimizer = _build()
    iteration = 2
    optimizer.iterations.assign(iteration)
    batch = _batch(num_unlabeled=3)
    lab, unl = batch['labeled'], batch['unlabeled']
    start = _snapshot(model.variables)
    seed = _step_seed(iteration, 0)
    _, prob = _teacher_pass(model, unl['weak_image'], unl['weak_valid'], seed)
    pseudo = _sharpen(prob)

    def mixed_views(boxes):
      boxes = boxes.numpy()

      def raster(size):
        ys = (np.arange(size) + 0.5) / size
        inside_y = (ys >= boxes[:, 0:1]) & (ys < boxes[:, 2:3])
        inside_x = (ys >= boxes[:, 1:2]) & (ys < boxes[:, 3:4])
        return (inside_y[:, :, None] & inside_x[:, None, :]).astype(np.float64)

      def mix(x, mask):
        x = _np(x)
        if x.ndim == 4:
          mask = mask[..., None]
        return mask * x + (1 - mask) * x[[-1] + list(range(len(x) - 1))]

      image_mask, label_mask = raster(_CROP), raster(17)
      return (tf.constant(mix(unl['strong_image'], image_mask), tf.float32),
              tf.constant(mix(unl['strong_valid'], image_mask), tf.float32),
              mix(pseudo, label_mask))

    refs = {}
    for name, index in (('right', 0), ('seed_1', 1)):
      boxes = cutmix.sample_boxes(3, 0.5, _fold(seed, index))
      image, valid, mixed_pseudo = mixed_views(boxes)
      student = _student_pass(model, lab, image, valid, seed)
      refs[name] = _reference_losses(student, lab, mixed_pseudo, valid)
      if name == 'right':
        refs['unmixed_target'] = _reference_losses(student, lab, pseudo, valid)
        refs['right']['reg_loss'] = _regularization(model)
    _restore(model.variables, start)
    got = _run_pseudoseg_step(model, optimizer, batch, cutmix=True)
    for name in _TERMS:
      self.assertAllClose(got[name], refs['right'][name], rtol=_RTOL, atol=0,
                          msg=name)
    for name in ('seed_1', 'unmixed_target'):
      _assert_mismatch(self, got, refs[name], msg=name)

  def test_feature_dropout_matches_the_reference(self):
    model, optimizer = _build()
    rate = 0.5
    batch = _batch()
    lab, unl = batch['labeled'], batch['unlabeled']
    start = _snapshot(model.variables)
    seed = _step_seed(0, 0)
    _, prob = _teacher_pass(model, unl['weak_image'], unl['weak_valid'], seed)
    pseudo = _sharpen(prob)
    channels = model.config.aspp_filters
    # Inverted channel dropout from fold-in 1, on the unlabeled rows only.
    draw = tf.random.stateless_uniform([4, 1, 1, channels], _fold(seed, 1))
    keep = (draw.numpy() >= rate) / (1.0 - rate)
    keep[:2] = 1.0
    self.assertAllClose(
        model_lib.channel_dropout_mask(tf.constant([0.0, 0.0, 1.0, 1.0]),
                                       channels, rate, _fold(seed, 1)), keep)
    perturbed_all = np.broadcast_to(
        (draw.numpy() >= rate) / (1.0 - rate), keep.shape)
    refs = {}
    for name, feature_keep in (('right', keep), ('labeled_too', perturbed_all),
                               ('none', None)):
      if feature_keep is not None:
        feature_keep = tf.constant(feature_keep, tf.float32)
      student = _student_pass(model, lab, unl['strong_image'],
                              unl['strong_valid'], seed,
                              feature_keep=feature_keep)
      refs[name] = _reference_losses(student, lab, pseudo, unl['strong_valid'])
    refs['right']['reg_loss'] = _regularization(model)
    _restore(model.variables, start)
    got = _run_pseudoseg_step(model, optimizer, batch, feature_dropout=rate)
    for name in _TERMS:
      self.assertAllClose(got[name], refs['right'][name], rtol=_RTOL, atol=0,
                          msg=name)
    # The classifier, CAM and SGC do not see the perturbation ...
    for name in ('sgc_loss', 'cls_loss'):
      self.assertAllClose(got[name], refs['none'][name], rtol=_RTOL, atol=0,
                          msg=name)
    # ... the decoder does, and on the strong views only.
    for name in ('none', 'labeled_too'):
      for term in ('sup_loss', 'unsup_loss'):
        _assert_mismatch(self, got, refs[name], names=(term,), msg=(name, term))

  def test_ema_teacher_makes_the_labels_and_is_updated_once(self):
    model, optimizer = _build()
    teacher, _ = _build(init_seed=1)
    iteration, decay = 3, 0.99
    optimizer.iterations.assign(iteration)
    batch = _batch()
    lab, unl = batch['labeled'], batch['unlabeled']
    model_start = _snapshot(model.variables)
    teacher_start = _snapshot(teacher.variables)
    seed = _step_seed(iteration, 0)
    _, prob = _teacher_pass(teacher, unl['weak_image'], unl['weak_valid'], seed)
    teacher_after_pass = _snapshot(teacher.variables)  # Its BN stats moved.
    _, model_prob = _teacher_pass(model, unl['weak_image'], unl['weak_valid'],
                                  seed)
    student = _student_pass(model, lab, unl['strong_image'],
                            unl['strong_valid'], seed)
    ref = _reference_losses(student, lab, _sharpen(prob), unl['strong_valid'])
    own = _reference_losses(student, lab, _sharpen(model_prob),
                            unl['strong_valid'])
    _restore(model.variables, model_start)
    _restore(teacher.variables, teacher_start)
    got = _run_pseudoseg_step(model, optimizer, batch, teacher=teacher,
                              ema_decay=decay)
    for name in ('sup_loss', 'sgc_loss', 'cls_loss', 'unsup_loss',
                 'pseudo_confidence'):
      self.assertAllClose(got[name], ref[name], rtol=_RTOL, atol=0, msg=name)
    _assert_mismatch(self, got, own, msg='the model\'s own pseudo label')
    # Mean Teacher's ramp at the iteration count after the update (4 here).
    d = min(decay, (1.0 + iteration + 1) / (10.0 + iteration + 1))
    kernels = 0
    for t, old, s in zip(teacher.variables, teacher_after_pass,
                         model.variables):
      student_now = s.numpy()
      once = d * old + (1 - d) * student_now
      self.assertAllClose(t, once, rtol=1e-5, atol=1e-6, msg=t.name)
      if 'kernel' in t.name:
        # Initialised apart: a second update would miss by far more.
        kernels += 1
        twice = d * once + (1 - d) * student_now
        self.assertGreater(np.abs(twice - once).max(), 1e-4, msg=t.name)
    self.assertGreater(kernels, 50)

  def test_distribution_alignment_matches_the_reference(self):
    model, optimizer = _build()
    momentum = 0.9
    batch = _batch()
    lab, unl = batch['labeled'], batch['unlabeled']
    start = _snapshot(model.variables)
    seed = _step_seed(0, 0)
    _, prob = _teacher_pass(model, unl['weak_image'], unl['weak_valid'], seed)
    student = _student_pass(model, lab, unl['strong_image'],
                            unl['strong_valid'], seed)
    uniform = np.full(_NUM_CLASSES, 1.0 / _NUM_CLASSES)
    valid = _resize_nearest(unl['weak_valid'], prob.shape[1:3])
    batch_p = (prob * valid[..., None]).sum((0, 1, 2)) / valid.sum()
    label = lab['label'].numpy().ravel()
    label = label[label != 255]
    batch_q = np.bincount(label, minlength=_NUM_CLASSES) / label.size
    p = momentum * uniform + (1 - momentum) * batch_p
    q = momentum * uniform + (1 - momentum) * batch_q
    aligned = prob * q / p
    aligned /= aligned.sum(-1, keepdims=True)
    ref = _reference_losses(student, lab, _sharpen(aligned),
                            unl['strong_valid'])
    plain = _reference_losses(student, lab, _sharpen(prob),
                              unl['strong_valid'])
    _restore(model.variables, start)
    alignment = distribution_alignment.DistributionAlignment(_NUM_CLASSES,
                                                             momentum)
    got = _run_pseudoseg_step(model, optimizer, batch, alignment=alignment)
    for name in ('unsup_loss', 'pseudo_confidence'):
      self.assertAllClose(got[name], ref[name], rtol=_RTOL, atol=0, msg=name)
    _assert_mismatch(self, got, plain, msg='no alignment')
    # The marginals moved once, with this batch.
    self.assertAllClose(alignment.prediction_marginal, p, rtol=1e-5, atol=0)
    self.assertAllClose(alignment.label_marginal, q, rtol=1e-5, atol=0)

  def test_weights_and_rampup_compose_the_total(self):
    model, optimizer = _build()
    iteration, rampup = 4, 10
    optimizer.iterations.assign(iteration)
    batch = _batch()
    lab, unl = batch['labeled'], batch['unlabeled']
    start = _snapshot(model.variables)
    seed = _step_seed(iteration, 0)
    _, prob = _teacher_pass(model, unl['weak_image'], unl['weak_valid'], seed)
    student = _student_pass(model, lab, unl['strong_image'],
                            unl['strong_valid'], seed)
    ref = _reference_losses(student, lab, _sharpen(prob), unl['strong_valid'])
    ref['reg_loss'] = _regularization(model)
    _restore(model.variables, start)
    weights = dict(sup_weight=0.7, sgc_weight=1.3, cls_weight=0.4,
                   unsup_weight=2.0)
    got = _run_pseudoseg_step(model, optimizer, batch,
                              unsup_rampup_steps=rampup, **weights)
    self.assertCountEqual(got, pseudoseg_task.METRICS +
                          consistency_rampup.ConsistencyRampup.metric_names)
    # The ramp's factor at the iteration before the update.
    unsup_weight = 2.0 * np.exp(-5.0 * (1.0 - iteration / rampup)**2)
    self.assertAllClose(got['unsup_weight'], unsup_weight, rtol=1e-6, atol=0)
    for name in _TERMS:  # The reported terms are unweighted.
      self.assertAllClose(got[name], ref[name], rtol=_RTOL, atol=0, msg=name)
    total = (0.7 * ref['sup_loss'] + 1.3 * ref['sgc_loss'] +
             0.4 * ref['cls_loss'] + unsup_weight * ref['unsup_loss'] +
             ref['reg_loss'])
    self.assertAllClose(got['loss'], total, rtol=_RTOL, atol=0)


if __name__ == '__main__':
  tf.test.main()
