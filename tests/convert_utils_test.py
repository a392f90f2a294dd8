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


if __name__ == '__main__':
  tf.test.main()
