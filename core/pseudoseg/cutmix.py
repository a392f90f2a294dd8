"""CutMix between unlabeled images (an option of SPEC.md; French et al., BMVC 2020).

Each unlabeled image keeps a box of itself and takes the rest from its neighbour in
the batch (the batch rolled by one). The same box, in normalised coordinates, mixes
the strong views, their valid masks and the teacher's pseudo labels, so the mixed
pseudo label lines up with the mixed image at any resolution: the boxes are drawn
once and rasterised at each size.

Mixing happens in the training step, after the teacher pass on the unmixed weak
views: the teacher predicts whole images, the student sees the collage.
"""

import tensorflow as tf

# Aspect ratios (height / width of the box, relative to the image) are drawn
# log-uniformly in [1 / _MAX_ASPECT, _MAX_ASPECT].
_MAX_ASPECT = 2.0


def sample_boxes(batch_size, area, seed):
  """Random boxes covering `area` of the image, one per image.

  Args:
    batch_size: int or scalar int tensor, B.
    area: float in (0, 1], share of the image inside the box (before clipping a
      side longer than the image to 1).
    seed: [2] int stateless seed.

  Returns:
    [B, 4] float32 boxes (y0, x0, y1, x1) in [0, 1].
  """
  seeds = tf.random.experimental.stateless_split(seed, 2)
  u = tf.random.stateless_uniform([batch_size, 3], seeds[0])
  log_aspect = (2.0 * u[:, 0] - 1.0) * tf.math.log(_MAX_ASPECT)
  aspect = tf.exp(log_aspect)
  height = tf.minimum(tf.sqrt(area * aspect), 1.0)
  width = tf.minimum(tf.sqrt(area / aspect), 1.0)
  # The centre is drawn so that the box lies inside the image.
  y0 = u[:, 1] * (1.0 - height)
  x0 = u[:, 2] * (1.0 - width)
  return tf.stack([y0, x0, y0 + height, x0 + width], axis=1)


def box_masks(boxes, size):
  """Rasterises boxes: 1 at pixels whose centre lies inside the box.

  Args:
    boxes: [B, 4] (y0, x0, y1, x1) in [0, 1].
    size: (height, width), ints or a [2] int tensor.

  Returns:
    [B, height, width] float32 mask.
  """
  size = tf.cast(size, tf.float32)
  h, w = size[0], size[1]
  ys = (tf.range(h) + 0.5) / h
  xs = (tf.range(w) + 0.5) / w
  inside_y = ((ys[None, :] >= boxes[:, 0:1]) & (ys[None, :] < boxes[:, 2:3]))
  inside_x = ((xs[None, :] >= boxes[:, 1:2]) & (xs[None, :] < boxes[:, 3:4]))
  return tf.cast(inside_y[:, :, None] & inside_x[:, None, :], tf.float32)


def partner(x):
  """Each image's mixing partner: the batch rolled by one along axis 0."""
  return tf.roll(x, shift=1, axis=0)


def mix(x, mask):
  """`mask` of `x` and `1 - mask` of its partner.

  Args:
    x: [B, H, W] or [B, H, W, C] tensor.
    mask: [B, H, W] float mask (from `box_masks` at x's size).

  Returns:
    Tensor shaped like `x`.
  """
  mask = tf.cast(mask, x.dtype)
  if x.shape.rank == 4:
    mask = mask[..., None]
  return mask * x + (1 - mask) * partner(x)


def mix_class_labels(class_labels, has_class_labels):
  """Image-level labels of the mixed images: the union of both images' labels.

  The box may cut an object of either image out of the collage, so the union
  can name a class no pixel of the mixed image shows; a mixed image has labels
  only if both its images had.

  Args:
    class_labels: [B, K] float multi-hot.
    has_class_labels: [B] bool or float.

  Returns:
    ([B, K] float multi-hot, [B] same dtype as has_class_labels).
  """
  union = tf.maximum(class_labels, partner(class_labels))
  has = tf.cast(has_class_labels, tf.float32)
  both = tf.minimum(has, partner(has))
  return union, tf.cast(both, has_class_labels.dtype)
