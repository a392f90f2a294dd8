"""Sliding-window inference: an image larger than the model's window, in tiles.

The image is covered by windows of `window` pixels (fewer along a side that is
shorter), `stride` apart, the last one on each axis flush with the image's end;
each pixel's probabilities are the mean over the windows that hold it. Plain
numpy around any predictor of a tile's probabilities (cli/predict_lib.py wraps
the run's model and the SavedModel with it).
"""

import math

import numpy as np


def window_starts(size, window, stride):
  """Start offsets of the windows along one axis of `size` pixels.

  Windows of `window` pixels every `stride`, plus one flush with the end; one
  window at 0 when the axis is no longer than a window.
  """
  if size <= window:
    return [0]
  starts = list(range(0, size - window, stride))
  return starts + [size - window]


def stride_for(window, overlap):
  """Pixels between window starts for a share `overlap` in [0, 1) of overlap."""
  return max(1, int(math.floor(window * (1.0 - overlap))))


def predict_tiled(predict, image, window, overlap=1.0 / 3.0):
  """Probabilities of a whole image from windows of it.

  Args:
    predict: fn([h, w, ...] tile) -> [h, w, C] probabilities (numpy).
    image: [H, W, ...] array.
    window: (height, width) of a window.
    overlap: share of a window that its neighbour overlaps, in [0, 1).

  Returns:
    [H, W, C] float32: each pixel's mean over the windows that hold it.
  """
  if not 0.0 <= overlap < 1.0:
    raise ValueError('overlap must be in [0, 1), got %r' % overlap)
  height, width = image.shape[:2]
  total = count = None
  for top in window_starts(height, window[0], stride_for(window[0], overlap)):
    for left in window_starts(width, window[1], stride_for(window[1], overlap)):
      rows = slice(top, min(top + window[0], height))
      cols = slice(left, min(left + window[1], width))
      probabilities = np.asarray(predict(image[rows, cols]), np.float32)
      if total is None:
        total = np.zeros((height, width, probabilities.shape[-1]), np.float32)
        count = np.zeros((height, width, 1), np.float32)
      total[rows, cols] += probabilities
      count[rows, cols] += 1.0
  return total / count
