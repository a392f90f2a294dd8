"""Pictures for TensorBoard: label maps in palette colours, heat maps, panels."""

import tensorflow as tf


def colorize(label_map, palette):
  """Maps class ids to colours.

  Args:
    label_map: [B,H,W] or [B,H,W,1] integer class ids (255 = ignore).
    palette: [256, 3] uint8 numpy array.

  Returns:
    [B,H,W,3] float32 in [0, 1].
  """
  label_map = tf.cast(label_map, tf.int32)
  if label_map.shape.rank == 4:
    label_map = label_map[..., 0]
  colours = tf.constant(palette, tf.float32) / 255.0
  return tf.gather(colours, tf.clip_by_value(label_map, 0, 255))


def overlay(images, label_map, palette, alpha=0.5):
  """Images with their label map's colours blended in.

  Args:
    images: [B,H,W,3] float in [0, 1].
    label_map: [B,H,W] or [B,H,W,1] integer class ids.
    palette: [256, 3] uint8 numpy array.
    alpha: weight of the colours.

  Returns:
    [B,H,W,3] float32 in [0, 1].
  """
  images = tf.cast(images, tf.float32)
  return (1.0 - alpha) * images + alpha * colorize(label_map, palette)


def heatmap(values):
  """[B,H,W] values in [0, 1] as a blue-to-red colour map, [B,H,W,3]."""
  v = tf.clip_by_value(tf.cast(values, tf.float32), 0.0, 1.0)[..., None]
  cold = tf.constant([0.0, 0.0, 0.5])
  hot = tf.constant([1.0, 0.9, 0.0])
  return (1.0 - v) * cold + v * hot


def side_by_side(pictures, size):
  """Resizes [B,h,w,3] pictures to `size` (nearest) and puts them in one row."""
  resized = [tf.image.resize(tf.cast(p, tf.float32), size, method='nearest')
             for p in pictures]
  return tf.concat(resized, axis=2)
