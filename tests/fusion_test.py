"""Tests for core.fusion."""

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from core import config
from core import losses
from core.pseudoseg import fusion


def np_softmax(x):
  e = np.exp(x - x.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def np_fusion(dec, sgc, temperature=0.5, logit_norm='global', pseudo_src='avg',
              soft_labels=True, confidence_threshold=0.0):
  """numpy reference of calibrated_fusion for same-size inputs (float64)."""
  dec = dec.astype(np.float64)
  sgc = sgc.astype(np.float64)
  if logit_norm in ('global', 'replica'):
    scale = np.sqrt(np.concatenate([dec, sgc]).__pow__(2).mean() + 1e-8)
    dec, sgc = dec / scale, sgc / scale
  elif logit_norm == 'pixel':
    dec = dec / np.sqrt((dec ** 2).mean(-1, keepdims=True) + 1e-8)
    sgc = sgc / np.sqrt((sgc ** 2).mean(-1, keepdims=True) + 1e-8)
  prob = {'avg': 0.5 * np_softmax(dec) + 0.5 * np_softmax(sgc),
          'att': np_softmax(sgc), 'dec': np_softmax(dec)}[pseudo_src]
  if soft_labels:
    powered = prob ** (1.0 / temperature)
    label = powered / powered.sum(-1, keepdims=True)
  else:
    label = np.eye(prob.shape[-1])[prob.argmax(-1)]
  weight = np.ones(prob.shape[:-1])
  if confidence_threshold > 0:
    weight = (prob.max(-1) >= confidence_threshold).astype(np.float64)
  return label, weight


def _pixel(values):
  """One image, one pixel: [1, 1, 1, C]."""
  return tf.constant(values, tf.float32, shape=[1, 1, 1, len(values)])


class CalibratedFusionTest(tf.test.TestCase, parameterized.TestCase):

  def test_hand_computed(self):
    # dec [2, 0], sgc [0, 0]: global RMS = sqrt((4 + 0 + 0 + 0) / 4) = 1, so the
    # logits are unchanged. softmax(dec) = [e²/(e²+1), 1/(e²+1)] = [0.880797,
    # 0.119203]; softmax(sgc) = [0.5, 0.5]; avg = [0.690399, 0.309601].
    # T = 0.5 squares: [0.476650, 0.095853], sum 0.572503 -> [0.832572, 0.167428].
    label, weight = fusion.calibrated_fusion(_pixel([2.0, 0.0]), _pixel([0.0, 0.0]))
    self.assertAllClose(tf.reshape(label, [-1]), [0.832572, 0.167428], atol=1e-5)
    self.assertAllEqual(weight, [[[1.0]]])
    # dec [4, 0]: RMS = sqrt(16 / 4) = 2 -> [2, 0] again, same pseudo label.
    label4, _ = fusion.calibrated_fusion(_pixel([4.0, 0.0]), _pixel([0.0, 0.0]))
    self.assertAllClose(label4, label, atol=1e-5)
    # Without normalisation, T = 1: softmax([4, 0])_0 = 0.982014, avg = 0.741007.
    label, _ = fusion.calibrated_fusion(_pixel([4.0, 0.0]), _pixel([0.0, 0.0]),
                                        temperature=1.0, logit_norm='none')
    self.assertAllClose(tf.reshape(label, [-1]), [0.741007, 0.258993], atol=1e-5)
    # Pixel norm, T = 1: dec [4, 0] / sqrt((16 + 0) / 2) = [√2, 0];
    # sigmoid(√2) = 0.804430, avg = 0.652215. sgc [0, 0] stays 0.
    label, _ = fusion.calibrated_fusion(_pixel([4.0, 0.0]), _pixel([0.0, 0.0]),
                                        temperature=1.0, logit_norm='pixel')
    self.assertAllClose(tf.reshape(label, [-1]), [0.652215, 0.347785], atol=1e-5)

  def test_hand_computed_threshold_and_hard(self):
    # Fused max prob before sharpening is 0.690399 (0.832572 after): a threshold of
    # 0.7 drops the pixel, 0.6 keeps it. Hard labels: one-hot of argmax = [1, 0].
    dec, sgc = _pixel([2.0, 0.0]), _pixel([0.0, 0.0])
    _, weight = fusion.calibrated_fusion(dec, sgc, confidence_threshold=0.7)
    self.assertAllEqual(weight, [[[0.0]]])
    _, weight = fusion.calibrated_fusion(dec, sgc, confidence_threshold=0.6)
    self.assertAllEqual(weight, [[[1.0]]])
    label, _ = fusion.calibrated_fusion(dec, sgc, soft_labels=False)
    self.assertAllEqual(tf.reshape(label, [-1]), [1.0, 0.0])

  @parameterized.product(
      logit_norm=['global', 'replica', 'pixel', 'none'],
      pseudo_src=['avg', 'att', 'dec'])
  def test_matches_numpy(self, logit_norm, pseudo_src):
    rng = np.random.RandomState(0)
    dec = (3.0 * rng.randn(2, 3, 4, 5)).astype(np.float32)
    sgc = rng.randn(2, 3, 4, 5).astype(np.float32)
    label, weight = fusion.calibrated_fusion(
        dec, sgc, logit_norm=logit_norm, pseudo_src=pseudo_src)
    want_label, want_weight = np_fusion(dec, sgc, logit_norm=logit_norm,
                                        pseudo_src=pseudo_src)
    self.assertEqual(label.dtype, tf.float32)
    self.assertAllClose(label, want_label, atol=1e-5)
    self.assertAllClose(weight, want_weight)

  @parameterized.parameters((True, 0.0), (False, 0.0), (True, 0.5), (False, 0.4))
  def test_matches_numpy_label_modes(self, soft_labels, threshold):
    rng = np.random.RandomState(1)
    dec = (2.0 * rng.randn(2, 4, 4, 3)).astype(np.float32)
    sgc = rng.randn(2, 4, 4, 3).astype(np.float32)
    label, weight = fusion.calibrated_fusion(
        dec, sgc, temperature=0.3, soft_labels=soft_labels,
        confidence_threshold=threshold)
    want_label, want_weight = np_fusion(
        dec, sgc, temperature=0.3, soft_labels=soft_labels,
        confidence_threshold=threshold)
    self.assertAllClose(label, want_label, atol=1e-5)
    self.assertAllClose(weight, want_weight)
    if threshold > 0:  # The case must exercise both outcomes.
      self.assertBetween(float(tf.reduce_mean(weight)), 0.01, 0.99)

  def test_sgc_is_resized_to_decoder_resolution(self):
    rng = np.random.RandomState(2)
    dec = rng.randn(1, 9, 9, 3).astype(np.float32)
    sgc = rng.randn(1, 3, 3, 3).astype(np.float32)
    label, weight = fusion.calibrated_fusion(dec, sgc)
    self.assertEqual(label.shape, (1, 9, 9, 3))
    self.assertEqual(weight.shape, (1, 9, 9))
    want, _ = np_fusion(dec, losses.resize_logits(sgc, (9, 9)).numpy())
    self.assertAllClose(label, want, atol=1e-5)

  def test_sharpening(self):
    prob = tf.constant([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    self.assertAllClose(fusion.sharpen(prob, 1.0), prob, atol=1e-6)
    self.assertAllClose(fusion.sharpen(prob, 0.01), [[1, 0, 0], [0, 0, 1]],
                        atol=1e-6)
    # T = 0.5 by hand: [0.36, 0.09, 0.01] / 0.46 = [0.782609, 0.195652, 0.021739].
    self.assertAllClose(fusion.sharpen(prob, 0.5)[0],
                        [0.782609, 0.195652, 0.021739], atol=1e-5)
    # A zero probability stays zero and produces no NaN.
    out = fusion.sharpen(tf.constant([[1.0, 0.0]]), 0.5)
    self.assertAllClose(out, [[1.0, 0.0]])

  def test_no_gradient_through_pseudo_label(self):
    dec = tf.Variable(tf.random.normal([1, 4, 4, 3]))
    sgc = tf.Variable(tf.random.normal([1, 2, 2, 3]))
    with tf.GradientTape() as tape:
      label, weight = fusion.calibrated_fusion(dec, sgc, confidence_threshold=0.5)
      loss = tf.reduce_sum(label * weight[..., None] * 3.0)
    self.assertEqual(tape.gradient(loss, [dec, sgc]), [None, None])

  def test_graph_mode_and_mixed_dtypes(self):
    rng = np.random.RandomState(3)
    dec = rng.randn(2, 4, 4, 3).astype(np.float32)
    sgc = rng.randn(2, 2, 2, 3).astype(np.float32)
    eager = fusion.calibrated_fusion(dec, sgc)
    fn = tf.function(
        fusion.calibrated_fusion,
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.bfloat16),
                         tf.TensorSpec([None, None, None, 3], tf.bfloat16)])
    graph = fn(tf.cast(dec, tf.bfloat16), tf.cast(sgc, tf.bfloat16))
    self.assertEqual(graph[0].dtype, tf.float32)
    self.assertAllClose(graph[0], eager[0], atol=0.05)  # bfloat16 inputs.

  def test_bad_arguments(self):
    with self.assertRaises(ValueError):
      fusion.calibrated_fusion(_pixel([0.0, 1.0]), _pixel([0.0, 1.0]),
                               logit_norm='bogus')
    with self.assertRaises(ValueError):
      fusion.calibrated_fusion(_pixel([0.0, 1.0]), _pixel([0.0, 1.0]),
                               pseudo_src='bogus')
    with self.assertRaises(ValueError):
      fusion.CalibratedFusion(pseudo_src='bogus')


class CalibratedFusionLayerTest(tf.test.TestCase):

  def test_layer_matches_function_and_config(self):
    cfg = config.PseudoLabelConfig(temperature=0.7, pseudo_src='att',
                                   confidence_threshold=0.3)
    layer = fusion.CalibratedFusion.from_pseudo_label_config(cfg)
    rng = np.random.RandomState(4)
    dec = rng.randn(2, 4, 4, 3).astype(np.float32)
    sgc = rng.randn(2, 2, 2, 3).astype(np.float32)
    got = layer(dec, sgc)
    want = fusion.calibrated_fusion(dec, sgc, temperature=0.7, pseudo_src='att',
                                    confidence_threshold=0.3)
    self.assertAllClose(got[0], want[0])
    self.assertAllClose(got[1], want[1])
    clone = fusion.CalibratedFusion.from_config(layer.get_config())
    self.assertEqual(clone.get_config(), layer.get_config())
    self.assertEqual(layer.get_config()['temperature'], 0.7)
    self.assertEqual(layer.dtype, 'float32')
    self.assertEmpty(layer.weights)


if __name__ == '__main__':
  tf.test.main()
