"""Tests for core.losses."""

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from core import losses

LN2 = np.log(2.0)


def np_resize_bilinear(x, size):
  """numpy bilinear resize with half-pixel centres (align_corners=False)."""
  def axis_weights(n_in, n_out):
    src = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    src = np.clip(src, 0, n_in - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, src - lo
  y0, y1, wy = axis_weights(x.shape[1], size[0])
  x0, x1, wx = axis_weights(x.shape[2], size[1])
  rows = (x[:, y0] * (1 - wy)[None, :, None, None] +
          x[:, y1] * wy[None, :, None, None])
  return (rows[:, :, x0] * (1 - wx)[None, None, :, None] +
          rows[:, :, x1] * wx[None, None, :, None])


def np_log_softmax(x):
  x = x - x.max(-1, keepdims=True)
  return x - np.log(np.exp(x).sum(-1, keepdims=True))


class ResizeTest(tf.test.TestCase):

  def test_matches_numpy(self):
    x = np.random.RandomState(0).randn(2, 3, 5, 4).astype(np.float32)
    self.assertAllClose(losses.resize_logits(x, (7, 9)),
                        np_resize_bilinear(x, (7, 9)), atol=1e-5)

  def test_hand_computed(self):
    # 1x2 -> 1x4, half-pixel centres: output x = 0..3 samples input x at
    # (x + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25 -> clamped 0, .25, .75, 1,
    # so [0, 4] becomes [0, 1, 3, 4].
    x = tf.constant([0.0, 4.0], shape=[1, 1, 2, 1])
    self.assertAllClose(tf.reshape(losses.resize_logits(x, (1, 4)), [-1]),
                        [0.0, 1.0, 3.0, 4.0])

  def test_same_size_is_identity(self):
    x = tf.random.normal([1, 3, 3, 2])
    self.assertIs(losses.resize_logits(x, (3, 3)), x)


class SoftmaxCrossEntropyTest(tf.test.TestCase, parameterized.TestCase):

  def test_hand_computed(self):
    # Two pixels with logits [0, 0]: one labeled, one ignored -> ln 2.
    logits = tf.zeros([1, 1, 2, 2])
    labels = tf.constant([1, 255], shape=[1, 1, 2, 1])
    self.assertAllClose(
        losses.softmax_cross_entropy_with_ignore(logits, labels), LN2)
    # logits [ln 3, 0] -> probs [3/4, 1/4]; labels 0 and 1:
    # (-ln 0.75 - ln 0.25) / 2 = (0.287682 + 1.386294) / 2 = 0.836988.
    logits = tf.constant([np.log(3.0), 0.0] * 2, shape=[1, 1, 2, 2])
    labels = tf.constant([0, 1], shape=[1, 1, 2, 1])
    self.assertAllClose(
        losses.softmax_cross_entropy_with_ignore(logits, labels), 0.836988,
        atol=1e-6)
    # Per-image weights [0, 1] keep only the second image (label 1): 1.386294.
    logits = tf.constant([np.log(3.0), 0.0] * 2, shape=[2, 1, 1, 2])
    labels = tf.constant([0, 1], shape=[2, 1, 1, 1])
    self.assertAllClose(
        losses.softmax_cross_entropy_with_ignore(logits, labels,
                                                 weights=[0.0, 1.0]),
        1.386294, atol=1e-6)

  @parameterized.parameters(((4, 6),), ((8, 12),))
  def test_matches_numpy(self, label_size):
    rng = np.random.RandomState(0)
    logits = rng.randn(2, 4, 6, 3).astype(np.float32)
    labels = rng.randint(0, 3, size=(2,) + label_size + (1,))
    labels[rng.rand(*labels.shape) < 0.3] = 255
    weights = rng.rand(2, *label_size).astype(np.float32)
    up = np_resize_bilinear(logits, label_size)
    lbl = labels[..., 0]
    valid = lbl != 255
    logp = np_log_softmax(up)
    ce = -np.take_along_axis(logp, np.where(valid, lbl, 0)[..., None], -1)[..., 0]
    want = (ce * valid).sum() / valid.sum()
    want_w = (ce * valid * weights).sum() / (valid * weights).sum()
    self.assertAllClose(
        losses.softmax_cross_entropy_with_ignore(logits, labels), want,
        atol=1e-5)
    self.assertAllClose(
        losses.softmax_cross_entropy_with_ignore(logits, labels,
                                                 weights=weights),
        want_w, atol=1e-5)

  def test_all_ignored_is_zero_with_finite_gradient(self):
    logits = tf.Variable(tf.random.normal([1, 2, 2, 3]))
    labels = tf.fill([1, 4, 4, 1], 255)
    with tf.GradientTape() as tape:
      loss = losses.softmax_cross_entropy_with_ignore(logits, labels)
    grad = tape.gradient(loss, logits)
    self.assertEqual(float(loss), 0.0)
    self.assertAllEqual(grad, tf.zeros_like(grad))

  def test_float16_and_dynamic_shapes(self):
    fn = tf.function(
        losses.softmax_cross_entropy_with_ignore,
        input_signature=[tf.TensorSpec([None, None, None, 2], tf.float16),
                         tf.TensorSpec([None, None, None, 1], tf.int32)])
    loss = fn(tf.zeros([1, 2, 2, 2], tf.float16), tf.ones([1, 3, 3, 1], tf.int32))
    self.assertEqual(loss.dtype, tf.float32)
    self.assertAllClose(loss, LN2)


class SoftCrossEntropyTest(tf.test.TestCase):

  def test_hand_computed(self):
    # Pixel 1: logits [0, 0], target [0.3, 0.7] -> 0.3 ln 2 + 0.7 ln 2 = ln 2.
    # Pixel 2: masked out, whatever its values.
    logits = tf.constant([[0.0, 0.0], [5.0, -5.0]], shape=[1, 1, 2, 2])
    targets = tf.constant([[0.3, 0.7], [0.0, 1.0]], shape=[1, 1, 2, 2])
    mask = tf.constant([1.0, 0.0], shape=[1, 1, 2])
    self.assertAllClose(losses.soft_cross_entropy(logits, targets, mask), LN2)
    # Empty mask -> 0.
    self.assertEqual(
        float(losses.soft_cross_entropy(logits, targets, tf.zeros([1, 1, 2]))),
        0.0)

  def test_matches_numpy(self):
    rng = np.random.RandomState(1)
    logits = rng.randn(2, 3, 4, 5).astype(np.float32)
    targets = rng.dirichlet(np.ones(5), size=(2, 3, 4)).astype(np.float32)
    mask = (rng.rand(2, 3, 4) > 0.4).astype(np.float32)
    per_pixel = -(targets * np_log_softmax(logits)).sum(-1)
    want = (per_pixel * mask).sum() / max(mask.sum(), 1.0)
    self.assertAllClose(losses.soft_cross_entropy(logits, targets, mask), want,
                        atol=1e-5)
    self.assertAllClose(losses.soft_cross_entropy(logits, targets),
                        per_pixel.mean(), atol=1e-5)

  def test_mask_resized_by_nearest(self):
    rng = np.random.RandomState(2)
    logits = rng.randn(1, 2, 2, 3).astype(np.float32)
    targets = rng.dirichlet(np.ones(3), size=(1, 2, 2)).astype(np.float32)
    # 4x4 mask whose 2x2 blocks are constant: nearest picks each block's value.
    small = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    big = np.kron(small, np.ones((2, 2), np.float32))[None, ..., None]
    self.assertAllClose(
        losses.soft_cross_entropy(logits, targets, big),
        losses.soft_cross_entropy(logits, targets, small[None]))


class MultilabelSigmoidCrossEntropyTest(tf.test.TestCase):

  def test_hand_computed(self):
    # Entries: logit 0 -> ln 2 = 0.693147; logit ln 3, target 1 ->
    # -ln sigmoid(ln 3) = -ln 0.75 = 0.287682. Mean = 0.490415.
    logits = tf.constant([[0.0, np.log(3.0)], [9.0, -9.0]])
    targets = tf.constant([[1.0, 1.0], [0.0, 1.0]])
    self.assertAllClose(
        losses.multilabel_sigmoid_cross_entropy(logits, targets,
                                                weights=[1.0, 0.0]),
        0.490415, atol=1e-6)
    self.assertEqual(
        float(losses.multilabel_sigmoid_cross_entropy(logits, targets,
                                                      weights=[0.0, 0.0])),
        0.0)

  def test_matches_numpy(self):
    rng = np.random.RandomState(4)
    logits = rng.randn(4, 6).astype(np.float32)
    targets = (rng.rand(4, 6) > 0.5).astype(np.float32)
    weights = np.array([1.0, 0.0, 1.0, 1.0], np.float32)
    p = 1 / (1 + np.exp(-logits))
    entries = -(targets * np.log(p) + (1 - targets) * np.log(1 - p))
    self.assertAllClose(
        losses.multilabel_sigmoid_cross_entropy(logits, targets),
        entries.mean(), atol=1e-5)
    self.assertAllClose(
        losses.multilabel_sigmoid_cross_entropy(logits, targets, weights),
        entries[weights > 0].mean(), atol=1e-5)


if __name__ == '__main__':
  tf.test.main()
