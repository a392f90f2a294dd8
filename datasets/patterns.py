"""Pattern primitives of the synthetic textures (datasets/synthetic.py, broad_textures.py).

Each takes pixel coordinates or sizes and returns float32 values in [0, 1].
"""

import numpy as np
from PIL import Image


def lowfreq_noise(rng, height, width, cells):
  """[height, width] float32 noise in [0, 1] varying over about `cells` px."""
  gh = max(2, int(np.ceil(height / cells)) + 1)
  gw = max(2, int(np.ceil(width / cells)) + 1)
  grid = rng.random((gh, gw)).astype(np.float32)
  img = Image.fromarray(grid, mode='F').resize((width, height), Image.BICUBIC)
  return np.asarray(img, np.float32)


def square_wave(x, sharpness):
  """Soft square wave of period 1 in [0, 1]; `sharpness` 1 = sine, large = square."""
  return 0.5 + 0.5 * np.clip(sharpness * np.sin(2 * np.pi * x), -1.0, 1.0)


def fold(x):
  """Distance of `x` to the nearest integer, in [0, 0.5]."""
  return np.abs(x - np.round(x))


def line(distance, width):
  """Antialiased line of `width` px at `distance` px from its centre line."""
  return np.clip(width / 2.0 - distance + 0.5, 0.0, 1.0)
