"""Tests for core/cam.py."""

import numpy as np
import tensorflow as tf

from core.modeling import cam


def _tape_gradcam(features, kernel, bias):
  """Grad-CAM the textbook way: gradients of the class scores w.r.t. F."""
  features = tf.convert_to_tensor(features)
  num_classes = kernel.shape[1]
  maps = []
  for c in range(num_classes):
    with tf.GradientTape() as tape:
      tape.watch(features)
      scores = tf.reduce_mean(features, axis=[1, 2]) @ kernel + bias
      score = tf.reduce_sum(scores[:, c])  # Images are independent.
    grads = tape.gradient(score, features)  # [B, h, w, D]
    weights = tf.reduce_mean(grads, axis=[1, 2], keepdims=True)
    maps.append(tf.nn.relu(tf.reduce_sum(weights * features, axis=-1)))
  return tf.stack(maps, axis=-1)


class CamTest(tf.test.TestCase):

  def test_closed_form_matches_tape_gradcam(self):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(2, 3, 4, 6)).astype(np.float32)
    kernel = rng.normal(size=(6, 5)).astype(np.float32)
    bias = rng.normal(size=(5,)).astype(np.float32)
    closed = cam.gradcam_closed_form(features, kernel)
    tape = _tape_gradcam(features, kernel, bias)
    # The tape version carries the GAP factor 1 / (h * w).
    self.assertAllClose(closed / 12.0, tape, atol=1e-5)
    mask = np.ones((2, 5), np.float32)
    self.assertAllClose(cam.normalize_cam(closed, mask),
                        cam.normalize_cam(tape, mask), atol=1e-5)

  def test_hand_computed_case(self):
    # One image, 1x2 positions, 2 channels, 2 classes.
    features = np.array([[[[1., 2.], [3., -1.]]]], np.float32)
    kernel = np.array([[1., -1.], [1., 0.5]], np.float32)
    # F W: position 0 -> [3, 0], position 1 -> [2, -3.5] -> relu.
    expected = np.array([[[[3., 0.], [2., 0.]]]], np.float32)
    raw = cam.gradcam_closed_form(features, kernel)
    self.assertAllClose(raw, expected)
    # Class 1 has max 0: stays all zero; class 0 divided by 3.
    normed = cam.normalize_cam(raw, np.array([[1., 1.]], np.float32))
    self.assertAllClose(normed, [[[[1., 0.], [2. / 3., 0.]]]])
    # Class 0 absent: zeroed.
    normed = cam.normalize_cam(raw, np.array([[0., 1.]], np.float32))
    self.assertAllClose(normed, np.zeros_like(expected))
    with_bg = cam.cam_with_background(
        cam.normalize_cam(raw, np.array([[1., 1.]], np.float32)))
    self.assertAllClose(with_bg, [[[[0., 1., 0.], [1. / 3., 2. / 3., 0.]]]])

  def test_normalize_matches_numpy_and_floors_tiny_maxima(self):
    rng = np.random.default_rng(1)
    raw = np.abs(rng.normal(size=(3, 4, 5, 6))).astype(np.float32)
    raw[1, ..., 2] *= 1e-7  # Max below 1e-5: divided by 1e-5, not its max.
    mask = (rng.uniform(size=(3, 6)) > 0.4).astype(np.float32)
    mask[1, 2] = 1.0
    got = cam.normalize_cam(raw, mask)
    kept = raw * mask[:, None, None, :]
    want = kept / np.maximum(kept.max(axis=(1, 2), keepdims=True), 1e-5)
    self.assertAllClose(got, want, atol=1e-6)
    self.assertLess(np.max(got[1, ..., 2]), 1e-1)

  def test_normalize_stops_gradient(self):
    raw = tf.Variable(tf.ones([1, 2, 2, 3]))
    with tf.GradientTape() as tape:
      out = tf.reduce_sum(cam.normalize_cam(raw, tf.ones([1, 3])))
    self.assertIsNone(tape.gradient(out, raw))

  def test_classes_from_logits_hand_computed(self):
    # 3 classes (background first) on a 2x3 grid; argmax per pixel:
    # image 0: [0 1 1 / 2 0 1], the last column invalid -> valid shares
    #   background 2/4, class 1 1/4, class 2 1/4;
    # image 1: no valid pixel -> no class.
    picks = np.array([[[0, 1, 1], [2, 0, 1]], [[1, 1, 1], [2, 2, 2]]])
    logits = np.eye(3, dtype=np.float32)[picks] * 4.0 - 1.0
    valid = np.array([[[1, 1, 0], [1, 1, 0]], [[0, 0, 0], [0, 0, 0]]],
                     np.float32)
    self.assertAllEqual(cam.classes_from_logits(logits, valid, 0.25),
                        [[1., 1.], [0., 0.]])
    self.assertAllEqual(cam.classes_from_logits(logits, valid, 0.3),
                        [[0., 0.], [0., 0.]])
    # All valid: image 0 has class 1 on 3/6, class 2 on 1/6.
    ones = np.ones_like(valid)
    self.assertAllEqual(cam.classes_from_logits(logits, ones, 0.2),
                        [[1., 0.], [1., 1.]])

  def test_classes_from_logits_carry_no_gradient(self):
    logits = tf.Variable(tf.random.stateless_normal([1, 4, 4, 3], [1, 2]))
    with tf.GradientTape() as tape:
      out = tf.reduce_sum(cam.classes_from_logits(logits, tf.ones([1, 4, 4]),
                                                  0.1))
    self.assertIsNone(tape.gradient(out, logits))


if __name__ == '__main__':
  tf.test.main()
