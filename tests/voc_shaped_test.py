"""Tests for the VOC-shaped stand-in (datasets/voc_shaped.py, make_voc_shaped.py).

Read back through the VOC converter, as scripts/rehearse_voc.sh uses it: the
shipped ids, VOC's sizes, 21 classes, SBD in train_aug only.
"""

import os
import sys
import tempfile

import numpy as np
from PIL import Image
import tensorflow as tf

from datasets import build_voc2012_data as voc
from datasets import descriptors
from datasets import voc_shaped
from tests.testing_utils import read_split
from tests.testing_utils import run_command


class VocShapedTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.root = tempfile.mkdtemp(dir=self.get_temp_dir())
    self.train_ids = ['2007_000032', '2007_000039', '2011_003276']
    self.val_ids = ['2014_000000', '2014_000001']

  def _write(self, seed=0):
    return voc_shaped.write_voc_shaped(self.root, self.train_ids, self.val_ids,
                                       num_sbd=3, width=40, height=30,
                                       seed=seed)

  def test_reads_back_through_the_voc_converter(self):
    voc_root, sbd_root = self._write()
    out = os.path.join(self.root, 'tfrecord')
    sizes = voc.convert_voc(voc_root, out, sbd_root=sbd_root, num_shards=1)
    # train_aug: VOC train and SBD's own images (SBD train 2, val 1), no VOC val.
    self.assertEqual(sizes, {'train': 3, 'val': 2, 'train_aug': 6})
    info = descriptors.load_info(out)
    self.assertEqual(info.num_classes, voc_shaped.NUM_CLASSES)
    records = read_split(out, 'train_aug')
    sbd_ids = ['2013_000000', '2013_000001', '2013_000002']
    self.assertCountEqual(records, self.train_ids + sbd_ids)
    for image_id, record in records.items():
      self.assertEqual(record['image'].shape, (30, 40, 3), image_id)
      self.assertTrue(record['has_mask'], image_id)
      label = record['label']
      self.assertEqual(label.shape, (30, 40))
      values = set(np.unique(label).tolist())
      # Classes in [0, 20], and 255 on the boundaries of the objects drawn.
      self.assertTrue(values <= set(range(21)) | {255}, (image_id, values))
      self.assertIn(255, values, image_id)
      self.assertTrue(values - {0, 255}, image_id)
    # The PNG masks are VOC's: palette images with VOC's colours.
    png = Image.open(os.path.join(voc_root, 'SegmentationClass',
                                  self.train_ids[0] + '.png'))
    self.assertEqual(png.mode, 'P')
    self.assertEqual(png.getpalette()[3:6], [128, 0, 0])
    self.assertAllEqual(np.asarray(png), read_split(out, 'train')[
        self.train_ids[0]]['label'])

  def test_same_seed_same_bytes_other_seed_other_scenes(self):
    voc_root, _ = self._write(seed=3)
    path = os.path.join(voc_root, 'JPEGImages', self.train_ids[1] + '.jpg')
    with open(path, 'rb') as f:
      first = f.read()
    self._write(seed=3)
    with open(path, 'rb') as f:
      self.assertEqual(f.read(), first)
    self._write(seed=4)
    with open(path, 'rb') as f:
      self.assertNotEqual(f.read(), first)

  def test_tool_writes_the_shipped_ids_and_names_a_bad_list(self):
    out = os.path.join(self.root, 'tool')
    ids = os.path.join(self.root, 'ids.txt')
    with open(ids, 'w') as f:
      f.write('\n'.join(self.train_ids) + '\n')
    proc = run_command(
        [sys.executable, 'datasets/make_voc_shaped.py', '--output_root=' + out,
         '--train_ids=' + ids, '--num_val=1', '--num_sbd=2', '--width=24',
         '--height=20'], dict(os.environ), timeout=300, merge=False)
    self.assertEqual(proc.returncode, 0, proc.stderr)
    voc_root = os.path.join(out, 'VOCdevkit', 'VOC2012')
    with open(os.path.join(voc_root, 'ImageSets', 'Segmentation',
                           'train.txt')) as f:
      self.assertEqual(f.read().split(), self.train_ids)
    image = Image.open(os.path.join(voc_root, 'JPEGImages',
                                    self.train_ids[0] + '.jpg'))
    self.assertEqual(image.size, (24, 20))
    missing = os.path.join(self.root, 'missing.txt')
    proc = run_command(
        [sys.executable, 'datasets/make_voc_shaped.py',
         '--output_root=' + os.path.join(self.root, 'other'),
         '--train_ids=' + missing], dict(os.environ), timeout=300, merge=False)
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn(missing, proc.stderr)
    self.assertNotIn('Traceback', proc.stderr)
    self.assertFalse(os.path.exists(os.path.join(self.root, 'other')))


if __name__ == '__main__':
  tf.test.main()
