"""Losses of PseudoSeg: pure tensor functions, all computed in float32.

* `softmax_cross_entropy_with_ignore`: the supervised pixel loss of the decoder and of
  the SGC branch (logits upsampled to the label's size, ignore label dropped).
* `soft_cross_entropy`: the consistency loss between the strong view's decoder logits and
  the (already stop-gradient) soft pseudo label, over the valid pixels.
* `multilabel_sigmoid_cross_entropy`: the image-level classification loss.

Every loss returns a scalar that is a mean over the *local* batch. Under a
`tf.distribute` strategy the caller divides by the number of replicas (or scales the
loss otherwise); nothing here looks at the replica context.
"""

import tensorflow as tf


def resize_logits(logits, size):
  """Bilinearly resizes logits (half-pixel centres, i.e. align_corners=False).

  Args:
    logits: [batch, height, width, channels] tensor.
    size: (new_height, new_width), ints or scalar int tensors.

  Returns:
    [batch, new_height, new_width, channels] float32 tensor. When the static size
    already matches, `logits` is returned unchanged (cast to float32).
  """
  logits = tf.cast(logits, tf.float32)
  if isinstance(size, (tuple, list)) and all(isinstance(s, int) for s in size):
    if tuple(logits.shape[1:3]) == tuple(size):
      return logits
  return tf.image.resize(logits, size, method=tf.image.ResizeMethod.BILINEAR)


def spatial_size(tensor):
  """Returns the (height, width) of a [batch, height, width, ...] tensor.

  Static ints when known (so that `resize_logits` can skip a no-op resize), else a
  scalar-tensor pair.
  """
  static = tensor.shape[1:3]
  if static[0] is not None and static[1] is not None:
    return (int(static[0]), int(static[1]))
  dynamic = tf.shape(tensor)
  return (dynamic[1], dynamic[2])


def _per_pixel_weights(weights, batch_rank_shape):
  """Casts `weights` ([batch], [batch, H, W] or [batch, H, W, 1]) to [batch, H, W]."""
  weights = tf.cast(tf.convert_to_tensor(weights), tf.float32)
  if weights.shape.rank == 1:
    weights = weights[:, tf.newaxis, tf.newaxis]
  elif weights.shape.rank == 4:
    weights = tf.squeeze(weights, axis=-1)
  return tf.broadcast_to(weights, batch_rank_shape)


def softmax_cross_entropy_with_ignore(logits, labels, ignore_label=255,
                                      weights=None):
  """Pixel-wise softmax cross-entropy, averaged over the non-ignored pixels.

  The logits are first resized (bilinear) to the labels' size, so the loss is taken at
  label resolution as in DeepLab.

  Args:
    logits: [batch, h, w, classes] logits, any float dtype.
    labels: [batch, H, W, 1] or [batch, H, W] integer class ids; `ignore_label` marks
      pixels out of the loss. Other values must lie in [0, classes).
    ignore_label: int, the id that marks unlabeled pixels.
    weights: optional per-image [batch] or per-pixel [batch, H, W] (or
      [batch, H, W, 1]) non-negative weights. The loss is then the weighted mean
      Σ w·valid·ce / Σ w·valid, so 0/1 weights select which images or pixels count.

  Returns:
    A float32 scalar; 0 (not NaN, with zero gradient) when no pixel is valid.
  """
  labels = tf.cast(tf.convert_to_tensor(labels), tf.int32)
  if labels.shape.rank == 4:
    labels = tf.squeeze(labels, axis=-1)
  logits = resize_logits(logits, spatial_size(labels[..., tf.newaxis]))
  valid = tf.not_equal(labels, ignore_label)
  # An ignored id is out of range for the op (an error on CPU, NaN on GPU), so swap
  # in a harmless class and drop the pixel through the mask afterwards.
  safe_labels = tf.where(valid, labels, tf.zeros_like(labels))
  ce = tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=safe_labels, logits=logits)
  mask = tf.cast(valid, tf.float32)
  if weights is not None:
    mask *= _per_pixel_weights(weights, tf.shape(mask))
  return tf.math.divide_no_nan(tf.reduce_sum(ce * mask), tf.reduce_sum(mask))


def _resize_mask(mask, size):
  """Nearest-neighbour resize of a [batch, H, W] mask to `size` (half-pixel centres)."""
  mask = tf.cast(mask, tf.float32)
  if isinstance(size, tuple) and all(isinstance(s, int) for s in size):
    if tuple(mask.shape[1:3]) == size:
      return mask
  resized = tf.image.resize(mask[..., tf.newaxis], size,
                            method=tf.image.ResizeMethod.NEAREST_NEIGHBOR)
  return tf.squeeze(resized, axis=-1)


def _masked_mean(per_pixel, mask):
  """Σ mask·x / max(Σ mask, 1): a mean over valid pixels, 0 when none is valid."""
  return tf.reduce_sum(per_pixel * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def _pixel_mask(mask, per_pixel):
  """A [batch, h, w] float mask at per_pixel's size (all ones when mask is None)."""
  if mask is None:
    return tf.ones_like(per_pixel)
  mask = tf.convert_to_tensor(mask)
  if mask.shape.rank == 4:
    mask = tf.squeeze(mask, axis=-1)
  return _resize_mask(mask, spatial_size(per_pixel))


def soft_cross_entropy(logits, targets, mask=None):
  """Soft-target cross-entropy, averaged over the valid pixels.

  loss = Σ_pixels mask · (−Σ_c y_c log softmax(logits)_c) / max(Σ mask, 1).

  The targets are used as given: the caller stops their gradient (PseudoSeg does so
  once, in `core.fusion.calibrated_fusion`).

  Args:
    logits: [batch, h, w, classes] logits (student, strong view).
    targets: [batch, h, w, classes] target distributions (same size as `logits`).
    mask: optional [batch, H, W] (or [batch, H, W, 1]) 0/1 valid-pixel mask. When its
      size differs from the logits' it is resized with nearest neighbour (half-pixel
      centres, no interpolation so it stays 0/1). None means all pixels are valid.

  Returns:
    A float32 scalar; 0 when the mask is empty.
  """
  logits = tf.cast(logits, tf.float32)
  targets = tf.cast(targets, tf.float32)
  per_pixel = -tf.reduce_sum(targets * tf.nn.log_softmax(logits, axis=-1), axis=-1)
  return _masked_mean(per_pixel, _pixel_mask(mask, per_pixel))


def multilabel_sigmoid_cross_entropy(logits, targets, weights=None):
  """Sigmoid cross-entropy for image-level multi-hot labels, mean over images × classes.

  Args:
    logits: [batch, num_labels] logits (no background class).
    targets: [batch, num_labels] multi-hot targets in {0, 1} (or soft in [0, 1]).
    weights: optional [batch] 0/1 weights selecting the images that carry labels.
      The mean is then over (selected images) × num_labels.

  Returns:
    A float32 scalar; 0 when no image is selected.
  """
  logits = tf.cast(logits, tf.float32)
  targets = tf.cast(targets, tf.float32)
  per_entry = tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits)
  if weights is None:
    return tf.reduce_mean(per_entry)
  weights = tf.cast(weights, tf.float32)[:, tf.newaxis]
  weights = tf.broadcast_to(weights, tf.shape(per_entry))
  return tf.math.divide_no_nan(
      tf.reduce_sum(per_entry * weights), tf.reduce_sum(weights))
