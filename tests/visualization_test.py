"""Tests for core/visualization.py."""

import numpy as np
import tensorflow as tf

from core import visualization
from datasets import descriptors


class VisualizationTest(tf.test.TestCase):

  def test_colorize_maps_ids_to_palette_colours(self):
    palette = descriptors.voc_palette(256)
    ids = np.array([[[0, 1], [15, 255]]], np.int32)
    for label_map in (ids, ids[..., None]):
      colours = visualization.colorize(tf.constant(label_map), palette).numpy()
      self.assertEqual(colours.shape, (1, 2, 2, 3))
      self.assertEqual(colours.dtype, np.float32)
      self.assertAllClose(colours[0, 0, 0], [0, 0, 0])
      self.assertAllClose(colours[0, 0, 1], np.array([128, 0, 0]) / 255.0)
      self.assertAllClose(colours[0, 1, 0], palette[15] / 255.0)
      self.assertAllClose(colours[0, 1, 1], palette[255] / 255.0)

  def test_colorize_accepts_int64_predictions(self):
    palette = descriptors.voc_palette(256)
    colours = visualization.colorize(tf.constant([[[2]]], tf.int64), palette)
    self.assertAllClose(colours[0, 0, 0], palette[2] / 255.0)

  def test_overlay_blends_the_class_colours_in(self):
    palette = descriptors.voc_palette(256)
    images = tf.constant([[[[1.0, 1.0, 1.0], [0.2, 0.4, 0.6]]]])
    ids = tf.constant([[[1, 0]]])
    out = visualization.overlay(images, ids, palette, alpha=0.25).numpy()
    self.assertEqual(out.shape, (1, 1, 2, 3))
    self.assertAllClose(out[0, 0, 0], 0.75 + 0.25 * np.array([128, 0, 0]) / 255)
    self.assertAllClose(out[0, 0, 1], 0.75 * np.array([0.2, 0.4, 0.6]))
    self.assertAllClose(visualization.overlay(images, ids, palette, alpha=0.0),
                        images)

  def test_heatmap_endpoints_and_clipping(self):
    out = visualization.heatmap(tf.constant([[[0.0, 1.0, 2.0]]])).numpy()
    self.assertEqual(out.shape, (1, 1, 3, 3))
    self.assertAllClose(out[0, 0, 0], [0.0, 0.0, 0.5])
    self.assertAllClose(out[0, 0, 1], [1.0, 0.9, 0.0])
    self.assertAllClose(out[0, 0, 2], out[0, 0, 1])

  def test_side_by_side_resizes_and_concatenates(self):
    a = tf.ones([2, 8, 8, 3])
    b = tf.zeros([2, 4, 4, 3], tf.uint8)
    out = visualization.side_by_side([a, b, a], (16, 12))
    self.assertEqual(out.shape, (2, 16, 36, 3))
    self.assertEqual(out.dtype, tf.float32)
    self.assertAllEqual(out[:, :, :12], tf.ones([2, 16, 12, 3]))
    self.assertAllEqual(out[:, :, 12:24], tf.zeros([2, 16, 12, 3]))


if __name__ == '__main__':
  tf.test.main()
