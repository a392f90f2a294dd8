"""Tests for datasets/convert_utils.py: reading images, output dirs, shard swaps."""

import io
import os
import tempfile

from absl.testing import parameterized
import numpy as np
from PIL import Image
import tensorflow as tf

from datasets import convert_utils


def _photo(height=96, width=128, seed=0):
  """A noisy RGB picture: its JPEG scan data is dense, like a photograph's."""
  rng = np.random.RandomState(seed)
  y, x = np.mgrid[0:height, 0:width]
  base = np.stack([x * 2, y * 2, x + y], -1) % 256
  noise = rng.randint(-40, 40, (height, width, 3))
  return np.clip(base + noise, 0, 255).astype(np.uint8)


def _jpeg_bytes(mode='RGB', progressive=False, seed=0):
  buf = io.BytesIO()
  Image.fromarray(_photo(seed=seed)).convert(mode).save(
      buf, format='JPEG', quality=90, progressive=progressive)
  return buf.getvalue()


def _scan_start(data):
  """Offset of the first entropy-coded byte (after the first SOS segment)."""
  sos = data.index(b'\xff\xda')
  return sos + 2 + int.from_bytes(data[sos + 2:sos + 4], 'big')


class LoadImageTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = tempfile.mkdtemp(dir=self.get_temp_dir())

  def _write(self, name, data):
    path = os.path.join(self.dir, name)
    with open(path, 'wb') as f:
      f.write(data)
    return path

  @parameterized.product(mode=['RGB', 'L', 'CMYK'], progressive=[False, True])
  def test_accepts_valid_jpegs(self, mode, progressive):
    data = _jpeg_bytes(mode, progressive)
    path = self._write('ok.jpg', data)
    encoded, image_format, rgb = convert_utils.load_image(path)
    self.assertEqual(rgb.shape, (96, 128, 3))
    with Image.open(io.BytesIO(data)) as img:
      self.assertAllEqual(rgb, np.asarray(img.convert('RGB')))
    self.assertEqual(image_format, 'png' if mode == 'CMYK' else 'jpeg')
    if image_format == 'jpeg':
      self.assertEqual(encoded, data)

  @parameterized.product(seed=list(range(6)), overwrite=[True, False],
                         progressive=[False, True], mode=['RGB', 'L'])
  def test_garbage_in_the_scan_data_is_an_error(self, seed, overwrite,
                                                progressive, mode):
    data = _jpeg_bytes(mode, progressive, seed=seed)
    rng = np.random.RandomState(seed)
    start = _scan_start(data)
    offset = rng.randint(start + 100, len(data) - 600)
    garbage = rng.randint(0, 256, rng.randint(100, 400)).astype(
        np.uint8).tobytes()
    rest = data[offset + len(garbage):] if overwrite else data[offset:]
    path = self._write('bad.jpg', data[:offset] + garbage + rest)
    with self.assertRaisesRegex(convert_utils.ConversionError,
                                'bad.jpg.*corrupt'):
      convert_utils.load_image(path)

  def test_a_png_byte_flip_is_refused_or_harmless(self):
    pixels = _photo(24, 32)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format='PNG')
    data = buf.getvalue()
    accepted = []
    for offset in range(8, len(data)):
      path = self._write('flip.png', data[:offset] +
                         bytes([data[offset] ^ 0x10]) + data[offset + 1:])
      try:
        rgb = convert_utils.load_image(path)[2]
      except convert_utils.ConversionError as e:
        self.assertIn(path, str(e))
        continue
      accepted.append(offset)
      self.assertAllEqual(rgb, pixels, 'flip at %d' % offset)
    self.assertLessEqual(len(accepted), 8)  # IEND's length and CRC only.

  def _png(self, img, **save_args):
    buf = io.BytesIO()
    img.save(buf, format='PNG', **save_args)
    return self._write('odd.png', buf.getvalue())

  def test_16_bit_grey_png_keeps_the_high_byte(self):
    values = np.array([[0, 255, 256, 1000], [32768, 65535, 257, 511]],
                      np.uint16)
    path = self._png(Image.fromarray(values))
    with Image.open(path) as img:
      self.assertIn(img.mode, ('I;16', 'I'))  # Pillow's name of 16-bit grey.
    _, image_format, rgb = convert_utils.load_image(path)
    self.assertEqual(image_format, 'png')
    expected = (values >> 8).astype(np.uint8)
    self.assertAllEqual(rgb, np.stack([expected] * 3, -1))
    # As TensorFlow's own decoder reads the file at 8 bits.
    with open(path, 'rb') as f:
      self.assertAllEqual(
          tf.io.decode_png(f.read(), channels=3, dtype=tf.uint8), rgb)

  def test_odd_modes_keep_their_colours_and_drop_alpha(self):
    grey = np.array([[0, 80], [160, 255]], np.uint8)
    alpha = np.array([[0, 255], [128, 7]], np.uint8)
    colour = np.stack([grey, 255 - grey, grey // 2], -1)
    la = Image.merge('LA', [Image.fromarray(grey), Image.fromarray(alpha)])
    self.assertAllEqual(convert_utils.load_image(self._png(la))[2],
                        np.stack([grey] * 3, -1))
    rgba = Image.fromarray(np.concatenate([colour, alpha[..., None]], -1),
                           mode='RGBA')
    self.assertAllEqual(convert_utils.load_image(self._png(rgba))[2], colour)
    palette = Image.fromarray(np.array([[0, 1], [2, 3]], np.uint8), mode='P')
    palette.putpalette([10, 20, 30, 200, 100, 50, 0, 0, 0, 255, 255, 255])
    rgb = convert_utils.load_image(self._png(palette, transparency=1))[2]
    self.assertAllEqual(rgb[0, 1], [200, 100, 50])  # The transparent entry.
    self.assertAllEqual(rgb[1, 1], [255, 255, 255])
    bits = Image.fromarray(grey > 100)
    self.assertAllEqual(convert_utils.load_image(self._png(bits))[2],
                        np.stack([np.where(grey > 100, 255, 0)] * 3, -1))

  @parameterized.parameters(
      ('F', np.array([[0.5, 300.0]], np.float32)),
      ('I', np.array([[0, 70000]], np.int32)),
      ('I', np.array([[-1, 5]], np.int32)))
  def test_images_without_an_8_bit_reading_are_refused(self, mode, values):
    path = os.path.join(self.dir, 'odd.tif')
    Image.fromarray(values, mode=mode).save(path)
    with self.assertRaisesRegex(convert_utils.ConversionError,
                                'odd.tif.*mode %s' % mode):
      convert_utils.load_image(path)


class OutputDirTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    self.file = os.path.join(self.dir, 'a_file')
    with open(self.file, 'w') as f:
      f.write('x')

  def test_a_new_or_existing_dir_is_fine_and_left_as_it_was(self):
    convert_utils.require_output_dir(self.dir)
    convert_utils.require_output_dir(os.path.join(self.dir, 'new', 'deeper'))
    self.assertEqual(os.listdir(self.dir), ['a_file'])

  @parameterized.parameters('', 'sub')
  def test_a_file_is_named(self, sub):
    path = os.path.join(self.file, sub) if sub else self.file
    with self.assertRaisesRegex(convert_utils.ConversionError,
                                '%s.*not a directory' % self.file):
      convert_utils.require_output_dir(path)

  def test_an_unwritable_place_is_named(self):
    path = '/sys/pseudoseg_no_such_output'  # Refused even to root.
    with self.assertRaisesRegex(convert_utils.ConversionError,
                                '%s.*cannot write' % path):
      convert_utils.require_output_dir(path)

  def test_an_unwritable_dir_is_named(self):
    locked = os.path.join(self.dir, 'locked')
    os.makedirs(locked)
    os.chmod(locked, 0o500)
    self.addCleanup(os.chmod, locked, 0o700)
    if os.access(locked, os.W_OK):
      self.skipTest('permissions do not bind this user (root)')
    with self.assertRaisesRegex(convert_utils.ConversionError,
                                '%s.*cannot write' % locked):
      convert_utils.require_output_dir(os.path.join(locked, 'out'))


if __name__ == '__main__':
  tf.test.main()
