"""Our records read by Model Garden and DeepLab readers, and theirs by ours."""

import os
import tempfile

import numpy as np
from official.vision.dataloaders import segmentation_input
from PIL import Image
import tensorflow as tf

from datasets import convert_utils
from datasets import record_format
from tests.testing_utils import write_jpeg

H, W = 12, 16
_MEAN = np.array([123.675, 116.28, 103.53], np.float32)
_STDDEV = np.array([58.395, 57.12, 57.375], np.float32)

# DeepLab's reader (TF1 `data_generator`) parses these keys; written out here
# as a plain spec so the test does not need DeepLab installed.
_DEEPLAB_KEYS_TO_FEATURES = {
    'image/encoded': tf.io.FixedLenFeature((), tf.string, default_value=''),
    'image/filename': tf.io.FixedLenFeature((), tf.string, default_value=''),
    'image/format': tf.io.FixedLenFeature((), tf.string,
                                          default_value='jpeg'),
    'image/height': tf.io.FixedLenFeature((), tf.int64, default_value=0),
    'image/width': tf.io.FixedLenFeature((), tf.int64, default_value=0),
    'image/channels': tf.io.FixedLenFeature((), tf.int64, default_value=3),
    'image/segmentation/class/encoded': tf.io.FixedLenFeature(
        (), tf.string, default_value=''),
    'image/segmentation/class/format': tf.io.FixedLenFeature(
        (), tf.string, default_value='png'),
}


class RecordInteropTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    rng = np.random.RandomState(0)
    self.mask = rng.randint(0, 21, (H, W)).astype(np.uint8)
    self.mask[0] = 255
    jpeg_path = os.path.join(self.dir, 'a.jpg')
    self.jpeg_pixels = write_jpeg(jpeg_path, H, W)
    self.png_pixels = rng.randint(0, 256, (H, W, 3)).astype(np.uint8)
    png_path = os.path.join(self.dir, 'b.png')
    Image.fromarray(self.png_pixels).save(png_path)
    self.pixels = {'a': self.jpeg_pixels, 'b': self.png_pixels}
    self.serialized = {
        image_id: convert_utils.make_segmentation_example(
            image_id, path, self.mask, 21).SerializeToString()
        for image_id, path in (('a', jpeg_path), ('b', png_path))}

  def test_model_garden_decoder_and_parser(self):
    decoder = segmentation_input.Decoder()
    parser = segmentation_input.Parser(
        output_size=[H, W], resize_eval_groundtruth=False,
        groundtruth_padded_size=[H, W])
    parse = parser.parse_fn(is_training=False)
    for image_id, serialized in self.serialized.items():
      image, labels = parse(decoder.decode(tf.constant(serialized)))
      self.assertAllEqual(labels['masks'][..., 0],
                          self.mask.astype(np.float32))
      restored = image.numpy() * _STDDEV + _MEAN
      self.assertAllClose(restored, self.pixels[image_id].astype(np.float32),
                          atol=0.05)

  def test_deeplab_reader_spec(self):
    for image_id, serialized in self.serialized.items():
      parsed = tf.io.parse_single_example(serialized, _DEEPLAB_KEYS_TO_FEATURES)
      image = tf.io.decode_image(parsed['image/encoded'], channels=3)
      label = tf.io.decode_png(parsed['image/segmentation/class/encoded'],
                               channels=1)
      self.assertAllEqual(image, self.pixels[image_id])
      self.assertAllEqual(label[..., 0], self.mask)
      self.assertEqual(parsed['image/filename'].numpy(), image_id.encode())
      self.assertEqual(parsed['image/format'].numpy(),
                       b'jpeg' if image_id == 'a' else b'png')
      self.assertEqual(parsed['image/segmentation/class/format'].numpy(),
                       b'png')
      self.assertEqual((parsed['image/height'].numpy(),
                        parsed['image/width'].numpy(),
                        parsed['image/channels'].numpy()), (H, W, 3))

  def _foreign_example(self, keys):
    """A record with only the given subset of DeepLab's / Model Garden's keys."""
    values = {
        'image/encoded': convert_utils.encode_png(self.png_pixels),
        'image/filename': b'foreign',
        'image/format': b'png',
        'image/height': H,
        'image/width': W,
        'image/channels': 3,
        'image/segmentation/class/encoded': convert_utils.encode_png(
            self.mask),
        'image/segmentation/class/format': b'png',
    }
    feature = {}
    for key in keys:
      v = values[key]
      feature[key] = (
          tf.train.Feature(int64_list=tf.train.Int64List(value=[v]))
          if isinstance(v, int) else
          tf.train.Feature(bytes_list=tf.train.BytesList(value=[v])))
    return tf.train.Example(features=tf.train.Features(
        feature=feature)).SerializeToString()

  def test_deeplab_record_read_by_us(self):
    decoded = record_format.decode_example(
        self._foreign_example(list(_DEEPLAB_KEYS_TO_FEATURES)))
    self.assertAllEqual(decoded['image'], self.png_pixels)
    self.assertAllEqual(decoded['label'][..., 0], self.mask)
    self.assertTrue(decoded['has_mask'])
    self.assertEqual(decoded['filename'].numpy(), b'foreign')
    self.assertFalse(decoded['has_class_labels'])
    self.assertAllEqual(decoded['class_ids'], np.zeros([0], np.int64))

  def test_model_garden_minimal_record_read_by_us(self):
    decoded = record_format.decode_example(self._foreign_example(
        ['image/encoded', 'image/height', 'image/width',
         'image/segmentation/class/encoded']))
    self.assertAllEqual(decoded['image'], self.png_pixels)
    self.assertAllEqual(decoded['label'][..., 0], self.mask)
    self.assertEqual(decoded['filename'].numpy(), b'')

  def test_image_only_record_read_by_us(self):
    decoded = record_format.decode_example(
        self._foreign_example(['image/encoded', 'image/height', 'image/width']))
    self.assertFalse(decoded['has_mask'])
    self.assertAllEqual(decoded['label'], np.full((H, W, 1), 255, np.uint8))


if __name__ == '__main__':
  tf.test.main()
