"""Tests for augment/strong.py, run eagerly and inside tf.data."""

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from augment import strong
from augment import weak
from tests.testing_utils import run_in_mode as run

_MODES = (('eager', 'eager'), ('tf_data', 'tf_data'))
_NO_JITTER = dict(brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0)


def random_image(seed, height=24, width=28, low=0.0, high=1.0):
  rng = np.random.RandomState(seed)
  return rng.uniform(low, high, (height, width, 3)).astype(np.float32)


def colour_and_gray_image(seed, height=12, width=10):
  """Random colours of mid saturation and value, and a few gray rows.

  Saturation in [0.3, 0.6] and value in [0.4, 0.9], so that no jitter of
  saturation (x [0.5, 1.5]) or hue clips, and every hue is well defined.

  Returns:
    ([height, width, 3] float32 image, [height, width] bool, True on gray).
  """
  rng = np.random.RandomState(seed)
  hsv = np.stack([rng.uniform(0.0, 1.0, (height, width)),
                  rng.uniform(0.3, 0.6, (height, width)),
                  rng.uniform(0.4, 0.9, (height, width))], -1)
  image = tf.image.hsv_to_rgb(hsv.astype(np.float32)).numpy()
  gray = np.zeros((height, width), bool)
  gray[:3] = True
  image[gray] = rng.uniform(0.1, 0.9, (gray.sum(), 1))
  return image, gray


def hue_gap(hue, reference):
  """The hue turn from `reference` to `hue`, in turns in [-0.5, 0.5)."""
  return (hue - reference + 0.5) % 1.0 - 0.5


class ColorJitterTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(*_MODES)
  def test_zero_strength_is_identity(self, mode):
    image = random_image(0)
    out = run(mode, lambda x: strong.color_jitter(x, seed=5, **_NO_JITTER),
              image)
    self.assertAllEqual(out, image)

  @parameterized.named_parameters(*_MODES)
  def test_bounds(self, mode):
    image = random_image(1)
    for s in range(4):
      out = run(mode, lambda x, s=s: strong.color_jitter(x, seed=s), image)
      self.assertEqual(out.shape, image.shape)
      self.assertGreaterEqual(out.min(), 0.0)
      self.assertLessEqual(out.max(), 1.0)
      self.assertGreater(np.abs(out - image).max(), 1e-3)

  def test_brightness_only_adds_one_delta_drawn_in_range(self):
    image = random_image(2, low=0.3, high=0.7)  # No clipping at +-0.2.
    deltas = []
    for s in range(20):
      out = strong.color_jitter(image, brightness=0.2, contrast=0.0,
                                saturation=0.0, hue=0.0, seed=s).numpy()
      delta = out - image
      self.assertAllClose(delta, np.full_like(delta, delta.mean()), atol=1e-6)
      deltas.append(delta.mean())
    # Each draw in [-0.2, 0.2]; over the seeds, both signs, most of the range.
    self.assertLessEqual(np.abs(deltas).max(), 0.2 + 1e-6)
    self.assertLess(min(deltas), -0.1)
    self.assertGreater(max(deltas), 0.1)

  def test_contrast_only_scales_the_spread_by_one_factor_in_range(self):
    image = random_image(3, low=0.4, high=0.6)  # No clipping at factor 1.5.
    centred = image - image.mean((0, 1))
    factors = []
    for s in range(20):
      out = strong.color_jitter(image, brightness=0.0, contrast=0.5,
                                saturation=0.0, hue=0.0, seed=s).numpy()
      # Channel means stay; deviations from them scale by one factor.
      self.assertAllClose(out.mean((0, 1)), image.mean((0, 1)), atol=1e-5)
      out_centred = out - out.mean((0, 1))
      factor = np.sum(out_centred * centred) / np.sum(centred * centred)
      self.assertAllClose(out_centred, factor * centred, atol=1e-5)
      factors.append(factor)
    self.assertBetween(min(factors), 0.5 - 1e-5, 0.8)
    self.assertBetween(max(factors), 1.2, 1.5 + 1e-5)

  def test_saturation_only_scales_chroma_and_keeps_gray_pixels(self):
    image, gray = colour_and_gray_image(seed=10)
    hsv = tf.image.rgb_to_hsv(image).numpy()
    colour = ~gray
    factors = []
    for s in range(20):
      out = strong.color_jitter(image, brightness=0.0, contrast=0.0,
                                saturation=0.5, hue=0.0, seed=s).numpy()
      self.assertAllClose(out[gray], image[gray], atol=1e-6)
      out_hsv = tf.image.rgb_to_hsv(out).numpy()
      # Value and hue stay; saturation (chroma / value) scales by one factor.
      self.assertAllClose(out_hsv[..., 2], hsv[..., 2], atol=1e-5)
      self.assertAllClose(hue_gap(out_hsv[colour, 0], hsv[colour, 0]),
                          np.zeros(colour.sum()), atol=1e-4)
      ratio = out_hsv[colour, 1] / hsv[colour, 1]
      self.assertAllClose(ratio, np.full_like(ratio, np.median(ratio)),
                          atol=1e-4)
      factors.append(float(np.median(ratio)))
    self.assertBetween(min(factors), 0.5 - 1e-4, 0.8)
    self.assertBetween(max(factors), 1.2, 1.5 + 1e-4)

  def test_hue_only_rotates_hue_and_keeps_gray_pixels(self):
    image, gray = colour_and_gray_image(seed=11)
    hsv = tf.image.rgb_to_hsv(image).numpy()
    colour = ~gray
    shifts = []
    for s in range(20):
      out = strong.color_jitter(image, brightness=0.0, contrast=0.0,
                                saturation=0.0, hue=0.25, seed=s).numpy()
      self.assertAllClose(out[gray], image[gray], atol=1e-6)
      out_hsv = tf.image.rgb_to_hsv(out).numpy()
      # Saturation and value stay; every hue turns by the same shift.
      self.assertAllClose(out_hsv[colour, 1:], hsv[colour, 1:], atol=1e-5)
      shift = hue_gap(out_hsv[colour, 0], hsv[colour, 0])
      self.assertAllClose(shift, np.full_like(shift, np.median(shift)),
                          atol=1e-4)
      shifts.append(float(np.median(shift)))
    self.assertLessEqual(np.abs(shifts).max(), 0.25 + 1e-4)
    self.assertLess(min(shifts), -0.1)
    self.assertGreater(max(shifts), 0.1)

  def test_same_seed_same_result_and_seed_matters(self):
    image = random_image(4)
    a = strong.color_jitter(image, seed=[1, 2])
    b = strong.color_jitter(image, seed=[1, 2])
    c = strong.color_jitter(image, seed=[1, 3])
    self.assertAllEqual(a, b)
    self.assertGreater(float(tf.reduce_max(tf.abs(a - c))), 1e-3)

  @parameterized.named_parameters(*_MODES)
  def test_random_order_covers_permutations(self, mode):
    def double(x):
      return x * 2.0

    def add_one(x):
      return x + 1.0

    def square(x):
      return x * x

    ops = [double, add_one, square]
    results = set()
    for s in range(40):
      fn = lambda x, s=s: strong.apply_in_random_order(x, ops, seed=s)
      results.add(float(run(mode, fn, np.float32(1.0))))
    # 6 orders of (double, add one, square) applied to 1.
    self.assertEqual(results, {9.0, 5.0, 16.0, 8.0, 3.0, 4.0})


class GrayscaleBlurTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(*_MODES)
  def test_grayscale(self, mode):
    image = random_image(5)
    gray = run(mode, lambda x: strong.random_grayscale(x, 1.0, seed=0), image)
    self.assertAllClose(gray[..., 0], gray[..., 1])
    self.assertAllClose(gray[..., 0], gray[..., 2])
    same = run(mode, lambda x: strong.random_grayscale(x, 0.0, seed=0), image)
    self.assertAllEqual(same, image)

  @parameterized.named_parameters(*_MODES)
  def test_blur(self, mode):
    image = random_image(6)
    blurred = run(mode, lambda x: strong.gaussian_blur(x, 1.0, (1.0, 2.0),
                                                       seed=0), image)
    self.assertEqual(blurred.shape, image.shape)
    self.assertLess(blurred.std(), 0.7 * image.std())
    self.assertAllClose(blurred.mean(), image.mean(), atol=0.02)
    flat = np.full((12, 12, 3), 0.4, np.float32)
    self.assertAllClose(strong.gaussian_blur(flat, 1.0, seed=1), flat,
                        atol=1e-6)
    same = run(mode, lambda x: strong.gaussian_blur(x, 0.0, seed=0), image)
    self.assertAllEqual(same, image)


class CutoutTest(tf.test.TestCase, parameterized.TestCase):

  def test_scaled_cutout_size(self):
    self.assertEqual(strong.scaled_cutout_size(100, (513, 513)), 100)
    self.assertEqual(strong.scaled_cutout_size(100, (65, 65)), 13)
    self.assertEqual(strong.scaled_cutout_size(0, (65, 65)), 0)

  @parameterized.named_parameters(*_MODES)
  def test_cutout_sets_image_valid_label(self, mode):
    image = random_image(7, 20, 22)
    valid = np.ones((20, 22), np.float32)
    valid[15:] = 0.0  # Padding stays invalid.
    label = np.full((20, 22, 1), 2, np.int32)
    size = 6
    clipped = False
    for s in range(10):
      fn = lambda i, v, l, s=s: strong.cutout(i, v, l, size, seed=s)
      out_image, out_valid, out_label, box = run(mode, fn, image, valid, label)
      inside = box > 0
      rows = np.where(inside.any(1))[0]
      cols = np.where(inside.any(0))[0]
      # One axis-aligned rectangle, at most size x size, size x size if unclipped.
      self.assertEqual(inside.sum(), len(rows) * len(cols))
      self.assertLessEqual(len(rows), size)
      self.assertLessEqual(len(cols), size)
      if len(rows) < size or len(cols) < size:
        clipped = True
        self.assertTrue(rows[0] == 0 or rows[-1] == 19 or cols[0] == 0 or
                        cols[-1] == 21)
      self.assertAllClose(out_image[inside],
                          np.broadcast_to(weak.MEAN_PIXEL,
                                          out_image[inside].shape))
      self.assertAllEqual(out_image[~inside], image[~inside])
      self.assertAllEqual(out_valid, valid * (1 - box))
      self.assertTrue(np.all(out_label[inside] == 255))
      self.assertTrue(np.all(out_label[~inside] == 2))
    self.assertTrue(clipped)


class StrongAugmentTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(*_MODES)
  def test_strong_view_aligned_with_weak_view(self, mode):
    rng = np.random.RandomState(8)
    image = rng.rand(30, 26, 3).astype(np.float32)
    label = rng.randint(0, 4, (30, 26, 1)).astype(np.int32)
    crop = (33, 33)

    def views(i, l):
      w_image, w_label, w_valid, _ = weak.weak_augment(i, l, crop, seed=3)
      plain = strong.strong_augment(w_image, w_valid, w_label, crop,
                                    cutout_size=200, seed=4, **_NO_JITTER)
      jittered = strong.strong_augment(w_image, w_valid, w_label, crop,
                                       cutout_size=200, seed=4)
      return w_image, w_label, w_valid, plain, jittered

    w_image, w_label, w_valid, plain, jittered = run(mode, views, image, label)
    box = plain['cutout_mask'] > 0
    self.assertGreater(box.sum(), 0)
    self.assertLess(box.sum(), box.size)
    # Geometry is shared: without jitter the strong view is the weak one outside
    # the cutout square.
    self.assertAllEqual(plain['image'][~box], w_image[~box])
    self.assertAllClose(plain['image'][box],
                        np.broadcast_to(weak.MEAN_PIXEL,
                                        plain['image'][box].shape))
    self.assertAllEqual(plain['valid'], w_valid * (1 - plain['cutout_mask']))
    self.assertAllEqual(plain['label'][~box], w_label[~box])
    self.assertTrue(np.all(plain['label'][box] == 255))
    # The same seed gives the same square with jitter on; padding stays mean.
    self.assertAllEqual(jittered['cutout_mask'], plain['cutout_mask'])
    self.assertAllEqual(jittered['valid'], plain['valid'])
    padding = w_valid == 0
    if padding.any():
      self.assertAllClose(jittered['image'][padding],
                          np.broadcast_to(weak.MEAN_PIXEL,
                                          jittered['image'][padding].shape))
    self.assertGreaterEqual(jittered['image'].min(), 0.0)
    self.assertLessEqual(jittered['image'].max(), 1.0)

  def test_config_fields_are_accepted(self):
    import dataclasses  # pylint: disable=g-import-not-at-top
    from core import config  # pylint: disable=g-import-not-at-top
    kwargs = dataclasses.asdict(config.StrongAugConfig(grayscale_prob=1.0,
                                                       blur_prob=1.0))
    out = strong.strong_augment(random_image(9, 17, 17),
                                tf.ones([17, 17]), None, (17, 17), seed=0,
                                **kwargs)
    self.assertIsNone(out['label'])
    self.assertEqual(out['image'].shape, (17, 17, 3))


if __name__ == '__main__':
  tf.test.main()
