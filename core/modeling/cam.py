"""Class activation maps of the PseudoSeg classification head.

The classification head is global average pooling followed by a linear layer,
`score_c = b_c + mean_{y,x} sum_d F[y, x, d] W[d, c]`. The gradient of `score_c`
with respect to `F` is `W[:, c] / (h * w)` at every position, so Grad-CAM, which
weighs the feature channels by their spatially averaged gradient, reduces to
`relu(F W) / (h * w)`. The positive factor `1 / (h * w)` disappears in the
per-map normalisation, so we compute `relu(F W)` in closed form, without a
second backward pass. The bias does not depend on `F` and plays no part.

All functions are pure tensor functions.
"""

import tensorflow as tf

# Maps whose spatial max falls below this are divided by it instead, so that
# near-empty maps are not blown up to 1.
_MIN_MAX = 1e-5


def gradcam_closed_form(features, kernel):
  """Grad-CAM of a GAP + linear classifier, in closed form.

  Args:
    features: [batch, height, width, depth] float, the features `F` that the
      classifier pools.
    kernel: [depth, num_classes] float, the classifier's weight matrix `W`.

  Returns:
    [batch, height, width, num_classes] float32, `relu(F W)`: Grad-CAM up to
    the positive factor `1 / (height * width)`, which normalisation removes.
  """
  features = tf.cast(features, tf.float32)
  kernel = tf.cast(kernel, tf.float32)
  return tf.nn.relu(tf.einsum('bhwd,dk->bhwk', features, kernel))


def normalize_cam(cam, class_mask):
  """Keeps the classes present and scales each map to a max of 1.

  Args:
    cam: [batch, height, width, num_classes] float, non-negative maps.
    class_mask: [batch, num_classes] float or bool, 1 for the classes present
      in each image (given labels, or the classifier's predictions).

  Returns:
    [batch, height, width, num_classes] float32 in [0, 1], with
    `stop_gradient` applied: absent classes are all zero; a present class's
    map is divided by `max(spatial max, 1e-5)` (all zero when its max is 0).
  """
  cam = tf.cast(cam, tf.float32)
  class_mask = tf.cast(class_mask, tf.float32)
  cam = cam * class_mask[:, tf.newaxis, tf.newaxis, :]
  peak = tf.reduce_max(cam, axis=[1, 2], keepdims=True)
  cam = cam / tf.maximum(peak, _MIN_MAX)
  return tf.stop_gradient(cam)


def cam_with_background(cam):
  """Prepends a background map `1 - max_c cam` (for display only).

  Args:
    cam: [batch, height, width, num_classes] float in [0, 1], normalised maps.

  Returns:
    [batch, height, width, num_classes + 1] float32, background first.
  """
  cam = tf.cast(cam, tf.float32)
  background = 1.0 - tf.reduce_max(cam, axis=-1, keepdims=True)
  return tf.concat([background, cam], axis=-1)


def classes_from_logits(logits, valid, min_share):
  """Image-level classes from a segmentation: those it predicts widely enough.

  A class (background excluded) is present when the argmax of `logits` picks it
  on at least `min_share` of the image's valid pixels. An image without valid
  pixels has no classes.

  Args:
    logits: [batch, height, width, num_classes] float, background first.
    valid: [batch, height, width] float, 1 at the pixels that count.
    min_share: float in (0, 1].

  Returns:
    [batch, num_classes - 1] float32 multi-hot, without gradient.
  """
  logits = tf.stop_gradient(tf.cast(logits, tf.float32))
  valid = tf.cast(valid, tf.float32)
  picked = tf.one_hot(tf.argmax(logits, axis=-1), tf.shape(logits)[-1])
  counts = tf.reduce_sum(picked * valid[..., tf.newaxis], axis=[1, 2])
  total = tf.reduce_sum(valid, axis=[1, 2])[:, tf.newaxis]
  share = tf.math.divide_no_nan(counts, total)
  present = tf.logical_and(share >= min_share, total > 0)
  return tf.cast(present[:, 1:], tf.float32)
