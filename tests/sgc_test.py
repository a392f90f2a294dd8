"""Tests for core/sgc.py."""

import numpy as np
import tensorflow as tf

from core.modeling import sgc


def _numpy_attention(features, wq, wk, mask):
  """Reference attention: [B, N, N] with masked keys and queries."""
  batch, h, w, depth = features.shape
  flat = features.reshape(batch, h * w, depth)
  q, k = flat @ wq, flat @ wk
  logits = q @ k.transpose(0, 2, 1) / np.sqrt(wq.shape[1])
  valid = mask.reshape(batch, h * w) > 0.5
  logits = np.where(valid[:, None, :], logits, -np.inf)
  logits -= logits.max(axis=-1, keepdims=True)
  weights = np.exp(logits)
  weights /= weights.sum(axis=-1, keepdims=True)
  return weights * valid[:, :, None]


class SelfAttentionGradCamTest(tf.test.TestCase):

  def _layer(self, num_classes=4, dim=8):
    layer = sgc.SelfAttentionGradCAM(num_classes, dim=dim)
    layer(tf.zeros([1, 3, 3, 6]), tf.zeros([1, 3, 3, num_classes - 1]))
    return layer

  def test_output_shape_and_dtype(self):
    layer = self._layer()
    out = layer(tf.random.normal([2, 3, 5, 6]), tf.random.uniform([2, 3, 5, 3]),
                attention_mask=tf.ones([2, 3, 5]), training=True)
    self.assertEqual(out.shape, (2, 3, 5, 4))
    self.assertEqual(out.dtype, tf.float32)

  def test_attention_matches_numpy_with_mask(self):
    layer = self._layer()
    rng = np.random.default_rng(0)
    features = rng.normal(size=(2, 3, 3, 6)).astype(np.float32)
    mask = np.ones((2, 3, 3), np.float32)
    mask[0, 2, :] = 0.0  # Padded bottom row.
    mask[1, 1, 1] = 0.0  # A cutout cell.
    got = layer.attention_weights(features, mask).numpy()
    wq = layer._query.kernel.numpy()[0, 0]
    wk = layer._key.kernel.numpy()[0, 0]
    self.assertAllClose(got, _numpy_attention(features, wq, wk, mask),
                        atol=1e-6)
    valid = mask.reshape(2, 9)
    self.assertAllEqual(got[0][:, valid[0] == 0], np.zeros((9, 3)))
    self.assertAllEqual(got[1][:, 4], np.zeros(9))
    self.assertAllClose(got.sum(-1), valid, atol=1e-6)

  def test_rows_sum_to_one_without_mask(self):
    layer = self._layer()
    weights = layer.attention_weights(tf.random.normal([2, 4, 3, 6]))
    self.assertEqual(weights.shape, (2, 12, 12))
    self.assertAllClose(tf.reduce_sum(weights, -1), tf.ones([2, 12]),
                        atol=1e-6)

  def test_hand_case(self):
    # Two positions; dim 1 with identity-like 1x1 convs; the second key is
    # masked, so position 0 attends only to itself: s = 2 V there; position
    # 1 (a masked query) keeps s = V.
    layer = sgc.SelfAttentionGradCAM(2, dim=1)
    features = np.array([[[[1.0], [2.0]]]], np.float32)
    values = np.array([[[[0.25], [1.0]]]], np.float32)
    layer(features, values)
    layer._query.kernel.assign([[[[1.0]]]])
    layer._key.kernel.assign([[[[1.0]]]])
    layer._classifier.kernel.assign(np.eye(2, dtype=np.float32)[None, None])
    out = layer(features, values, attention_mask=np.array([[[1.0, 0.0]]]),
                training=False)
    # s = [0.5, 1.0] -> scores [[1.5, 0.5], [1.0, 1.0]]; inference batch norm
    # with fresh statistics divides by sqrt(1 + 1e-3).
    expected = np.array([[[[1.5, 0.5], [1.0, 1.0]]]]) / np.sqrt(1.001)
    self.assertAllClose(out, expected, atol=1e-5)

  def test_gradients_reach_only_own_weights(self):
    layer = self._layer()
    features = tf.Variable(tf.random.normal([2, 3, 3, 6]))
    values = tf.Variable(tf.random.uniform([2, 3, 3, 3]))
    with tf.GradientTape() as tape:
      out = layer(features, values, training=True)
      loss = tf.reduce_sum(out * tf.random.normal(out.shape))
    grads = tape.gradient(loss, [features, values] + layer.trainable_variables)
    self.assertIsNone(grads[0])
    self.assertIsNone(grads[1])
    self.assertLen(layer.trainable_variables, 4)  # q, k, classifier, beta.
    for g in grads[2:]:
      self.assertIsNotNone(g)

  def test_float32_under_mixed_precision(self):
    tf.keras.mixed_precision.set_global_policy('mixed_bfloat16')
    try:
      layer = self._layer()
      out = layer(tf.cast(tf.random.normal([1, 3, 3, 6]), tf.bfloat16),
                  tf.random.uniform([1, 3, 3, 3]))
      self.assertEqual(out.dtype, tf.float32)
      self.assertEqual(layer._query.kernel.dtype, tf.float32)
    finally:
      tf.keras.mixed_precision.set_global_policy('float32')


if __name__ == '__main__':
  tf.test.main()
