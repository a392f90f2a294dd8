"""Tests for datasets/build_voc2012_data.py on a tiny VOC + SBD tree.

Also holds the small fixture writers (`write_jpeg`, `write_palette_png`,
`snapshot_dir`) that the COCO and folder converter tests import.
"""

import json
import os
import subprocess
import sys
import tempfile

from absl.testing import parameterized
import numpy as np
from PIL import Image
import scipy.io
import tensorflow as tf

from datasets import build_voc2012_data as voc
from datasets import convert_utils
from datasets import descriptors
from datasets import record_format
from tests.testing_utils import read_split
from tests.testing_utils import snapshot_dir
from tests.testing_utils import write_jpeg
from tests.testing_utils import write_palette_png

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _mask(seed, height, width, num_classes=21):
  rng = np.random.RandomState(seed)
  mask = np.zeros((height, width), np.uint8)
  mask[2:6, 3:8] = rng.randint(1, num_classes)
  mask[7:, :4] = rng.randint(1, num_classes)
  mask[6, :] = 255
  return mask


def _save_sbd(path, mask):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  scipy.io.savemat(path, {'GTcls': {
      'Segmentation': mask.astype(np.uint8),
      'Boundaries': np.zeros((1, 1), object),
      'CategoriesPresent': np.unique(mask[mask > 0]).astype(np.uint8)}})


def _write_list(path, ids):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w') as f:
    f.write(''.join(i + '\n' for i in ids))


class VocFixture(object):
  """A tiny VOC2012 + SBD tree.

  VOC train: a, b.  VOC val: c, d.  SBD train: b, c, e.  SBD val: f.
  train_aug = {a, b, e, f}; b's mask comes from VOC's PNG (its SBD mask differs).
  """

  H, W = 10, 12
  IDS = ('a', 'b', 'c', 'd', 'e', 'f')

  def __init__(self, root):
    self.voc_root = os.path.join(root, 'VOCdevkit', 'VOC2012')
    self.sbd_root = os.path.join(root, 'benchmark_RELEASE', 'dataset')
    self.pixels, self.masks, self.sbd_masks = {}, {}, {}
    for n, image_id in enumerate(self.IDS):
      self.pixels[image_id] = write_jpeg(self.image_path(image_id), self.H,
                                         self.W, seed=n)
    for n, image_id in enumerate('abcd'):
      self.masks[image_id] = _mask(n, self.H, self.W)
      write_palette_png(self.mask_path(image_id), self.masks[image_id])
    for n, image_id in enumerate('bcef'):
      self.sbd_masks[image_id] = np.where(_mask(10 + n, self.H, self.W) == 255,
                                          0, _mask(10 + n, self.H, self.W))
      _save_sbd(os.path.join(self.sbd_root, 'cls', image_id + '.mat'),
                self.sbd_masks[image_id])
    seg = os.path.join(self.voc_root, 'ImageSets', 'Segmentation')
    _write_list(os.path.join(seg, 'train.txt'), ['a', 'b'])
    _write_list(os.path.join(seg, 'val.txt'), ['c', 'd'])
    _write_list(os.path.join(self.sbd_root, 'train.txt'), ['b', 'c', 'e'])
    _write_list(os.path.join(self.sbd_root, 'val.txt'), ['f'])

  def image_path(self, image_id):
    return os.path.join(self.voc_root, 'JPEGImages', image_id + '.jpg')

  def mask_path(self, image_id):
    return os.path.join(self.voc_root, 'SegmentationClass', image_id + '.png')


class ConvertVocTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.root = tempfile.mkdtemp(dir=self.get_temp_dir())
    self.fx = VocFixture(self.root)
    self.out = os.path.join(self.root, 'records')

  def test_voc_only_writes_train_and_val(self):
    sizes = voc.convert_voc(self.fx.voc_root, self.out, num_shards=4)
    self.assertEqual(sizes, {'train': 2, 'val': 2})
    info = descriptors.load_info(self.out)
    self.assertEqual(info.name, 'pascal_voc_seg')
    self.assertEqual(info.splits_to_sizes, {'train': 2, 'val': 2})
    # min(num_shards, n) shards.
    self.assertLen(record_format.list_shards(self.out, 'train'), 2)
    records = read_split(self.out, 'train')
    self.assertCountEqual(records, ['a', 'b'])
    for image_id, rec in records.items():
      self.assertAllEqual(rec['label'], self.fx.masks[image_id])
      self.assertAllEqual(rec['image'], self.fx.pixels[image_id])
      with open(self.fx.image_path(image_id), 'rb') as f:
        self.assertEqual(rec['image_bytes'], f.read())  # JPEG kept as is.
      self.assertEqual(rec['class_ids'], record_format.class_labels_from_mask(
          self.fx.masks[image_id], 21))
    self.assertFalse(tf.io.gfile.glob(
        record_format.split_file_pattern(self.out, 'train_aug')))

  def test_with_sbd_writes_train_aug(self):
    sizes = voc.convert_voc(self.fx.voc_root, self.out,
                            sbd_root=self.fx.sbd_root, num_shards=3)
    self.assertEqual(sizes, {'train': 2, 'val': 2, 'train_aug': 4})
    records = read_split(self.out, 'train_aug')
    self.assertCountEqual(records, ['a', 'b', 'e', 'f'])
    self.assertAllEqual(records['b']['label'], self.fx.masks['b'])  # VOC wins.
    for image_id in 'ef':
      self.assertAllEqual(records[image_id]['label'],
                          self.fx.sbd_masks[image_id])
      self.assertAllEqual(records[image_id]['image'], self.fx.pixels[image_id])
    self.assertEqual(descriptors.load_info(self.out).splits_to_sizes, sizes)

  def test_chosen_splits_keep_earlier_ones(self):
    voc.convert_voc(self.fx.voc_root, self.out, splits=['val'])
    sizes = voc.convert_voc(self.fx.voc_root, self.out, splits=['train'])
    self.assertEqual(sizes, {'train': 2})
    self.assertEqual(descriptors.load_info(self.out).splits_to_sizes,
                     {'train': 2, 'val': 2})
    with self.assertRaisesRegex(convert_utils.ConversionError, 'train_aug'):
      voc.convert_voc(self.fx.voc_root, self.out, splits=['train_aug'])

  def test_dataset_info_in_voc_root_sets_classes(self):
    small = descriptors.DatasetDescriptor(
        name='tiny_synth', num_classes=4,
        class_names=('background', 'x', 'y', 'z'), splits_to_sizes={})
    with open(os.path.join(self.fx.voc_root, 'dataset_info.json'), 'w') as f:
      f.write(small.to_json())
    for n, image_id in enumerate('abcd'):
      self.fx.masks[image_id] = _mask(n, self.fx.H, self.fx.W, num_classes=4)
      write_palette_png(self.fx.mask_path(image_id), self.fx.masks[image_id])
    descriptor = voc.resolve_descriptor(self.fx.voc_root)
    voc.convert_voc(self.fx.voc_root, self.out, descriptor=descriptor)
    info = descriptors.load_info(self.out)
    self.assertEqual((info.name, info.num_classes), ('tiny_synth', 4))
    self.assertEqual(info.splits_to_sizes, {'train': 2, 'val': 2})

  def test_grey_level_mask_accepted(self):
    Image.fromarray(self.fx.masks['a'], mode='L').save(self.fx.mask_path('a'))
    voc.convert_voc(self.fx.voc_root, self.out, splits=['train'])
    self.assertAllEqual(read_split(self.out, 'train')['a']['label'],
                        self.fx.masks['a'])

  def _corrupt_image(self):
    with open(self.fx.image_path('b'), 'rb') as f:
      data = f.read()
    with open(self.fx.image_path('b'), 'wb') as f:
      f.write(data[:len(data) // 2])
    return self.fx.image_path('b'), 'decode'

  def _wrong_size_mask(self):
    write_palette_png(self.fx.mask_path('c'), np.zeros((5, 5), np.uint8))
    return self.fx.mask_path('c'), 'image is 10x12'

  def _out_of_range_mask(self):
    mask = self.fx.masks['a'].copy()
    mask[0, 0] = 21
    write_palette_png(self.fx.mask_path('a'), mask)
    return self.fx.mask_path('a'), r'\[21\]'

  def _rgb_mask(self):
    Image.fromarray(np.zeros((10, 12, 3), np.uint8)).save(self.fx.mask_path('d'))
    return self.fx.mask_path('d'), 'colour'

  def _missing_image(self):
    os.remove(self.fx.image_path('d'))
    return self.fx.image_path('d'), 'not found'

  def _missing_mask(self):
    os.remove(self.fx.mask_path('b'))
    return self.fx.mask_path('b'), 'no mask'

  def _missing_sbd_mask(self):
    os.remove(os.path.join(self.fx.sbd_root, 'cls', 'e.mat'))
    return os.path.join(self.fx.sbd_root, 'cls', 'e.mat'), 'no mask'

  def _corrupt_sbd_mask(self):
    path = os.path.join(self.fx.sbd_root, 'cls', 'f.mat')
    scipy.io.savemat(path, {'something_else': np.zeros((2, 2))})
    return path, 'GTcls'

  def _empty_list(self):
    path = os.path.join(self.fx.voc_root, 'ImageSets', 'Segmentation',
                        'val.txt')
    _write_list(path, [])
    return path, 'empty'

  def _missing_list(self):
    path = os.path.join(self.fx.sbd_root, 'val.txt')
    os.remove(path)
    return path, 'not found'

  def _missing_root(self):
    self.fx.voc_root += '_nope'
    return self.fx.voc_root, 'not found'

  @parameterized.parameters(
      '_corrupt_image', '_wrong_size_mask', '_out_of_range_mask', '_rgb_mask',
      '_missing_image', '_missing_mask', '_missing_sbd_mask',
      '_corrupt_sbd_mask', '_empty_list', '_missing_list', '_missing_root')
  def test_bad_input_names_file_and_writes_nothing(self, breaker):
    voc.convert_voc(self.fx.voc_root, self.out, sbd_root=self.fx.sbd_root)
    before = snapshot_dir(self.out)
    path, problem = getattr(self, breaker)()
    with self.assertRaises(convert_utils.ConversionError) as ctx:
      voc.convert_voc(self.fx.voc_root, self.out, sbd_root=self.fx.sbd_root)
    self.assertIn(path, str(ctx.exception))
    self.assertRegex(str(ctx.exception), problem)
    self.assertEqual(snapshot_dir(self.out), before)

  def test_bad_input_into_new_dir_leaves_no_dir(self):
    self._corrupt_image()
    with self.assertRaises(convert_utils.ConversionError):
      voc.convert_voc(self.fx.voc_root, self.out)
    self.assertFalse(os.path.exists(self.out))

  def test_script_runs_from_repo_root(self):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
    proc = subprocess.run(
        [sys.executable, 'datasets/build_voc2012_data.py',
         '--voc_root=' + self.fx.voc_root, '--sbd_root=' + self.fx.sbd_root,
         '--output_dir=' + self.out, '--num_shards=2', '--splits=train_aug'],
        cwd=_REPO, env=env, capture_output=True, text=True, timeout=120)
    self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
    with open(os.path.join(self.out, 'dataset_info.json')) as f:
      self.assertEqual(json.load(f)['splits_to_sizes'], {'train_aug': 4})
    self.assertLen(record_format.list_shards(self.out, 'train_aug'), 2)

  def test_an_output_path_that_is_a_file_is_named_first(self):
    with open(self.out, 'w') as f:
      f.write('not a dir')
    with self.assertRaisesRegex(convert_utils.ConversionError,
                                '%s.*not a directory' % self.out):
      voc.convert_voc(self.fx.voc_root + '_missing', self.out)


if __name__ == '__main__':
  tf.test.main()
