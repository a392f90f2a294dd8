"""Atrous convolutions without the taps that read only padding (core/modeling/atrous.py)."""

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from core import config as config_lib
from core.modeling import atrous
from core.modeling import model as model_lib


def _numpy_same_dilated_conv(x, kernel, rate):
  """The 'same' 3x3 dilated convolution written out tap by tap."""
  b, h, w, _ = x.shape
  out = np.zeros((b, h, w, kernel.shape[-1]))
  for dy in range(3):
    for dx in range(3):
      oy, ox = (dy - 1) * rate[0], (dx - 1) * rate[1]
      for i in range(h):
        for j in range(w):
          if 0 <= i + oy < h and 0 <= j + ox < w:
            out[:, i, j] += x[:, i + oy, j + ox] @ kernel[dy, dx]
  return out


class AtrousConvolutionTest(tf.test.TestCase, parameterized.TestCase):

  def test_hand_computed_case_keeps_only_the_centre_tap(self):
    # 2x2 input, rate 2: every off-centre tap reads padding, so the output is
    # the input times the centre weight (3 here), whatever the other weights.
    x = np.array([[1., 2.], [3., 4.]]).reshape(1, 2, 2, 1)
    kernel = np.full((3, 3, 1, 1), 100.0)
    kernel[1, 1] = 3.0
    out = atrous.atrous_convolution(tf.constant(x, tf.float32),
                                    tf.constant(kernel, tf.float32), (2, 2))
    self.assertAllClose(out[0, :, :, 0], [[3., 6.], [9., 12.]])

  @parameterized.parameters(
      ((6, 6), (6, 6)),    # every off-centre tap dead: a 1x1 convolution
      ((6, 6), (18, 18)),
      ((6, 20), (12, 12)),  # rows trimmed, columns whole
      ((20, 6), (12, 12)),  # columns trimmed
      ((8, 8), (3, 3)),    # nothing to trim
      ((7, 9), (2, 7)))
  def test_equals_the_full_convolution_and_numpy(self, size, rate):
    rng = np.random.RandomState(0)
    x = rng.randn(2, size[0], size[1], 3).astype(np.float32)
    kernel = rng.randn(3, 3, 3, 4).astype(np.float32)
    full = tf.nn.convolution(x, kernel, padding='SAME', dilations=list(rate))
    trimmed = atrous.atrous_convolution(tf.constant(x), tf.constant(kernel),
                                        rate)
    self.assertAllClose(trimmed, full, atol=1e-5)
    self.assertAllClose(trimmed, _numpy_same_dilated_conv(x, kernel, rate),
                        atol=1e-4)

  def test_gradients_equal_the_full_convolution(self):
    rng = np.random.RandomState(1)
    x = tf.constant(rng.randn(2, 6, 6, 3).astype(np.float32))
    kernel = tf.Variable(rng.randn(3, 3, 3, 4).astype(np.float32))
    upstream = tf.constant(rng.randn(2, 6, 6, 4).astype(np.float32))
    grads = []
    for fn in (lambda: tf.nn.convolution(x, kernel, padding='SAME',
                                         dilations=[12, 12]),
               lambda: atrous.atrous_convolution(x, kernel, (12, 12))):
      with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(fn() * upstream)
      grads.append(tape.gradient(loss, [x, kernel]))
    for full, trimmed in zip(*grads):
      self.assertAllClose(trimmed, full, atol=1e-4)
    # The taps that read only padding get no gradient.
    self.assertAllEqual(grads[1][1][0], tf.zeros_like(grads[1][1][0]))

  def test_unknown_sizes_convolve_whole(self):
    fn = tf.function(
        lambda x, k: atrous.atrous_convolution(x, k, (18, 18)),
        input_signature=[tf.TensorSpec([1, None, None, 2]),
                         tf.TensorSpec([3, 3, 2, 2])])
    rng = np.random.RandomState(2)
    x = rng.randn(1, 40, 40, 2).astype(np.float32)
    kernel = rng.randn(3, 3, 2, 2).astype(np.float32)
    self.assertAllClose(fn(x, kernel),
                        tf.nn.convolution(x, kernel, padding='SAME',
                                          dilations=[18, 18]), atol=1e-4)


class TrimModelTest(tf.test.TestCase):

  def _model(self):
    cfg = config_lib.override(config_lib.smoke(), aspp_filters=8)
    tf.keras.utils.set_random_seed(0)
    return model_lib.build_model(cfg.model, 3, crop_size=(65, 65))

  def test_built_models_trim_their_aspp_and_keep_their_outputs(self):
    model = self._model()
    # The ASPP's three dilated branches (Model Garden's SpatialPyramidPooling).
    self.assertEqual(atrous.trim_padding_taps(model), 3)
    images = tf.random.stateless_uniform([2, 65, 65, 3], seed=[1, 2])
    seed = tf.constant([3, 4])
    trimmed = model(images, training=True, dropout_seed=seed)['logits']
    # The same model with Keras' own convolution back in every layer.
    for layer in model.submodules:
      if 'convolution_op' in vars(layer):
        del layer.convolution_op
    full = model(images, training=True, dropout_seed=seed)['logits']
    self.assertAllClose(trimmed, full, atol=1e-4)

  def test_build_model_leaves_no_dilated_convolution_on_a_small_map(self):
    model = self._model()
    graph = tf.function(lambda x: model(x, training=True)).get_concrete_function(
        tf.TensorSpec([2, 65, 65, 3])).graph
    ops = graph.get_operations()
    dilations = [list(op.get_attr('dilations')) for op in ops
                 if op.type == 'Conv2D']
    self.assertNotEmpty(dilations)
    self.assertEqual([d for d in dilations if max(d) > 1], [])
    # TensorFlow writes a dilated Conv2D as SpaceToBatchND, Conv2D, BatchToSpaceND.
    # (The backbone's rate-2 depthwise convolutions read the 5x5 map: they stay.)
    self.assertEqual([op.name for op in ops if op.type == 'SpaceToBatchND' and
                      'aspp' in op.name], [])

  def test_under_mixed_bfloat16(self):
    tf.keras.mixed_precision.set_global_policy('mixed_bfloat16')
    try:
      model = self._model()
      out = model(tf.zeros([1, 65, 65, 3]), training=False)['logits']
    finally:
      tf.keras.mixed_precision.set_global_policy('float32')
    self.assertEqual(out.dtype, tf.float32)
    self.assertTrue(np.all(np.isfinite(out.numpy())))


if __name__ == '__main__':
  tf.test.main()
