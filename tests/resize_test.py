"""Tests for core/modeling/resize.py: the matmul area resize equals TensorFlow's
ResizeArea when shrinking, by hand on a small case, and compiles under XLA."""

import numpy as np
import pytest
import tensorflow as tf

from core.modeling import resize


def test_weights_by_hand():
  # 5 -> 2: s = 2.5; cell 0 covers [0, 2.5): inputs 0, 1 whole and half of 2.
  w = resize.area_weights(5, 2).numpy()
  np.testing.assert_allclose(w, [[0.4, 0.4, 0.2, 0.0, 0.0],
                                 [0.0, 0.0, 0.2, 0.4, 0.4]], atol=1e-7)


@pytest.mark.parametrize('in_size,out_size', [
    ((96, 96), (6, 6)), ((65, 65), (5, 5)), ((513, 513), (33, 33)),
    ((7, 11), (3, 4)), ((9, 9), (9, 9)), ((31, 17), (2, 1))])
def test_equals_resize_area(in_size, out_size):
  rng = np.random.default_rng(0)
  images = rng.random((2,) + in_size + (3,)).astype(np.float32)
  # Binary masks too (what the model shrinks), where 0.5 is a threshold.
  masks = (rng.random((2,) + in_size + (1,)) > 0.3).astype(np.float32)
  for x in (images, masks):
    expected = tf.image.resize(x, out_size, method='area').numpy()
    got = resize.area_downsample(x, out_size).numpy()
    np.testing.assert_allclose(got, expected, atol=2e-6)


def test_compiles_under_xla():
  x = np.random.default_rng(1).random((1, 65, 65, 1)).astype(np.float32)
  compiled = tf.function(lambda t: resize.area_downsample(t, (5, 5)),
                         jit_compile=True)
  np.testing.assert_allclose(compiled(x).numpy(),
                             tf.image.resize(x, (5, 5), method='area').numpy(),
                             atol=2e-6)
