"""Area resizing written with matmuls, so that XLA (TPUs, `jit_compile`) can
compile it: TensorFlow's ResizeArea has no XLA kernel.

Each output cell averages the input cells it covers, partial cells weighted by
the fraction covered, as `tf.image.resize(method='area')` does when shrinking.
"""

import tensorflow as tf


def area_weights(in_size, out_size):
  """[out_size, in_size] float32: row i holds the fraction of input cell j
  inside output cell i, divided by the cell's length (each row sums to 1).

  Output cell i spans input coordinates [i * s, (i + 1) * s), s = in / out.
  """
  in_f = tf.cast(in_size, tf.float32)
  out_f = tf.cast(out_size, tf.float32)
  scale = in_f / out_f
  i = tf.range(out_f)[:, tf.newaxis]
  j = tf.range(in_f)[tf.newaxis, :]
  overlap = (tf.minimum((i + 1.0) * scale, j + 1.0) -
             tf.maximum(i * scale, j))
  return tf.maximum(overlap, 0.0) / scale


def area_downsample(images, size):
  """[B, H, W, C] -> [B, h, w, C] float32, the area average (h <= H, w <= W).

  Equal to `tf.image.resize(images, size, method='area')` when shrinking.
  """
  images = tf.cast(images, tf.float32)
  shape = tf.shape(images)
  rows = area_weights(shape[1], size[0])
  cols = area_weights(shape[2], size[1])
  return tf.einsum('ih,bhwc,jw->bijc', rows, images, cols)
