"""Weak augmentation: one random geometry applied to image, label and valid mask.

The geometry (scale, crop offset, flip) is sampled once by `sample_geometry` and applied
by `apply_geometry`, so every tensor that must stay aligned with the image (the label,
the valid-pixel mask, and the strong view built from the weak crop) moves identically.

Conventions: images are float32 in [0, 1]; labels int32 [height, width, 1] with 255 =
ignore; the valid mask is float32 [height, width], 1 on real image pixels and 0 on
padding. Randomness uses stateless ops, so a seed tensor fixes the result exactly (the
input pipeline derives one seed per example, which makes resumed runs reproducible).
"""

import tensorflow as tf

# ImageNet mean colour in [0, 1]: the value padding takes, so that after the model's
# own normalisation padded pixels are close to zero.
MEAN_PIXEL = (0.485, 0.456, 0.406)
IGNORE_LABEL = 255


def make_seed(seed=None):
  """Returns a stateless-op seed, an int64 tensor of shape [2].

  Args:
    seed: None (draw one from the global stateful generator), a python int, or an
      integer tensor of shape [2].
  """
  if seed is None:
    return tf.random.uniform([2], 0, 2**31 - 1, dtype=tf.int64)
  if isinstance(seed, int):
    return tf.constant([seed, 0], tf.int64)
  seed = tf.convert_to_tensor(seed)
  if seed.dtype not in (tf.int32, tf.int64):
    raise TypeError('seed must be an integer tensor, got %s' % seed.dtype)
  return tf.cast(tf.reshape(seed, [2]), tf.int64)


def scale_values(min_scale, max_scale, scale_step):
  """Returns the discrete scales {min, min + step, ..., max} as a python list.

  Args:
    min_scale: smallest scale.
    max_scale: largest scale.
    scale_step: spacing; must be > 0.
  """
  if scale_step <= 0:
    raise ValueError('scale_step must be > 0 for a discrete set, got %r' %
                     scale_step)
  num = int(round((max_scale - min_scale) / scale_step)) + 1
  return [min_scale + i * scale_step for i in range(num)]


def scaled_size(image_size, scale):
  """Returns the [2] int32 size of an image of `image_size` resized by `scale`."""
  size = tf.cast(image_size, tf.float32) * tf.cast(scale, tf.float32)
  return tf.maximum(tf.cast(tf.math.round(size), tf.int32), 1)


def sample_geometry(image_size, crop_size, min_scale=0.5, max_scale=2.0,
                    scale_step=0.25, seed=None):
  """Samples one random scale, crop offset and flip.

  Args:
    image_size: [2] int tensor, (height, width) of the image before scaling.
    crop_size: (crop_height, crop_width) python ints.
    min_scale: smallest scale.
    max_scale: largest scale.
    scale_step: spacing of the discrete scale set {min, min + step, ..., max}; 0
      draws the scale uniformly from [min_scale, max_scale].
    seed: see `make_seed`.

  Returns:
    A dict with
      'scale': float32 scalar,
      'scaled_size': [2] int32, (height, width) of the scaled image,
      'offset': [2] int32, (y, x) of the crop's top-left corner in the scaled image
        after padding it bottom/right to at least the crop size,
      'flip': bool scalar, whether the crop is flipped left-right.
  """
  scale_seed, y_seed, x_seed, flip_seed = tf.unstack(
      tf.random.experimental.stateless_split(make_seed(seed), num=4))
  if min_scale > max_scale:
    raise ValueError('min_scale %r > max_scale %r' % (min_scale, max_scale))
  if min_scale == max_scale:
    scale = tf.constant(min_scale, tf.float32)
  elif scale_step > 0:
    values = tf.constant(scale_values(min_scale, max_scale, scale_step),
                         tf.float32)
    index = tf.random.stateless_uniform(
        [], scale_seed, minval=0, maxval=tf.shape(values)[0], dtype=tf.int32)
    scale = values[index]
  else:
    scale = tf.random.stateless_uniform([], scale_seed, minval=min_scale,
                                        maxval=max_scale)
  size = scaled_size(image_size, scale)
  crop = tf.constant(crop_size, tf.int32)
  # Number of valid top-left positions along each axis of the padded image.
  room = tf.maximum(size, crop) - crop + 1
  offset_y = tf.random.stateless_uniform([], y_seed, minval=0, maxval=room[0],
                                         dtype=tf.int32)
  offset_x = tf.random.stateless_uniform([], x_seed, minval=0, maxval=room[1],
                                         dtype=tf.int32)
  flip = tf.random.stateless_uniform([], flip_seed) < 0.5
  return {
      'scale': scale,
      'scaled_size': size,
      'offset': tf.stack([offset_y, offset_x]),
      'flip': flip,
  }


def _pad_bottom_right(x, target_size, value):
  """Pads [height, width, c] `x` bottom/right to `target_size` with `value`.

  `value` is a scalar or a per-channel vector; the fill is done with a mask rather
  than by shifting (pad(x - value) + value) so real pixels keep their exact values.
  """
  size = tf.shape(x)[:2]
  pad = tf.maximum(target_size - size, 0)
  paddings = [[0, pad[0]], [0, pad[1]], [0, 0]]
  padded = tf.pad(x, paddings)
  inside = tf.pad(tf.ones_like(x[..., :1], tf.bool), paddings)
  fill = tf.cast(tf.broadcast_to(value, tf.shape(padded)[-1:]), x.dtype)
  return tf.where(inside, padded, fill)


def apply_geometry(image, label, valid, geometry, crop_size,
                   mean_pixel=MEAN_PIXEL):
  """Applies a sampled geometry to an image and the tensors aligned with it.

  The image is resized bilinearly with antialiasing, label and valid mask by nearest
  neighbour (same pixel-centre convention, so they stay aligned), then all are padded
  bottom/right to at least the crop (image with `mean_pixel`, label 255, valid 0),
  cropped at `geometry['offset']` and flipped left-right if `geometry['flip']`.

  Args:
    image: [height, width, 3] float32 in [0, 1].
    label: [height, width, 1] int32, or None.
    valid: [height, width] float32, or None (all ones).
    geometry: dict from `sample_geometry` ('scaled_size' may be omitted: it is then
      recomputed from 'scale').
    crop_size: (crop_height, crop_width) python ints.
    mean_pixel: fill colour of padded image pixels.

  Returns:
    image: [crop_height, crop_width, 3] float32.
    label: [crop_height, crop_width, 1] int32, or None if `label` was None.
    valid: [crop_height, crop_width] float32.
  """
  crop_h, crop_w = crop_size
  image = tf.convert_to_tensor(image, tf.float32)
  image_size = tf.shape(image)[:2]
  if valid is None:
    valid = tf.ones(image_size, tf.float32)
  size = geometry.get('scaled_size')
  if size is None:
    size = scaled_size(image_size, geometry['scale'])
  target = tf.maximum(size, tf.constant([crop_h, crop_w], tf.int32))
  offset = geometry['offset']
  begin = tf.stack([offset[0], offset[1], 0])

  def transform(x, method, fill, channels, **resize_kwargs):
    x = tf.image.resize(x, size, method=method, **resize_kwargs)
    x = _pad_bottom_right(x, target, fill)
    x = tf.slice(x, begin, [crop_h, crop_w, channels])
    x = tf.cond(geometry['flip'], lambda: tf.reverse(x, [1]), lambda: x)
    x.set_shape([crop_h, crop_w, channels])
    return x

  image = transform(image, 'bilinear', tf.constant(mean_pixel, tf.float32), 3,
                    antialias=True)
  # Antialiased resampling can overshoot [0, 1] by a rounding error.
  image = tf.clip_by_value(image, 0.0, 1.0)
  if label is not None:
    label = transform(tf.cast(label, tf.int32), 'nearest',
                      tf.constant(IGNORE_LABEL, tf.int32), 1)
  valid = transform(tf.cast(valid, tf.float32)[..., tf.newaxis], 'nearest',
                    tf.constant(0.0), 1)[..., 0]
  return image, label, valid


def weak_augment(image, label, crop_size, min_scale=0.5, max_scale=2.0,
                 scale_step=0.25, seed=None, valid=None, mean_pixel=MEAN_PIXEL):
  """Random scale, pad, crop and flip: `sample_geometry` then `apply_geometry`.

  Args:
    image: [height, width, 3] float32 in [0, 1].
    label: [height, width, 1] int32, or None.
    crop_size: (crop_height, crop_width) python ints.
    min_scale: see `sample_geometry`.
    max_scale: see `sample_geometry`.
    scale_step: see `sample_geometry`.
    seed: see `make_seed`.
    valid: optional [height, width] float32 mask (default all ones).
    mean_pixel: fill colour of padded image pixels.

  Returns:
    image: [crop_height, crop_width, 3] float32.
    label: [crop_height, crop_width, 1] int32, or None.
    valid: [crop_height, crop_width] float32.
    geometry: the sampled dict (see `sample_geometry`).
  """
  geometry = sample_geometry(tf.shape(image)[:2], crop_size, min_scale,
                             max_scale, scale_step, seed)
  image, label, valid = apply_geometry(image, label, valid, geometry,
                                       crop_size, mean_pixel)
  return image, label, valid, geometry


def pad_to_size(image, label, size, mean_pixel=MEAN_PIXEL):
  """Pads (never resizes) an image bottom/right for evaluation at original size.

  Args:
    image: [height, width, 3] float32 in [0, 1].
    label: [height, width, 1] int32, or None.
    size: (target_height, target_width), python ints or a [2] int tensor; must be at
      least the image size.
    mean_pixel: fill colour of padded image pixels.

  Returns:
    image: [target_height, target_width, 3] float32, padding = `mean_pixel`.
    label: [target_height, target_width, 1] int32, padding = 255 (or None).
    valid: [target_height, target_width] float32, 1 on the original pixels.
  """
  image = tf.convert_to_tensor(image, tf.float32)
  target = tf.cast(tf.convert_to_tensor(size), tf.int32)
  image_size = tf.shape(image)[:2]
  with tf.control_dependencies([
      tf.debugging.assert_less_equal(
          image_size, target,
          message='pad_to_size: image larger than the evaluation size; raise '
          'the eval crop size.')]):
    target = tf.identity(target)
  static = None
  if isinstance(size, (tuple, list)) and all(isinstance(s, int) for s in size):
    static = list(size)
  valid = _pad_bottom_right(tf.ones_like(image[..., :1]), target,
                            tf.constant(0.0))[..., 0]
  image = _pad_bottom_right(image, target, tf.constant(mean_pixel, tf.float32))
  if label is not None:
    label = _pad_bottom_right(tf.cast(label, tf.int32), target,
                              tf.constant(IGNORE_LABEL, tf.int32))
  if static is not None:
    image.set_shape(static + [3])
    valid.set_shape(static)
    if label is not None:
      label.set_shape(static + [1])
  return image, label, valid
