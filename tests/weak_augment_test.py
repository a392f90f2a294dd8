"""Tests for augment/weak.py, run eagerly and inside tf.data."""

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from augment import weak
from tests.testing_utils import run_in_mode as run

_MODES = (('eager', 'eager'), ('tf_data', 'tf_data'))


def coordinate_image(height, width, tile=8):
  """An image whose colour encodes its pixel position, and a tiled label map.

  Channel 0 is (y + 0.5) / height and channel 1 is (x + 0.5) / width, so the source
  position of any resampled pixel can be read back from its colour; the label is the
  index of the tile (tile x tile pixels) holding the pixel.
  """
  ys, xs = np.meshgrid(np.arange(height), np.arange(width), indexing='ij')
  image = np.stack([(ys + 0.5) / height, (xs + 0.5) / width,
                    np.full_like(ys, 0.5, dtype=np.float64)], -1)
  tiles_x = (width + tile - 1) // tile
  label = (ys // tile) * tiles_x + xs // tile
  return image.astype(np.float32), label[..., None].astype(np.int32)


class SampleGeometryTest(tf.test.TestCase, parameterized.TestCase):

  def test_discrete_scales_offsets_and_flip(self):
    crop = (33, 41)
    scales, flips = set(), set()
    for s in range(200):
      g = weak.sample_geometry(tf.constant([30, 50]), crop, 0.5, 2.0, 0.25,
                               seed=s)
      scale = float(g['scale'])
      scales.add(scale)
      flips.add(bool(g['flip']))
      size = g['scaled_size'].numpy()
      np.testing.assert_array_equal(size, np.round(np.array([30, 50]) * scale))
      room = np.maximum(size, crop) - crop
      self.assertTrue(np.all(g['offset'].numpy() >= 0))
      self.assertTrue(np.all(g['offset'].numpy() <= room))
    self.assertEqual(scales, {0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0})
    self.assertEqual(flips, {True, False})

  def test_continuous_scale(self):
    scales = [float(weak.sample_geometry(tf.constant([20, 20]), (9, 9), 0.5,
                                         1.5, 0.0, seed=s)['scale'])
              for s in range(30)]
    self.assertTrue(all(0.5 <= s <= 1.5 for s in scales))
    self.assertGreater(len(set(scales)), 25)

  def test_same_seed_same_geometry(self):
    a = weak.sample_geometry(tf.constant([40, 30]), (17, 17), seed=[3, 4])
    b = weak.sample_geometry(tf.constant([40, 30]), (17, 17), seed=[3, 4])
    for k in a:
      self.assertAllEqual(a[k], b[k])


class ApplyGeometryTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(*_MODES)
  def test_image_label_valid_stay_aligned(self, mode):
    height, width, tile = 48, 64, 8
    image, label = coordinate_image(height, width, tile)
    tiles_x = width // tile
    crop = (40, 44)
    checked = 0
    for s in range(12):
      fn = lambda i, l, s=s: weak.weak_augment(i, l, crop, seed=s)[:3]
      out_image, out_label, out_valid = run(mode, fn, image, label)
      self.assertEqual(out_image.shape, crop + (3,))
      self.assertEqual(out_label.shape, crop + (1,))
      self.assertEqual(out_valid.shape, crop)
      inside = out_valid > 0
      # Padding and real pixels are told apart the same way by all three.
      np.testing.assert_array_equal(out_label[..., 0] == 255, ~inside)
      np.testing.assert_allclose(out_image[~inside],
                                 np.broadcast_to(weak.MEAN_PIXEL,
                                                 out_image[~inside].shape))
      # Read each pixel's source position from its colour; where it is clearly
      # inside one tile (and off the image border, where antialiasing is not
      # exactly linear), the label must be that tile's.
      src_y = out_image[..., 0] * height - 0.5
      src_x = out_image[..., 1] * width - 0.5
      def far(p, n):
        boundary = np.abs((p + 0.5) / tile - np.round((p + 0.5) / tile)) * tile
        return (boundary > 1.0) & (p > 2) & (p < n - 3)
      check = inside & far(src_y, height) & far(src_x, width)
      expected = (np.round(src_y).astype(int) // tile * tiles_x +
                  np.round(src_x).astype(int) // tile)
      np.testing.assert_array_equal(out_label[..., 0][check], expected[check])
      checked += check.sum()
    self.assertGreater(checked, 2000)

  @parameterized.named_parameters(*_MODES)
  def test_padding_values(self, mode):
    image = np.random.RandomState(0).rand(10, 12, 3).astype(np.float32)
    label = np.full((10, 12, 1), 3, np.int32)
    geometry = {'scale': tf.constant(1.0), 'offset': tf.constant([0, 0]),
                'flip': tf.constant(False)}
    fn = lambda i, l: weak.apply_geometry(i, l, None, geometry, (16, 20))
    out_image, out_label, out_valid = run(mode, fn, image, label)
    self.assertAllClose(out_image[:10, :12], image, atol=1e-6)
    self.assertAllClose(out_image[10:], np.broadcast_to(weak.MEAN_PIXEL,
                                                        (6, 20, 3)))
    self.assertAllClose(out_image[:, 12:], np.broadcast_to(weak.MEAN_PIXEL,
                                                           (16, 8, 3)))
    self.assertTrue(np.all(out_label[:10, :12] == 3))
    self.assertTrue(np.all(out_label[10:] == 255))
    self.assertTrue(np.all(out_label[:, 12:] == 255))
    self.assertEqual(out_valid.sum(), 120)
    self.assertTrue(np.all(out_valid[:10, :12] == 1))

  @parameterized.named_parameters(*_MODES)
  def test_flip(self, mode):
    rng = np.random.RandomState(1)
    image = rng.rand(9, 14, 3).astype(np.float32)
    label = rng.randint(0, 5, (9, 14, 1)).astype(np.int32)
    geometry = {'scale': tf.constant(1.0), 'offset': tf.constant([0, 0]),
                'flip': tf.constant(True)}
    fn = lambda i, l: weak.apply_geometry(i, l, None, geometry, (9, 14))
    out_image, out_label, out_valid = run(mode, fn, image, label)
    self.assertAllClose(out_image, image[:, ::-1], atol=1e-6)
    self.assertAllEqual(out_label, label[:, ::-1])
    self.assertAllEqual(out_valid, np.ones((9, 14)))

  def test_crop_offset_and_scale(self):
    image, label = coordinate_image(16, 16, tile=4)
    geometry = {'scale': tf.constant(2.0), 'offset': tf.constant([5, 7]),
                'flip': tf.constant(False)}
    _, out_label, out_valid = weak.apply_geometry(image, label, None, geometry,
                                                  (6, 8))
    # Nearest neighbour at scale 2: output (y, x) of the 32x32 image comes from
    # source (y // 2, x // 2).
    ys, xs = np.meshgrid(np.arange(5, 11), np.arange(7, 15), indexing='ij')
    self.assertAllEqual(out_label[..., 0], label[ys // 2, xs // 2, 0])
    self.assertAllEqual(out_valid, np.ones((6, 8)))

  def test_static_shapes_in_tf_data(self):
    dataset = tf.data.Dataset.from_tensors(
        (tf.zeros([20, 30, 3]), tf.zeros([20, 30, 1], tf.int32)))
    dataset = dataset.map(lambda i, l: weak.weak_augment(i, l, (17, 19))[:3])
    image_spec, label_spec, valid_spec = dataset.element_spec
    self.assertEqual(image_spec.shape, (17, 19, 3))
    self.assertEqual(label_spec.shape, (17, 19, 1))
    self.assertEqual(valid_spec.shape, (17, 19))
    self.assertEqual(label_spec.dtype, tf.int32)


class PadToSizeTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(*_MODES)
  def test_pads_without_resizing(self, mode):
    image = np.random.RandomState(2).rand(7, 5, 3).astype(np.float32)
    label = np.ones((7, 5, 1), np.int32)
    fn = lambda i, l: weak.pad_to_size(i, l, (16, 16))
    out_image, out_label, out_valid = run(mode, fn, image, label)
    self.assertEqual(out_image.shape, (16, 16, 3))
    self.assertAllEqual(out_image[:7, :5], image)
    self.assertAllClose(out_image[7:, 0], np.broadcast_to(weak.MEAN_PIXEL,
                                                          (9, 3)))
    self.assertEqual(out_label[:7, :5].sum(), 35)
    self.assertTrue(np.all(out_label[7:] == 255))
    self.assertEqual(out_valid.sum(), 35)
    self.assertAllEqual(out_valid[:7, :5], np.ones((7, 5)))

  def test_too_large_image_raises(self):
    with self.assertRaises(tf.errors.InvalidArgumentError):
      weak.pad_to_size(tf.zeros([20, 5, 3]), None, (16, 16))


if __name__ == '__main__':
  tf.test.main()
