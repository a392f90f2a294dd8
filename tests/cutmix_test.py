"""Tests for core/pseudoseg/cutmix.py: boxes, masks, mixing and label union."""

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from core.pseudoseg import cutmix


class BoxMaskTest(tf.test.TestCase, parameterized.TestCase):

  def test_hand_computed_mask(self):
    # Rows whose centre (i + 0.5) / 4 lies in [0.25, 0.75): 1, 2; columns in
    # [0, 0.5): 0, 1.
    mask = cutmix.box_masks(tf.constant([[0.25, 0.0, 0.75, 0.5]]), (4, 4))
    expected = np.zeros((1, 4, 4), np.float32)
    expected[0, 1:3, 0:2] = 1.0
    self.assertAllEqual(mask, expected)

  @parameterized.parameters(0.25, 0.5, 0.8)
  def test_boxes_cover_the_area_inside_the_image(self, area):
    boxes = cutmix.sample_boxes(64, area, tf.constant([3, 4]))
    boxes = boxes.numpy()
    self.assertTrue(np.all(boxes >= 0.0) and np.all(boxes <= 1.0 + 1e-6))
    heights, widths = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    aspect = heights / widths
    # Up to area 0.5 no side is clipped: every box has exactly `area`.
    # Aspect ratios are log-uniform in [1/2, 2]; clipping a side to the image
    # only brings a ratio closer to 1.
    self.assertTrue(np.all(aspect >= 0.5 - 1e-6) and np.all(aspect <= 2 + 1e-6),
                    msg=str(aspect))
    if area <= 0.5:
      # No side is clipped: every box has exactly `area`, and the ratios reach
      # both ends of the range.
      self.assertAllClose(heights * widths, np.full(64, area), atol=1e-5)
      self.assertLess(aspect.min(), 0.6)
      self.assertGreater(aspect.max(), 1.65)
      self.assertLess(abs(np.mean(np.log(aspect))), 0.15)
    else:
      # A side longer than the image is clipped to 1; the box keeps at least
      # sqrt(area / 2) (the ratio-2 box, clipped).
      self.assertTrue(np.all(heights * widths <= area + 1e-5))
      self.assertTrue(np.all(heights * widths >= np.sqrt(area / 2.0) - 1e-5))
    self.assertGreater(np.std(boxes[:, 0]) + np.std(boxes[:, 1]), 0.01)
    size = 128
    masks = cutmix.box_masks(boxes, (size, size)).numpy()
    self.assertAllClose(masks.mean(axis=(1, 2)), heights * widths, atol=0.02)
    # In pixels each side is its length rounded (at most one pixel off), so the
    # rasterised boxes keep the ratio within [1/2, 2] up to that rounding.
    rows = masks.any(axis=2).sum(axis=1)
    cols = masks.any(axis=1).sum(axis=1)
    self.assertAllEqual(masks.sum(axis=(1, 2)), rows * cols)  # Rectangles.
    self.assertTrue(np.all(np.abs(rows - heights * size) <= 1.0))
    self.assertTrue(np.all(np.abs(cols - widths * size) <= 1.0))
    self.assertTrue(np.all(rows <= 2 * cols + 3))
    self.assertTrue(np.all(cols <= 2 * rows + 3))

  def test_same_seed_same_boxes(self):
    a = cutmix.sample_boxes(4, 0.5, tf.constant([1, 2]))
    b = cutmix.sample_boxes(4, 0.5, tf.constant([1, 2]))
    c = cutmix.sample_boxes(4, 0.5, tf.constant([1, 3]))
    self.assertAllEqual(a, b)
    self.assertNotAllClose(a, c)

  def test_eager_and_graph_agree(self):
    seed = tf.constant([5, 6], tf.int64)
    eager = cutmix.box_masks(cutmix.sample_boxes(3, 0.4, seed), (20, 24))
    graph = tf.function(lambda s: cutmix.box_masks(
        cutmix.sample_boxes(3, 0.4, s), tf.constant([20, 24])))(seed)
    self.assertAllEqual(eager, graph)


class MixTest(tf.test.TestCase):

  def test_mix_matches_numpy(self):
    rng = np.random.RandomState(0)
    x = rng.rand(3, 4, 5, 2).astype(np.float32)
    mask = (rng.rand(3, 4, 5) > 0.5).astype(np.float32)
    expected = mask[..., None] * x + (1 - mask[..., None]) * x[[2, 0, 1]]
    self.assertAllClose(cutmix.mix(tf.constant(x), tf.constant(mask)), expected)
    self.assertAllClose(cutmix.mix(tf.constant(x[..., 0]), tf.constant(mask)),
                        expected[..., 0])

  def test_image_and_label_line_up_at_two_resolutions(self):
    # Image b is filled with b at 32x32, its label with b at 8x8 (stride 4):
    # after mixing with the same boxes, every 4x4 image cell holds the value of
    # its label pixel, wherever the box edge falls on a cell boundary.
    boxes = tf.constant([[0.25, 0.5, 0.75, 1.0], [0.0, 0.0, 0.5, 0.25]])
    image = tf.constant([0.0, 1.0])[:, None, None, None] * tf.ones([2, 32, 32, 3])
    label = tf.one_hot(tf.constant([0, 1])[:, None, None] * tf.ones(
        [2, 8, 8], tf.int32), 2)
    mixed_image = cutmix.mix(image, cutmix.box_masks(boxes, (32, 32)))
    mixed_label = cutmix.mix(label, cutmix.box_masks(boxes, (8, 8)))
    cells = tf.nn.avg_pool2d(mixed_image[..., :1], 4, 4, 'VALID')[..., 0]
    self.assertAllClose(cells, tf.cast(tf.argmax(mixed_label, -1), tf.float32))
    # Image 0 keeps its box (value 0) and takes the rest from image 1.
    self.assertAllClose(tf.reduce_mean(mixed_image[0]), 1.0 - 0.25)

  def test_class_label_union(self):
    labels = tf.constant([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    has = tf.constant([True, True, False])
    union, both = cutmix.mix_class_labels(labels, has)
    # Partner of image i is image i - 1 (batch rolled by one).
    self.assertAllEqual(union, [[1.0, 0.0, 1.0], [1.0, 1.0, 0.0],
                                [0.0, 1.0, 1.0]])
    self.assertAllEqual(both, [False, True, False])
    self.assertEqual(both.dtype, tf.bool)


if __name__ == '__main__':
  tf.test.main()
