"""Tests for core/model.py (tiny MobileNetV2, 65-pixel crops)."""

import dataclasses
import functools
import os
import re

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from core import config
from core.modeling import cam as cam_lib
from core.modeling import model as model_lib

_CROP = 65
_NUM_CLASSES = 5


def _cfg(**overrides):
  cfg = dataclasses.replace(config.smoke().model, pseudoseg_heads=True)
  return dataclasses.replace(cfg, **overrides)


@functools.lru_cache(maxsize=None)
def _shared_model():
  """An OS-16 model shared by the read-only tests (built once)."""
  return model_lib.build_model(_cfg(), _NUM_CLASSES, (_CROP, _CROP))


def _times(keep):
  """The perturbation that multiplies the ASPP output by `keep`."""
  return lambda x: x * tf.constant(keep)


def _images(batch=2, seed=0):
  return tf.random.stateless_uniform([batch, _CROP, _CROP, 3], [seed, 1])


class ModelTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(('os16', 16, 5), ('os8', 8, 9))
  def test_output_shapes(self, output_stride, grid):
    model = (_shared_model() if output_stride == 16 else
             model_lib.build_model(_cfg(output_stride=8), _NUM_CLASSES,
                                   (_CROP, _CROP)))
    out = model(_images(), training=True,
                attention_mask=tf.ones([2, _CROP, _CROP]))
    self.assertEqual(out['logits'].shape, (2, 17, 17, _NUM_CLASSES))
    self.assertEqual(out['cls_logits'].shape, (2, _NUM_CLASSES - 1))
    self.assertEqual(out['cam'].shape, (2, grid, grid, _NUM_CLASSES - 1))
    self.assertEqual(out['sgc_logits'].shape, (2, grid, grid, _NUM_CLASSES))
    for value in out.values():
      self.assertEqual(value.dtype, tf.float32)
      self.assertTrue(np.all(np.isfinite(value.numpy())))

  def test_without_pseudoseg_heads_only_logits(self):
    model = model_lib.build_model(_cfg(pseudoseg_heads=False), _NUM_CLASSES,
                                  (_CROP, _CROP))
    out = model(_images())
    self.assertEqual(set(out), {'logits'})
    self.assertFalse(hasattr(model, 'sgc'))

  def test_dilated_resnet50_shapes(self):
    model = model_lib.build_model(
        _cfg(backbone='resnet50'), _NUM_CLASSES, (_CROP, _CROP))
    out = model(_images(batch=1))
    self.assertEqual(model.sgc_levels, ('4', '3'))
    self.assertEqual(out['logits'].shape, (1, 17, 17, _NUM_CLASSES))
    self.assertEqual(out['sgc_logits'].shape, (1, 5, 5, _NUM_CLASSES))

  def test_cam_level_reads_the_named_endpoint(self):
    model = model_lib.build_model(_cfg(cam_level='2'), _NUM_CLASSES,
                                  (_CROP, _CROP))
    self.assertEqual((model.cam_level, model.sgc_levels), ('2', ('2', '3')))
    images = _images()
    cam_classes = tf.constant([[1., 0., 1., 1.], [0., 1., 0., 0.]])
    out = model(images, cam_classes=cam_classes,
                attention_mask=tf.ones([2, _CROP, _CROP]))
    # Stride 4: the decoder's grid.
    self.assertEqual(out['cam'].shape, (2, 17, 17, _NUM_CLASSES - 1))
    self.assertEqual(out['sgc_logits'].shape, (2, 17, 17, _NUM_CLASSES))
    features = model.backbone_endpoints(images)['2'].numpy()
    cam = np.maximum(features @ model.cls_dense.kernel.numpy(), 0.0)
    peak = cam.max(axis=(1, 2), keepdims=True)
    expected = cam / np.maximum(peak, 1e-5) * cam_classes.numpy()[:, None, None]
    self.assertAllClose(out['cam'], expected, atol=1e-5)

  def test_cam_level_classifier_gradient_stops_at_its_level(self):
    model = model_lib.build_model(_cfg(cam_level='3', cls_dropout=0.0),
                                  _NUM_CLASSES, (_CROP, _CROP))
    variables = model.backbone.trainable_variables
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(model(_images(), training=True)['cls_logits'])
    grads = tape.gradient(loss, variables)
    self.assertIsNotNone(grads[0], variables[0].name)  # The stem.
    self.assertIsNone(grads[-1], variables[-1].name)  # The last level's conv.

  @parameterized.named_parameters(
      ('no_such_level', 'mobilenet_v2', '7', "'7'"),
      ('pooled_level', 'mobilenet_v3_small', '5', "'5'"))
  def test_cam_level_rejects_what_is_not_a_feature_level(self, backbone,
                                                         level, named):
    with self.assertRaisesRegex(ValueError, 'cam_level %s .*%s' % (named,
                                                                   backbone)):
      model_lib.build_model(_cfg(backbone=backbone, cam_level=level),
                            _NUM_CLASSES, (_CROP, _CROP))

  def test_train_step_changes_weights(self):
    model = model_lib.build_model(_cfg(), _NUM_CLASSES, (_CROP, _CROP))
    optimizer = tf.keras.optimizers.SGD(0.1)
    images = _images()
    labels = tf.random.stateless_uniform(
        [2, 17, 17], [2, 3], maxval=_NUM_CLASSES, dtype=tf.int32)
    image_labels = tf.constant([[1., 0., 1., 0.], [0., 1., 0., 0.]])
    before = [v.numpy() for v in model.trainable_variables]
    with tf.GradientTape() as tape:
      out = model(images, training=True)
      sup = tf.reduce_mean(
          tf.keras.losses.sparse_categorical_crossentropy(
              labels, out['logits'], from_logits=True))
      cls = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
          image_labels, out['cls_logits']))
      sgc_labels = tf.image.resize(labels[..., None], [5, 5], 'nearest')[..., 0]
      sgc = tf.reduce_mean(
          tf.keras.losses.sparse_categorical_crossentropy(
              sgc_labels, out['sgc_logits'], from_logits=True))
      loss = sup + cls + sgc + tf.add_n(model.losses)
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    self.assertTrue(np.isfinite(loss.numpy()))
    changed = [not np.allclose(b, v.numpy())
               for b, v in zip(before, model.trainable_variables)]
    self.assertGreater(np.mean(changed), 0.9)
    index = {id(v): i for i, v in enumerate(model.trainable_variables)}
    for var in (model.sgc.trainable_variables +
                model.cls_dense.trainable_variables):
      self.assertFalse(np.allclose(before[index[id(var)]], var.numpy()))

  def test_sgc_loss_reaches_only_sgc_weights(self):
    model = _shared_model()
    with tf.GradientTape() as tape:
      out = model(_images(), training=True)
      loss = tf.reduce_sum(out['sgc_logits'] ** 2)
    own = {id(v) for v in model.sgc.trainable_variables}
    grads = tape.gradient(loss, model.trainable_variables)
    for var, grad in zip(model.trainable_variables, grads):
      if id(var) in own:
        self.assertIsNotNone(grad, var.name)
      else:
        self.assertIsNone(grad, var.name)

  def test_scale_gradient(self):
    x = tf.constant([1.0, -2.0, 3.0])
    for scale in (0.0, 0.1, 1.0):
      with tf.GradientTape() as tape:
        tape.watch(x)
        y = model_lib.scale_gradient(x, scale)
        loss = tf.reduce_sum(y * tf.constant([1.0, 2.0, 3.0]))
      self.assertAllClose(y, x)  # Identity forward.
      grad = tape.gradient(loss, x,
                           unconnected_gradients=tf.UnconnectedGradients.ZERO)
      self.assertAllClose(grad, scale * np.array([1., 2., 3.]))

  def test_cls_feature_grad_scale_scales_backbone_gradient(self):
    images = _images()
    grads = {}
    for scale in (1.0, 0.1):
      model = model_lib.build_model(_cfg(cls_feature_grad_scale=scale, cls_dropout=0.0),
                                    _NUM_CLASSES, (_CROP, _CROP))
      if scale != 1.0:  # Same weights for both.
        model.set_weights(weights)
      weights = model.get_weights()
      variables = [model.backbone.trainable_variables[0],
                   model.cls_dense.kernel]
      with tf.GradientTape() as tape:
        out = model(images, training=False)
        loss = tf.reduce_sum(out['cls_logits'])
      grads[scale] = tape.gradient(loss, variables)
    # The backbone gets a tenth; the head its full gradient.
    self.assertAllClose(grads[0.1][0], 0.1 * grads[1.0][0], rtol=1e-4, atol=1e-7)
    self.assertAllClose(grads[0.1][1], grads[1.0][1], rtol=1e-5)

  def test_weight_decay_covers_heads(self):
    model = _shared_model()
    # One regularisation loss per regularised kernel; the cls and SGC kernels
    # included.
    self.assertGreater(len(model.losses), 40)
    self.assertIsNotNone(model.cls_dense.kernel_regularizer)
    self.assertAllClose(model.cls_dense.kernel_regularizer.l2, 2e-5)

  def test_mixed_bfloat16_outputs_float32(self):
    tf.keras.mixed_precision.set_global_policy('mixed_bfloat16')
    try:
      model = model_lib.build_model(_cfg(), _NUM_CLASSES, (_CROP, _CROP))
      out = model(_images(), training=True,
                  attention_mask=tf.ones([2, _CROP, _CROP]))
      self.assertEqual(model.backbone.compute_dtype, 'bfloat16')
      for value in out.values():
        self.assertEqual(value.dtype, tf.float32)
    finally:
      tf.keras.mixed_precision.set_global_policy('float32')

  def test_cam_classes_respected(self):
    model = _shared_model()
    cam_classes = tf.constant([[1., 0., 0., 1.], [0., 0., 0., 0.]])
    cam = model(_images(), cam_classes=cam_classes)['cam'].numpy()
    self.assertAllEqual(cam[0, ..., 1:3], np.zeros_like(cam[0, ..., 1:3]))
    self.assertAllEqual(cam[1], np.zeros_like(cam[1]))
    self.assertAllInRange(cam, 0.0, 1.0)

  def test_cam_classes_from_the_decoder(self):
    # A function of the decoder's logits: the CAM keeps what its argmax picks on
    # enough valid pixels (cam.classes_from_logits), not the classifier's.
    model = _shared_model()
    valid = np.ones([2, _CROP, _CROP], np.float32)
    valid[1, :, _CROP // 2:] = 0.0
    out = model(_images(), attention_mask=valid,
                cam_classes=functools.partial(cam_lib.classes_from_logits,
                                              min_share=0.1))
    grid = out['logits'].shape[1:3]
    want = cam_lib.classes_from_logits(
        out['logits'], model_lib._downsample_mask(valid, grid), 0.1)
    self.assertAllEqual(out['cam_classes'], want)
    peak = out['cam'].numpy().max(axis=(1, 2))
    self.assertAllEqual(peak[want.numpy() == 0],
                        np.zeros(int((want.numpy() == 0).sum())))
    # Given classes are kept as they are.
    given = tf.constant([[1., 0., 0., 1.], [0., 1., 0., 0.]])
    self.assertAllEqual(model(_images(), cam_classes=given)['cam_classes'],
                        given)

  def test_predicted_cam_classes_follow_threshold(self):
    model = _shared_model()
    out = model(_images())
    predicted = tf.sigmoid(out['cls_logits']).numpy() >= 0.5
    peak = out['cam'].numpy().max(axis=(1, 2))
    self.assertAllEqual(peak[~predicted], np.zeros((~predicted).sum()))

  def test_dropout_only_in_training(self):
    model = _shared_model()
    images = _images()
    a = model(images, training=False)['cls_logits']
    b = model(images, training=False)['cls_logits']
    self.assertAllEqual(a, b)
    c = model(images, training=True)['cls_logits']
    d = model(images, training=True)['cls_logits']
    self.assertNotAllClose(c, d)

  def test_attention_mask_changes_sgc(self):
    model = _shared_model()
    images = _images()
    mask = np.ones([2, _CROP, _CROP], np.float32)
    mask[:, 40:, :] = 0.0
    cam_classes = tf.ones([2, _NUM_CLASSES - 1])
    full = model(images, cam_classes=cam_classes)['sgc_logits']
    masked = model(images, cam_classes=cam_classes,
                   attention_mask=mask)['sgc_logits']
    self.assertNotAllClose(full, masked)

  def test_channel_dropout_mask(self):
    keep = model_lib.channel_dropout_mask(tf.constant([0.0, 1.0, 1.0]), 4000,
                                          0.25, tf.constant([1, 2])).numpy()
    self.assertEqual(keep.shape, (3, 1, 1, 4000))
    self.assertAllEqual(keep[0], np.ones((1, 1, 4000)))  # Not perturbed.
    for row in keep[1:]:
      self.assertAllInSet(np.unique(row), [0.0, 1.0 / 0.75])
      self.assertNear(np.mean(row == 0.0), 0.25, 0.03)
    self.assertNotAllClose(keep[1], keep[2])  # Each image its own channels.
    again = model_lib.channel_dropout_mask(tf.constant([0.0, 1.0, 1.0]), 4000,
                                           0.25, tf.constant([1, 2]))
    self.assertAllEqual(keep, again)

  def test_dropout_against_numpy(self):
    x = tf.reshape(tf.range(1.0, 4001.0), [4, 1000])
    seed = tf.constant([3, 4], tf.int64)
    out = model_lib.dropout(x, 0.25, seed).numpy()
    # The mask is the stateless draw's, kept units scaled by 1 / (1 - rate).
    kept = tf.random.stateless_uniform([4, 1000], seed).numpy() >= 0.25
    self.assertAllClose(out, np.where(kept, x.numpy() / 0.75, 0.0))
    self.assertNear(np.mean(out == 0.0), 0.25, 0.02)
    self.assertAllEqual(model_lib.dropout(x, 0.25, seed), out)  # One seed, one mask.
    self.assertNotAllClose(model_lib.dropout(x, 0.25, [3, 5]), out)
    self.assertIs(model_lib.dropout(x, 0.0, seed), x)

  def test_training_dropout_follows_the_seed(self):
    model = _shared_model()
    self.assertGreater(model.config.aspp_dropout, 0.0)
    self.assertGreater(model.config.cls_dropout, 0.0)
    run = functools.partial(model, _images(), training=True,
                            cam_classes=tf.ones([2, _NUM_CLASSES - 1]))
    first = run(dropout_seed=tf.constant([1, 2]))
    again = run(dropout_seed=tf.constant([1, 2]))
    other = run(dropout_seed=tf.constant([1, 3]))
    for name in ('logits', 'cls_logits'):
      self.assertAllEqual(first[name], again[name], msg=name)
      self.assertNotAllClose(first[name], other[name], msg=name)
    # Inference mode has no dropout: the seed changes nothing.
    infer = functools.partial(model, _images(), training=False)
    self.assertAllEqual(infer(dropout_seed=tf.constant([1, 2]))['logits'],
                        infer(dropout_seed=tf.constant([1, 3]))['logits'])

  def test_decoder_perturbation_perturbs_only_the_decoder(self):
    # Training mode (at initialisation the ASPP output is ~0 in inference mode),
    # no dropout, so that every difference comes from the perturbation.
    model = model_lib.build_model(_cfg(aspp_dropout=0.0, cls_dropout=0.0),
                                  _NUM_CLASSES, (_CROP, _CROP))
    images = _images()
    cam_classes = tf.ones([2, _NUM_CLASSES - 1])
    run = functools.partial(model, images, training=True,
                            cam_classes=cam_classes)
    base = run()
    keep = np.ones([2, 1, 1, model.config.aspp_filters], np.float32)
    self.assertAllClose(run(decoder_perturbation=_times(keep))['logits'],
                        base['logits'])
    keep[1, ..., ::2] = 0.0  # Image 1 loses half its ASPP channels.
    out = run(decoder_perturbation=_times(keep))
    self.assertNotAllClose(out['logits'][1], base['logits'][1])
    for name in ('cls_logits', 'cam', 'sgc_logits'):
      self.assertAllClose(out[name], base[name], msg=name)

  def test_traces_with_unknown_batch(self):
    model = _shared_model()

    @tf.function(input_signature=[
        tf.TensorSpec([None, _CROP, _CROP, 3], tf.float32)])
    def serve(images):
      return model(images, training=False)

    concrete = serve.get_concrete_function()
    self.assertEqual(concrete.structured_outputs['logits'].shape.as_list(),
                     [None, 17, 17, _NUM_CLASSES])
    self.assertEqual(serve(_images(batch=3))['sgc_logits'].shape[0], 3)


class RestoreBackboneTest(tf.test.TestCase):

  def _assert_restores(self, source, path):
    """A new model restored from `path` has `source`'s backbone."""
    target = model_lib.build_model(_cfg(), 3, (_CROP, _CROP))
    # tf.test.TestCase seeds each test alike: make the weights differ.
    for var in target.backbone.weights:
      var.assign_add(tf.ones_like(var))
    model_lib.restore_backbone(target, path)
    for restored, saved in zip(target.backbone.weights, source.backbone.weights):
      self.assertAllEqual(restored, saved)

  def test_restores_backbone_and_full_checkpoints(self):
    source = _shared_model()
    tmp = self.get_temp_dir()
    backbone_path = tf.train.Checkpoint(backbone=source.backbone).write(
        os.path.join(tmp, 'backbone'))
    full_dir = os.path.join(tmp, 'full')
    tf.train.CheckpointManager(
        tf.train.Checkpoint(model=source), full_dir, 1).save()
    for path in (backbone_path, full_dir):
      self._assert_restores(source, path)

  def test_saved_backbone_holds_only_the_backbone_and_restores(self):
    source = _shared_model()
    directory = os.path.join(self.get_temp_dir(), 'exported')
    path = model_lib.save_backbone(source, directory)
    self.assertEqual(path, os.path.join(directory, 'backbone-1'))
    names = [n for n, _ in tf.train.list_variables(path)
             if not n.startswith(('_CHECKPOINTABLE_OBJECT_GRAPH', 'save_counter'))]
    self.assertNotEmpty(names)
    self.assertTrue(all(n.startswith('backbone/') for n in names), names)
    # The directory itself restores (its latest checkpoint), as --init_checkpoint.
    self._assert_restores(source, directory)

  def test_save_backbone_never_overwrites(self):
    directory = os.path.join(self.get_temp_dir(), 'twice')
    model_lib.save_backbone(_shared_model(), directory)
    before = sorted(os.listdir(directory))
    with self.assertRaisesRegex(FileExistsError,
                                re.escape(directory) + '.*already holds'):
      model_lib.save_backbone(_shared_model(), directory)
    self.assertEqual(sorted(os.listdir(directory)), before)

  def test_other_backbone_is_a_clear_error(self):
    other = model_lib.build_model(
        _cfg(width_multiplier=0.5, pseudoseg_heads=False), _NUM_CLASSES,
        (_CROP, _CROP))
    path = tf.train.Checkpoint(backbone=other.backbone).write(
        os.path.join(self.get_temp_dir(), 'other'))
    with self.assertRaisesRegex(ValueError, re.escape(path) + '.*does not fit'):
      model_lib.restore_backbone(_shared_model(), path)

  def test_checkpoint_without_backbone_is_a_clear_error(self):
    path = tf.train.Checkpoint(step=tf.Variable(1)).write(
        os.path.join(self.get_temp_dir(), 'nobackbone'))
    with self.assertRaisesRegex(ValueError, 'holds no backbone'):
      model_lib.restore_backbone(_shared_model(), path)


if __name__ == '__main__':
  tf.test.main()
