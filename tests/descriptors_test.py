"""Tests for datasets/descriptors.py: the palette and the optional class colours."""

import json
import os

import numpy as np
import tensorflow as tf

from datasets import descriptors


def _descriptor(**kwargs):
  return descriptors.DatasetDescriptor(
      name='pets', num_classes=3, class_names=('background', 'cat', 'dog'),
      splits_to_sizes={'train': 4}, **kwargs)


class DescriptorTest(tf.test.TestCase):

  def test_voc_palette_first_colours(self):
    palette = descriptors.voc_palette(256)
    self.assertEqual(palette.shape, (256, 3))
    self.assertAllEqual(palette[:3], [[0, 0, 0], [128, 0, 0], [0, 128, 0]])
    self.assertAllEqual(palette[255], [224, 224, 192])

  def test_without_colours_the_palette_and_the_file_are_vocs(self):
    descriptor = _descriptor()
    self.assertAllEqual(descriptor.palette, descriptors.voc_palette(256))
    self.assertNotIn('colors', json.loads(descriptor.to_json()))
    self.assertEqual(descriptors.DatasetDescriptor.from_json(
        descriptor.to_json()), descriptor)

  def test_colours_from_dataset_info(self):
    folder = self.get_temp_dir()
    info = json.loads(_descriptor().to_json())
    info['colors'] = [[1, 2, 3], [250, 0, 9], [0, 255, 0]]
    with open(os.path.join(folder, descriptors.INFO_FILENAME), 'w') as f:
      json.dump(info, f)
    descriptor = descriptors.load_info(folder)
    self.assertEqual(descriptor.colors, ((1, 2, 3), (250, 0, 9), (0, 255, 0)))
    expected = descriptors.voc_palette(256)
    expected[:3] = info['colors']
    self.assertAllEqual(descriptor.palette, expected)
    self.assertEqual(descriptor.palette.dtype, np.uint8)
    self.assertEqual(descriptors.DatasetDescriptor.from_json(
        descriptor.to_json()), descriptor)

  def test_bad_colours_are_refused(self):
    for colors in (((0, 0, 0),), ((0, 0, 0), (1, 1, 1), (2, 2, 256)),
                   ((0, 0), (1, 1), (2, 2))):
      with self.assertRaisesRegex(ValueError, 'one \\[r, g, b\\]'):
        _descriptor(colors=colors)


if __name__ == '__main__':
  tf.test.main()
