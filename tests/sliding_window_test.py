"""Tests for sliding-window inference (core/evaluation/sliding_window.py)."""

import numpy as np
import pytest

from core.evaluation import sliding_window


@pytest.mark.parametrize('size, window, stride, starts', [
    (5, 3, 2, [0, 2]),          # 0..2, 2..4: the last flush with the end.
    (10, 4, 3, [0, 3, 6]),      # 6..9 ends at 10.
    (7, 4, 3, [0, 3]),
    (8, 4, 4, [0, 4]),          # No overlap needed.
    (3, 4, 3, [0]),             # Shorter than a window: one, at 0.
    (4, 4, 3, [0]),
])
def test_window_starts(size, window, stride, starts):
  assert sliding_window.window_starts(size, window, stride) == starts


def test_stride_for_overlap():
  assert sliding_window.stride_for(3, 1.0 / 3.0) == 2
  assert sliding_window.stride_for(513, 1.0 / 3.0) == 342
  assert sliding_window.stride_for(4, 0.0) == 4
  assert sliding_window.stride_for(4, 0.9) == 1


def test_per_pixel_predictor_gives_the_whole_image_prediction():
  # A predictor that looks at each pixel alone: tiles change nothing.
  rng = np.random.RandomState(0)
  image = rng.rand(11, 17, 3).astype(np.float32)

  def softmax(tile):
    e = np.exp(tile * 3.0)
    return e / e.sum(-1, keepdims=True)

  tiled = sliding_window.predict_tiled(softmax, image, (4, 6), overlap=0.5)
  np.testing.assert_allclose(tiled, softmax(image), rtol=1e-6)


def test_each_pixel_is_the_mean_of_the_windows_that_hold_it():
  # Image 1 x 5, windows 1 x 3, overlap 1/3: stride 2, windows at 0 and 2.
  # Each window predicts, everywhere, its own mean pixel value (one class):
  # window 0 holds 1, 2, 3 (mean 2), window 2 holds 3, 4, 5 (mean 4).
  # Pixels 0, 1: 2; pixel 2: (2 + 4) / 2 = 3; pixels 3, 4: 4.
  image = np.array([[[1.], [2.], [3.], [4.], [5.]]], np.float32)
  seen = []

  def window_mean(tile):
    seen.append(tile.shape)
    return np.full(tile.shape[:2] + (1,), tile.mean(), np.float32)

  out = sliding_window.predict_tiled(window_mean, image, (1, 3), 1.0 / 3.0)
  np.testing.assert_allclose(out[0, :, 0], [2., 2., 3., 4., 4.])
  assert seen == [(1, 3, 1), (1, 3, 1)]


def test_a_side_shorter_than_the_window_is_one_window_of_that_side():
  image = np.zeros((3, 9, 3), np.float32)
  shapes = []

  def record(tile):
    shapes.append(tile.shape[:2])
    return np.ones(tile.shape[:2] + (2,), np.float32)

  out = sliding_window.predict_tiled(record, image, (5, 5), 0.0)
  assert shapes == [(3, 5), (3, 5)]     # Columns 0..4 and 4..8.
  np.testing.assert_allclose(out, np.ones((3, 9, 2)))


def test_overlap_is_checked():
  with pytest.raises(ValueError, match=r'overlap must be in \[0, 1\)'):
    sliding_window.predict_tiled(lambda t: t, np.zeros((2, 2, 1)), (1, 1), 1.0)
