"""vis.py as a user runs it: a folder of odd images, a record split, a SavedModel.

The model is the shared 4-step run of conftest.py (`sup_run`). The folder holds a
grey JPEG, an RGBA PNG, a CMYK JPEG, an EXIF-rotated JPEG, a BMP, a truncated
JPEG and a text file named .png: the last two are named and skipped, and the
run exits with status 1.
"""

import json
import os
import re
import shutil
import tempfile

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from cli import predict_lib
from core.evaluation import evaluator
from core.evaluation import sliding_window
from core.serving import export
from core.training import run_dir
from datasets import descriptors
from tests import testing_utils

# Name -> (height, width) of the outputs: the EXIF-rotated one is upright.
_GOOD = {'grey': (40, 50), 'rgba': (33, 47), 'cmyk': (30, 44),
         'rotated': (60, 36), 'plain': (25, 31)}
_BAD = ('notes.png', 'truncated.jpg')


def _write_odd_images(folder):
  """The folder of the module docstring; returns the plain image's pixels."""
  os.makedirs(folder)
  rng = np.random.RandomState(0)

  def rgb(h, w):
    return rng.randint(0, 256, (h, w, 3)).astype(np.uint8)

  Image.fromarray(rgb(40, 50)[..., 0]).save(os.path.join(folder, 'grey.jpg'))
  rgba = np.concatenate([rgb(33, 47), np.full((33, 47, 1), 90, np.uint8)], -1)
  Image.fromarray(rgba, 'RGBA').save(os.path.join(folder, 'rgba.png'))
  Image.fromarray(rgb(30, 44)).convert('CMYK').save(
      os.path.join(folder, 'cmyk.jpg'))
  exif = Image.Exif()
  exif[0x0112] = 6  # Stored 36x60; shown turned a quarter clockwise: 60x36.
  Image.fromarray(rgb(36, 60)).save(os.path.join(folder, 'rotated.jpg'),
                                    exif=exif)
  plain = rgb(25, 31)
  Image.fromarray(plain).save(os.path.join(folder, 'plain.bmp'))
  with open(os.path.join(folder, 'rotated.jpg'), 'rb') as f:
    data = f.read()
  with open(os.path.join(folder, 'truncated.jpg'), 'wb') as f:
    f.write(data[:len(data) // 2])
  with open(os.path.join(folder, 'notes.png'), 'w') as f:
    f.write('not an image')
  return plain


def _size(path):
  width, height = Image.open(path).size
  return height, width


@pytest.fixture(scope='module')
def vis_folder(sup_run, binaries, tmp_path_factory):
  """vis.py --model_dir over the odd folder: (output dir, process, pixels)."""
  root = tmp_path_factory.mktemp('vis_folder')
  plain = _write_odd_images(str(root / 'images'))
  output_dir = str(root / 'out')
  proc = binaries.run('vis.py', model_dir=sup_run[0],
                      image_dir=str(root / 'images'), output_dir=output_dir)
  return output_dir, proc, str(root / 'images'), plain


class FolderTest(testing_utils.FixturesMixin, tf.test.TestCase):

  FIXTURES = {('output_dir', 'proc', 'image_dir', 'plain'): 'vis_folder',
              ('model_dir', None): 'sup_run', 'binaries': 'binaries'}

  def test_bad_files_are_named_skipped_and_fail_the_run(self):
    self.assertEqual(self.proc.returncode, 1, self.proc.stdout[-3000:])
    for name in _BAD:
      path = os.path.join(self.image_dir, name)
      self.assertIn('Skipped %s: Cannot decode image %s' % (path, path),
                    self.proc.stdout)
    # Named as what it is, not by Pillow's in-memory file object.
    self.assertIn('notes.png: not an image file of a format Pillow reads',
                  self.proc.stdout)
    self.assertNotIn('BytesIO', self.proc.stdout)
    summary = self.proc.stdout.split('2 of 7 images failed:\n')[1]
    self.assertEqual(
        [line.split(': ')[0].strip() for line in summary.splitlines()],
        [os.path.join(self.image_dir, name) for name in _BAD])
    self.assertNotIn('Traceback', self.proc.stdout)
    self.assertFalse([n for n in os.listdir(self.output_dir)
                      if n.startswith(('notes', 'truncated'))])

  def test_progress_line(self):
    self.assertRegex(self.proc.stdout, r'7/7 images \| [0-9.]+ img/s \| 2 failed')

  def test_outputs_at_each_images_upright_size(self):
    for name, size in _GOOD.items():
      base = os.path.join(self.output_dir, name)
      self.assertEqual(_size(base + '_prediction.png'), size, name)
      self.assertEqual(_size(base + '_overlay.png'), size, name)
      self.assertFalse(os.path.exists(base + '_grid.png'))
      self.assertEqual(Image.open(base + '_prediction.png').mode, 'P')
      self.assertEqual(Image.open(base + '_overlay.png').mode, 'RGB')

  def test_prediction_png_holds_the_models_class_ids(self):
    prediction = Image.open(os.path.join(self.output_dir, 'plain_prediction.png'))
    # The records of the run have no colours of their own: VOC's.
    self.assertAllEqual(
        np.array(prediction.getpalette()[:3 * 256]).reshape(256, 3),
        descriptors.voc_palette(256))
    model, _, _, _ = run_dir.load_trained_model(self.model_dir)
    probabilities = evaluator.predict_probabilities(
        model, tf.constant(self.plain, tf.float32)[None] / 255.0)
    self.assertAllEqual(np.asarray(prediction),
                        tf.argmax(probabilities[0], -1))
    # The overlay is the image half-blended with those colours.
    colours = descriptors.voc_palette(256)[np.asarray(prediction)]
    overlay = np.asarray(Image.open(os.path.join(self.output_dir,
                                                 'plain_overlay.png')))
    self.assertAllClose(overlay, 0.5 * self.plain + 0.5 * colours, atol=1)

  def test_window_by_window(self):
    # The plain image is 25 x 31; windows of 16 x 20 overlapping by a third:
    # rows 0..15 and 9..24, columns 0..19 and 11..30, each pixel the mean of
    # the windows that hold it.
    folder = os.path.join(self.get_temp_dir(), 'tiled_in')
    os.makedirs(folder)
    shutil.copy(os.path.join(self.image_dir, 'plain.bmp'), folder)
    output_dir = os.path.join(self.get_temp_dir(), 'tiled_out')
    proc = self.binaries.run_ok('vis.py', model_dir=self.model_dir,
                                image_dir=folder, output_dir=output_dir,
                                window='16,20')
    self.assertIn('1/1 images', proc.stdout)
    tiled = np.asarray(Image.open(os.path.join(output_dir,
                                               'plain_prediction.png')))
    self.assertEqual(tiled.shape, (25, 31))
    model, _, _, _ = run_dir.load_trained_model(self.model_dir)
    expected = sliding_window.predict_tiled(
        lambda tile: evaluator.predict_probabilities(
            model, tf.constant(tile, tf.float32)[None] / 255.0)[0].numpy(),
        self.plain, (16, 20))
    # Graph and eager kernels round differently: near-ties may differ.
    self.assertGreater((tiled == np.argmax(expected, -1)).mean(), 0.99)

  def test_a_saved_model_gives_the_same_predictions(self):
    export_dir = os.path.join(tempfile.mkdtemp(dir=self.get_temp_dir()), 'sm')
    model, _, _, _ = run_dir.load_trained_model(self.model_dir)
    export.export_saved_model(model, export_dir, input_size=None)
    folder = os.path.join(self.get_temp_dir(), 'two')
    os.makedirs(folder)
    for name in ('plain.bmp', 'rotated.jpg'):
      shutil.copy(os.path.join(self.image_dir, name), folder)
    output_dir = os.path.join(self.get_temp_dir(), 'sm_out')
    proc = self.binaries.run_ok('vis.py', saved_model=export_dir,
                                image_dir=folder, output_dir=output_dir)
    self.assertIn('2/2 images', proc.stdout)
    self.assertIn('| 0 failed', proc.stdout)
    for name in ('plain', 'rotated'):
      served = np.asarray(Image.open(
          os.path.join(output_dir, name + '_prediction.png')))
      direct = np.asarray(Image.open(
          os.path.join(self.output_dir, name + '_prediction.png')))
      # Graph and eager kernels round differently: near-ties may differ.
      self.assertGreater((served == direct).mean(), 0.99, name)


class RecordSplitTest(testing_utils.FixturesMixin, tf.test.TestCase):

  FIXTURES = {('model_dir', None): 'sup_run', 'records': 'tiny_records',
              'binaries': 'binaries'}

  def test_grid_palette_and_multi_scale(self):
    # A copy of the records whose dataset_info.json gives the classes' colours.
    record_dir = os.path.join(self.get_temp_dir(), 'records')
    shutil.copytree(self.records.record_dir, record_dir)
    info_path = os.path.join(record_dir, descriptors.INFO_FILENAME)
    with open(info_path) as f:
      info = json.load(f)
    colors = [[10 * i, 255 - 10 * i, 7 * i] for i in range(info['num_classes'])]
    info['colors'] = colors
    with open(info_path, 'w') as f:
      json.dump(info, f)
    output_dir = os.path.join(self.get_temp_dir(), 'out')
    proc = self.binaries.run_ok('vis.py', model_dir=self.model_dir,
                                record_dir=record_dir, split='val',
                                output_dir=output_dir, scales='0.75,1.0',
                                flip=True)
    self.assertRegex(proc.stdout, r'\n%d images \| [0-9.]+ img/s \| 0 failed' %
                     self.records.num_val)
    palette = descriptors.voc_palette(256)
    palette[:len(colors)] = colors  # 255 (ignore) keeps VOC's colour.
    self.assertAllEqual(descriptors.load_info(record_dir).palette, palette)
    examples = list(predict_lib.record_examples(record_dir, 'val'))
    self.assertLen(examples, self.records.num_val)
    for name, image, label in examples:
      base = os.path.join(output_dir, name)
      h, w = image.shape[:2]
      self.assertEqual(_size(base + '_prediction.png'), (h, w))
      self.assertEqual(_size(base + '_grid.png'), (h, 3 * w))
      grid = np.asarray(Image.open(base + '_grid.png'))
      # The middle third is the ground truth in the data set's colours.
      self.assertAllEqual(grid[:, w:2 * w], palette[label])
      saved = np.array(Image.open(base + '_prediction.png').getpalette())
      self.assertAllEqual(saved.reshape(-1, 3), palette)


class ImageFileTest(tf.test.TestCase):
  """predict_lib.read_image_file: every EXIF orientation comes out upright."""

  def test_orientations(self):
    upright = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10
    # What the camera stored for each orientation tag, from the upright view.
    stored = {1: upright, 2: upright[:, ::-1], 3: upright[::-1, ::-1],
              4: upright[::-1], 5: upright.transpose(1, 0, 2),
              6: np.rot90(upright, 1), 7: upright.transpose(1, 0, 2)[::-1, ::-1],
              8: np.rot90(upright, -1)}
    for tag, pixels in stored.items():
      path = os.path.join(self.get_temp_dir(), '%d.png' % tag)
      exif = Image.Exif()
      exif[0x0112] = tag
      Image.fromarray(np.ascontiguousarray(pixels)).save(path, exif=exif)
      self.assertAllEqual(predict_lib.read_image_file(path), upright,
                          msg='orientation %d' % tag)

  def test_folder_listing(self):
    folder = self.get_temp_dir()
    for name in ('b.JPG', 'a.png', 'c.txt', 'd.bmp', 'e.jpeg'):
      open(os.path.join(folder, name), 'w').close()
    self.assertEqual([os.path.basename(p) for p in
                      predict_lib.image_files(folder)],
                     ['a.png', 'b.JPG', 'd.bmp', 'e.jpeg'])
    empty = os.path.join(folder, 'empty')
    os.makedirs(empty)
    with self.assertRaisesRegex(FileNotFoundError, 'No image'):
      predict_lib.image_files(empty)
    with self.assertRaisesRegex(FileNotFoundError, 'not found'):
      predict_lib.image_files(os.path.join(folder, 'missing'))


if __name__ == '__main__':
  tf.test.main()
