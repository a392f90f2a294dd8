"""Tests for datasets/build_coco_data.py on a hand-written three-image COCO set."""

import json
import os
import tempfile

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from datasets import build_coco_data as coco
from datasets import convert_utils
from datasets import descriptors
from datasets import record_format
from tests.testing_utils import read_split
from tests.testing_utils import snapshot_dir
from tests.testing_utils import write_jpeg

PERSON = 1
CUP = descriptors.COCO_THING_CLASSES.index('cup') + 1
TABLE = descriptors.COCO_THING_CLASSES.index('dining table') + 1
H, W = 20, 24


def _rect(x0, y0, x1, y1):
  return [[x0, y0, x1, y0, x1, y1, x0, y1]]


def _uncompressed_rle(mask):
  """COCO's uncompressed RLE: run lengths over the column-major pixels, 0s first."""
  flat = mask.flatten(order='F').astype(np.uint8)
  counts, value, run = [], 0, 0
  for v in flat:
    if v != value:
      counts.append(run)
      value, run = v, 0
    run += 1
  counts.append(run)
  return {'counts': counts, 'size': list(mask.shape)}


def _categories():
  return [{'id': 1, 'name': 'person', 'supercategory': 'person'},
          {'id': 47, 'name': 'cup', 'supercategory': 'kitchen'},
          {'id': 67, 'name': 'dining table', 'supercategory': 'furniture'}]


class CocoFixture(object):
  """train2017: img1 (table with a cup on it), img2 (crowd + person);
  val2017: img3 (no annotation)."""

  def __init__(self, root):
    self.root = root
    crowd = np.zeros((H, W), bool)
    crowd[:, :6] = True
    train = {
        'images': [
            {'id': 1, 'file_name': 'img1.jpg', 'height': H, 'width': W},
            {'id': 2, 'file_name': 'img2.jpg', 'height': H, 'width': W}],
        'annotations': [
            # The cup is listed first: painting in file order would lose it.
            {'id': 10, 'image_id': 1, 'category_id': 47, 'iscrowd': 0,
             'segmentation': _rect(8, 6, 13, 11), 'area': 25.0,
             'bbox': [8, 6, 5, 5]},
            {'id': 11, 'image_id': 1, 'category_id': 67, 'iscrowd': 0,
             'segmentation': _rect(2, 2, 21, 17), 'area': 285.0,
             'bbox': [2, 2, 19, 15]},
            {'id': 12, 'image_id': 2, 'category_id': 1, 'iscrowd': 1,
             'segmentation': _uncompressed_rle(crowd), 'area': 120.0,
             'bbox': [0, 0, 6, 20]},
            {'id': 13, 'image_id': 2, 'category_id': 1, 'iscrowd': 0,
             'segmentation': _rect(3, 4, 11, 9), 'area': 40.0,
             'bbox': [3, 4, 8, 5]}],
        'categories': _categories()}
    val = {'images': [{'id': 7, 'file_name': 'img3.jpg', 'height': H,
                       'width': W}],
           'annotations': [], 'categories': _categories()}
    self.pixels = {}
    for split, data in (('train', train), ('val', val)):
      self.write_json(split, data)
      for n, img in enumerate(data['images']):
        self.pixels[img['file_name'][:-4]] = write_jpeg(
            os.path.join(coco.image_dir(root, split), img['file_name']), H, W,
            seed=img['id'] + n)
    self.train = train

  def write_json(self, split, data):
    path = coco.annotation_path(self.root, split)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
      json.dump(data, f)


class ConvertCocoTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.root = tempfile.mkdtemp(dir=self.get_temp_dir())
    self.fx = CocoFixture(self.root)
    self.out = os.path.join(self.root, 'records')

  def test_converts_both_splits(self):
    sizes = coco.convert_coco(self.root, self.out, num_shards=4)
    self.assertEqual(sizes, {'train': 2, 'val': 1})
    info = descriptors.load_info(self.out)
    self.assertEqual((info.name, info.num_classes), ('coco', 81))
    self.assertEqual(info.splits_to_sizes, sizes)
    train = read_split(self.out, 'train')
    img1, img2 = train['img1']['label'], train['img2']['label']
    self.assertEqual(img1[0, 0], 0)
    self.assertEqual(img1[4, 4], TABLE)
    self.assertEqual(img1[8, 10], CUP)  # The smaller instance wins.
    self.assertEqual(train['img1']['class_ids'], sorted([CUP, TABLE]))
    self.assertEqual(img2[15, 2], 255)  # Crowd only: ignored.
    self.assertEqual(img2[6, 4], PERSON)  # Person over crowd.
    self.assertEqual(img2[6, 9], PERSON)
    self.assertEqual(img2[15, 20], 0)
    self.assertEqual(set(np.unique(img2).tolist()), {0, PERSON, 255})
    self.assertEqual(train['img2']['class_ids'], [PERSON])
    for name in ('img1', 'img2'):
      self.assertAllEqual(train[name]['image'], self.fx.pixels[name])
    val = read_split(self.out, 'val')
    self.assertAllEqual(val['img3']['label'], np.zeros((H, W), np.uint8))
    self.assertEqual(val['img3']['class_ids'], [])

  def test_max_images_and_splits(self):
    sizes = coco.convert_coco(self.root, self.out, splits=['train'],
                              max_images=1)
    self.assertEqual(sizes, {'train': 1})
    self.assertCountEqual(read_split(self.out, 'train'), ['img1'])

  def _missing_image(self):
    path = os.path.join(coco.image_dir(self.root, 'train'), 'img2.jpg')
    os.remove(path)
    return path, 'not found'

  def _corrupt_image(self):
    path = os.path.join(coco.image_dir(self.root, 'val'), 'img3.jpg')
    with open(path, 'wb') as f:
      f.write(b'\xff\xd8\xff\xe0 not really a jpeg')
    return path, 'decode'

  def _size_mismatch(self):
    self.fx.train['images'][0]['height'] = H + 3
    self.fx.write_json('train', self.fx.train)
    return os.path.join(coco.image_dir(self.root, 'train'), 'img1.jpg'), (
        'but its image is %dx%d' % (H, W))

  def _unknown_category(self):
    self.fx.train['categories'][1]['name'] = 'teapot'
    self.fx.write_json('train', self.fx.train)
    return coco.annotation_path(self.root, 'train'), 'teapot'

  def _broken_json(self):
    path = coco.annotation_path(self.root, 'val')
    with open(path, 'w') as f:
      f.write('{"images": [')
    return path, 'Cannot read'

  def _missing_json(self):
    path = coco.annotation_path(self.root, 'val')
    os.remove(path)
    return path, 'not found'

  def _missing_image_dir(self):
    path = coco.image_dir(self.root, 'val')
    for name in os.listdir(path):
      os.remove(os.path.join(path, name))
    os.rmdir(path)
    return path, 'not found'

  @parameterized.parameters(
      '_missing_image', '_corrupt_image', '_size_mismatch', '_unknown_category',
      '_broken_json', '_missing_json', '_missing_image_dir')
  def test_bad_input_names_file_and_writes_nothing(self, breaker):
    coco.convert_coco(self.root, self.out)
    before = snapshot_dir(self.out)
    path, problem = getattr(self, breaker)()
    with self.assertRaises(convert_utils.ConversionError) as ctx:
      coco.convert_coco(self.root, self.out)
    self.assertIn(path, str(ctx.exception))
    self.assertIn(problem, str(ctx.exception))
    self.assertEqual(snapshot_dir(self.out), before)
    self.assertLen(record_format.list_shards(self.out, 'train'), 2)

  @parameterized.parameters(
      ('images', None, "no 'images' key"),
      ('annotations', None, "no 'annotations' key"),
      ('categories', None, "no 'categories' key"),
      ('images', 'height', "image 2 (entry 2 of 'images') has no 'height'"),
      ('images', 'width', "image 1 (entry 1 of 'images') has no 'width'"),
      ('images', 'file_name', "image 2 (entry 2 of 'images') has no "
       "'file_name'"),
      ('images', 'id', "entry 1 of 'images' has no 'id'"),
      ('annotations', 'image_id', "annotation 10 (entry 1 of 'annotations') "
       "has no 'image_id'"),
      ('annotations', 'category_id', "annotation 13 (entry 4 of "
       "'annotations') has no 'category_id'"))
  def test_a_missing_key_is_named_with_its_file(self, section, key, problem):
    coco.convert_coco(self.root, self.out)
    before = snapshot_dir(self.out)
    if key is None:
      del self.fx.train[section]
    else:
      entry = {'height': 1, 'file_name': 1, 'image_id': 0, 'category_id': 3
              }.get(key, 0)
      del self.fx.train[section][entry][key]
    self.fx.write_json('train', self.fx.train)
    with self.assertRaises(convert_utils.ConversionError) as ctx:
      coco.convert_coco(self.root, self.out)
    self.assertIn(coco.annotation_path(self.root, 'train'), str(ctx.exception))
    self.assertIn(problem, str(ctx.exception))
    self.assertEqual(snapshot_dir(self.out), before)

  def test_an_empty_image_list_is_named_with_its_file(self):
    self.fx.train['images'] = []
    self.fx.write_json('train', self.fx.train)
    with self.assertRaisesRegex(convert_utils.ConversionError,
                                'instances_train2017.json lists no image'):
      coco.convert_coco(self.root, self.out)
    self.assertFalse(os.path.exists(self.out))

  def test_an_output_path_that_is_a_file_is_named_first(self):
    with open(self.out, 'w') as f:
      f.write('not a dir')
    with self.assertRaisesRegex(convert_utils.ConversionError,
                                '%s.*not a directory' % self.out):
      coco.convert_coco(self.root + '_missing', self.out)


if __name__ == '__main__':
  tf.test.main()
