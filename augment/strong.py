"""Strong augmentation: photometric changes and cutout on the weak view's crop.

The strong view of an unlabeled image is built from its weak crop, so both share the
geometry exactly and a pseudo label from the weak view lines up pixel for pixel with
the strong prediction. Nothing here moves pixels; only cutout touches the label and
valid mask.

Randomness uses stateless ops seeded by `seed` (see `augment.weak.make_seed`).
"""

import math

import tensorflow as tf

from augment import weak

# Crop size at which the paper's cutout square (100 px) is defined.
_REFERENCE_CROP = 513


def _split(seed, num):
  return tf.unstack(
      tf.random.experimental.stateless_split(weak.make_seed(seed), num=num))


def color_jitter(image, brightness=0.5, contrast=0.5, saturation=0.5, hue=0.25,
                 seed=None):
  """Random brightness, contrast, saturation and hue, in a random order.

  Each enabled op is applied once, in an order drawn per call, and the image is
  clipped to [0, 1] after each. A strength of 0 disables its op (so all zeros is the
  identity, bit for bit).

  Args:
    image: [height, width, 3] float32 in [0, 1].
    brightness: additive delta drawn from [-brightness, brightness].
    contrast: factor drawn from [1 - contrast, 1 + contrast].
    saturation: factor drawn from [1 - saturation, 1 + saturation].
    hue: hue shift drawn from [-hue, hue] (in turns of the colour wheel, <= 0.5).
    seed: see `augment.weak.make_seed`.

  Returns:
    [height, width, 3] float32 in [0, 1].
  """
  if not 0.0 <= hue <= 0.5:
    raise ValueError('hue must be in [0, 0.5], got %r' % hue)
  image = tf.convert_to_tensor(image, tf.float32)
  order_seed, b_seed, c_seed, s_seed, h_seed = _split(seed, 5)

  def uniform(op_seed, low, high):
    return tf.random.stateless_uniform([], op_seed, minval=low, maxval=high)

  ops = []
  if brightness > 0:
    delta = uniform(b_seed, -brightness, brightness)
    ops.append(lambda x: tf.image.adjust_brightness(x, delta))
  if contrast > 0:
    factor_c = uniform(c_seed, 1.0 - contrast, 1.0 + contrast)
    ops.append(lambda x: tf.image.adjust_contrast(x, factor_c))
  if saturation > 0:
    factor_s = uniform(s_seed, 1.0 - saturation, 1.0 + saturation)
    ops.append(lambda x: tf.image.adjust_saturation(x, factor_s))
  if hue > 0:
    delta_h = uniform(h_seed, -hue, hue)
    ops.append(lambda x: tf.image.adjust_hue(x, delta_h))
  clipped = [lambda x, op=op: tf.clip_by_value(op(x), 0.0, 1.0) for op in ops]
  return apply_in_random_order(image, clipped, order_seed)


def apply_in_random_order(x, ops, seed):
  """Applies each function of `ops` once, in an order drawn from `seed`.

  Args:
    x: a tensor; every op must keep its shape and dtype.
    ops: list of functions of one tensor.
    seed: see `augment.weak.make_seed`.

  Returns:
    The result, same shape as `x`.
  """
  x = tf.convert_to_tensor(x)
  if not ops:
    return x
  order = tf.argsort(
      tf.random.stateless_uniform([len(ops)], weak.make_seed(seed)))
  for i in range(len(ops)):
    # switch_case calls its branches without arguments: bind op and input.
    y = tf.switch_case(order[i], [lambda op=op, x=x: op(x) for op in ops])
    y.set_shape(x.shape)
    x = y
  return x


def random_grayscale(image, prob, seed=None):
  """With probability `prob`, replaces the image by its luma, kept as 3 channels.

  Args:
    image: [height, width, 3] float32.
    prob: probability of converting.
    seed: see `augment.weak.make_seed`.

  Returns:
    [height, width, 3] float32.
  """
  image = tf.convert_to_tensor(image, tf.float32)
  if prob <= 0:
    return image
  apply = tf.random.stateless_uniform([], weak.make_seed(seed)) < prob
  return tf.cond(
      apply,
      lambda: tf.tile(tf.image.rgb_to_grayscale(image), [1, 1, 3]),
      lambda: image)


def _blur(image, sigma, radius):
  """Separable Gaussian blur with reflect padding; `radius` is a python int."""
  x = tf.range(-radius, radius + 1, dtype=tf.float32)
  kernel = tf.exp(-0.5 * tf.square(x / sigma))
  kernel /= tf.reduce_sum(kernel)
  channels = 3
  k_y = tf.tile(tf.reshape(kernel, [-1, 1, 1, 1]), [1, 1, channels, 1])
  k_x = tf.tile(tf.reshape(kernel, [1, -1, 1, 1]), [1, 1, channels, 1])
  x = tf.pad(image[tf.newaxis],
             [[0, 0], [radius, radius], [radius, radius], [0, 0]],
             mode='REFLECT')
  x = tf.nn.depthwise_conv2d(x, k_y, [1, 1, 1, 1], 'VALID')
  x = tf.nn.depthwise_conv2d(x, k_x, [1, 1, 1, 1], 'VALID')
  return x[0]


def gaussian_blur(image, prob, sigma_range=(0.1, 2.0), seed=None):
  """With probability `prob`, blurs with a Gaussian of random sigma.

  Args:
    image: [height, width, 3] float32; each side must exceed 3 * max sigma (the
      kernel radius) for the reflect padding.
    prob: probability of blurring.
    sigma_range: (min, max) of the uniformly drawn standard deviation, in pixels.
    seed: see `augment.weak.make_seed`.

  Returns:
    [height, width, 3] float32.
  """
  image = tf.convert_to_tensor(image, tf.float32)
  if prob <= 0:
    return image
  apply_seed, sigma_seed = _split(seed, 2)
  sigma = tf.random.stateless_uniform([], sigma_seed, minval=sigma_range[0],
                                      maxval=sigma_range[1])
  radius = max(1, int(math.ceil(3.0 * sigma_range[1])))
  apply = tf.random.stateless_uniform([], apply_seed) < prob
  out = tf.cond(apply, lambda: _blur(image, sigma, radius), lambda: image)
  out.set_shape(image.shape)
  return out


def scaled_cutout_size(cutout_size, crop_size):
  """Scales the cutout side defined at crop 513 to `crop_size` (by sqrt of area).

  Args:
    cutout_size: side in pixels at a 513 x 513 crop; 0 disables cutout.
    crop_size: (crop_height, crop_width) python ints.

  Returns:
    A python int, >= 1 unless `cutout_size` is 0.
  """
  if cutout_size <= 0:
    return 0
  side = math.sqrt(crop_size[0] * crop_size[1])
  return max(1, int(round(cutout_size * side / _REFERENCE_CROP)))


def cutout(image, valid, label, size, mean_pixel=weak.MEAN_PIXEL, seed=None):
  """Fills one square with the mean pixel and removes it from the loss.

  The square's centre is uniform over the image; the square is clipped at the image
  borders.

  Args:
    image: [height, width, 3] float32.
    valid: [height, width] float32.
    label: [height, width, 1] int32, or None.
    size: side of the square in pixels (python int or int scalar); 0 = no cutout.
    mean_pixel: fill colour.
    seed: see `augment.weak.make_seed`.

  Returns:
    image: [height, width, 3] float32, `mean_pixel` inside the square.
    valid: [height, width] float32, 0 inside the square.
    label: [height, width, 1] int32, 255 inside the square (None if `label` was).
    box_mask: [height, width] float32, 1 inside the square.
  """
  image = tf.convert_to_tensor(image, tf.float32)
  y_seed, x_seed = _split(seed, 2)
  shape = tf.shape(image)
  height, width = shape[0], shape[1]
  size = tf.cast(size, tf.int32)
  center_y = tf.random.stateless_uniform([], y_seed, minval=0, maxval=height,
                                         dtype=tf.int32)
  center_x = tf.random.stateless_uniform([], x_seed, minval=0, maxval=width,
                                         dtype=tf.int32)
  top = center_y - size // 2
  left = center_x - size // 2
  ys = tf.range(height)[:, tf.newaxis]
  xs = tf.range(width)[tf.newaxis, :]
  inside = ((ys >= top) & (ys < top + size) & (xs >= left) &
            (xs < left + size))
  box_mask = tf.cast(inside, tf.float32)
  fill = tf.broadcast_to(tf.constant(mean_pixel, tf.float32), tf.shape(image))
  image = tf.where(inside[..., tf.newaxis], fill, image)
  valid = tf.cast(valid, tf.float32) * (1.0 - box_mask)
  if label is not None:
    label = tf.where(inside[..., tf.newaxis],
                     tf.constant(weak.IGNORE_LABEL, tf.int32),
                     tf.cast(label, tf.int32))
  return image, valid, label, box_mask


def strong_augment(image, valid, label=None, crop_size=None, brightness=0.5,
                   contrast=0.5, saturation=0.5, hue=0.25, grayscale_prob=0.0,
                   blur_prob=0.0, cutout_size=100, seed=None,
                   mean_pixel=weak.MEAN_PIXEL):
  """Builds the strong view from the weak view's crop.

  Colour jitter (always), optional grayscale and blur, then cutout. The keyword
  arguments match the fields of `core.config.StrongAugConfig`, so a caller can pass
  `**dataclasses.asdict(cfg.strong_aug)`.

  Padding pixels (valid == 0 in the weak view) are reset to `mean_pixel` after the
  photometric ops, as if the scaled image had been jittered before it was padded.

  Args:
    image: [height, width, 3] float32 in [0, 1], the weak crop.
    valid: [height, width] float32, the weak crop's valid mask.
    label: [height, width, 1] int32 or None (cutout sets it to 255 inside).
    crop_size: (height, width) python ints used to scale `cutout_size`; defaults to
      the image's static size.
    brightness: see `color_jitter`.
    contrast: see `color_jitter`.
    saturation: see `color_jitter`.
    hue: see `color_jitter`.
    grayscale_prob: see `random_grayscale`.
    blur_prob: see `gaussian_blur`.
    cutout_size: side of the cutout square at crop 513 (scaled with the crop).
    seed: see `augment.weak.make_seed`.
    mean_pixel: fill colour of padding and cutout.

  Returns:
    A dict with
      'image': [height, width, 3] float32 in [0, 1],
      'valid': [height, width] float32, weak valid times not-cutout,
      'label': [height, width, 1] int32 or None,
      'cutout_mask': [height, width] float32, 1 inside the cutout square.
  """
  image = tf.convert_to_tensor(image, tf.float32)
  valid = tf.convert_to_tensor(valid, tf.float32)
  if crop_size is None:
    crop_size = image.shape[:2].as_list()
    if None in crop_size:
      raise ValueError('crop_size is needed when the image size is not static.')
  jitter_seed, gray_seed, blur_seed, cutout_seed = _split(seed, 4)
  out = color_jitter(image, brightness, contrast, saturation, hue,
                     seed=jitter_seed)
  out = random_grayscale(out, grayscale_prob, seed=gray_seed)
  out = gaussian_blur(out, blur_prob, seed=blur_seed)
  out = tf.where(valid[..., tf.newaxis] > 0, out,
                 tf.constant(mean_pixel, tf.float32))
  out, strong_valid, label, box_mask = cutout(
      out, valid, label, scaled_cutout_size(cutout_size, crop_size),
      mean_pixel=mean_pixel, seed=cutout_seed)
  out.set_shape(image.shape)
  strong_valid.set_shape(valid.shape)
  box_mask.set_shape(valid.shape)
  return {
      'image': out,
      'valid': strong_valid,
      'label': label,
      'cutout_mask': box_mask,
  }
