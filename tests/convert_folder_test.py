"""Tests for datasets/build_folder_data.py on a tiny user folder."""

import os
import subprocess
import sys
import tempfile

from absl.testing import parameterized
import numpy as np
from PIL import Image
import tensorflow as tf

from datasets import build_folder_data as folder
from datasets import convert_utils
from datasets import descriptors
from datasets import record_format
from datasets import splits
from tests.testing_utils import read_split
from tests.testing_utils import snapshot_dir
from tests.testing_utils import write_jpeg
from tests.testing_utils import write_palette_png

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
H, W = 9, 11
NUM_CLASSES = 3


class ConvertFolderTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.root = tempfile.mkdtemp(dir=self.get_temp_dir())
    self.image_dir = os.path.join(self.root, 'images')
    self.mask_dir = os.path.join(self.root, 'masks')
    self.out = os.path.join(self.root, 'records')
    os.makedirs(self.image_dir)
    os.makedirs(self.mask_dir)
    rng = np.random.RandomState(0)
    self.masks, self.pixels = {}, {}
    for i in range(6):
      stem = 'im%d' % i
      if i % 2:  # PNG images are re-encoded losslessly.
        pixels = rng.randint(0, 256, (H, W, 3)).astype(np.uint8)
        Image.fromarray(pixels).save(os.path.join(self.image_dir,
                                                  stem + '.png'))
      else:
        pixels = write_jpeg(os.path.join(self.image_dir, stem + '.jpg'), H, W,
                            seed=i)
      self.pixels[stem] = pixels
      mask = rng.randint(0, NUM_CLASSES, (H, W)).astype(np.uint8)
      mask[0, :] = 255
      self.masks[stem] = mask
      if i % 3 == 0:
        write_palette_png(os.path.join(self.mask_dir, stem + '.png'), mask)
      else:
        Image.fromarray(mask, mode='L').save(
            os.path.join(self.mask_dir, stem + '.png'))
    self.descriptor = folder.make_descriptor('pets', NUM_CLASSES,
                                             ['cat', 'dog'])

  def _convert(self, **kwargs):
    return folder.convert_folder(self.image_dir, self.mask_dir, self.out,
                                 self.descriptor, **kwargs)

  def test_converts_train_and_val(self):
    sizes = self._convert(val_fraction=0.34, seed=1)
    self.assertEqual(sizes, {'train': 4, 'val': 2})
    info = descriptors.load_info(self.out)
    self.assertEqual(info.name, 'pets')
    self.assertEqual(info.class_names, ('background', 'cat', 'dog'))
    self.assertEqual(info.splits_to_sizes, sizes)
    records = {**read_split(self.out, 'train'), **read_split(self.out, 'val')}
    self.assertCountEqual(records, self.masks)
    for stem, rec in records.items():
      self.assertAllEqual(rec['label'], self.masks[stem])
      self.assertAllEqual(rec['image'], self.pixels[stem])
      self.assertEqual(rec['class_ids'], record_format.class_labels_from_mask(
          self.masks[stem], NUM_CLASSES))
    # Same seed, same draw.
    val = sorted(read_split(self.out, 'val'))
    self._convert(val_fraction=0.34, seed=1)
    self.assertEqual(sorted(read_split(self.out, 'val')), val)

  def test_no_val(self):
    self.assertEqual(self._convert(val_fraction=0.0, split_name='all'),
                     {'all': 6})

  def test_image_without_mask(self):
    os.remove(os.path.join(self.mask_dir, 'im4.png'))
    before = snapshot_dir(self.out)
    with self.assertRaisesRegex(convert_utils.ConversionError,
                                'im4.jpg.*allow_unlabeled|allow_unlabeled.*im4'):
      self._convert()
    self.assertEqual(snapshot_dir(self.out), before)
    sizes = self._convert(val_fraction=0.2, allow_unlabeled=True)
    self.assertEqual(sizes, {'train': 5, 'val': 1})
    rec = read_split(self.out, 'train')['im4']
    self.assertFalse(rec['has_mask'])
    self.assertNotIn(record_format.LABEL_ENCODED, rec['keys'])
    self.assertNotIn(record_format.CLASS_LABELS, rec['keys'])
    self.assertNotIn('im4', read_split(self.out, 'val'))

  def test_16_bit_grey_image_is_stored_at_8_bits(self):
    values = np.random.RandomState(5).randint(0, 65536, (H, W)).astype(
        np.uint16)
    values[0, :3] = [0, 255, 65535]
    os.remove(os.path.join(self.image_dir, 'im0.jpg'))
    Image.fromarray(values).save(os.path.join(self.image_dir, 'im0.png'))
    self._convert(val_fraction=0.0)
    stored = read_split(self.out, 'train')['im0']['image']
    self.assertAllEqual(stored, np.stack([(values >> 8).astype(np.uint8)] * 3,
                                         -1))

  def _rename(self, old, new):
    """Renames an image and its mask (even numbers are JPEGs, see setUp)."""
    image_ext = '.png' if int(old[2:]) % 2 else '.jpg'
    for folder_dir, ext in ((self.image_dir, image_ext), (self.mask_dir, '.png')):
      os.rename(os.path.join(folder_dir, old + ext),
                os.path.join(folder_dir, new + ext))
    self.masks[new] = self.masks.pop(old)

  def test_ids_with_spaces_reach_the_lists_whole(self):
    self._rename('im0', 'a b \u00fc')
    self._rename('im1', 'a b')
    self._rename('im2', 'a')
    self._convert(val_fraction=0.0)
    self.assertCountEqual(read_split(self.out, 'train'), self.masks)
    lists = os.path.join(self.root, 'lists')
    proc = subprocess.run(
        [sys.executable, 'datasets/create_splits.py', '--record_dir=' + self.out,
         '--split=train', '--num_labeled=3', '--output_dir=' + lists],
        cwd=_REPO, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2',
                            PYTHONPATH=_REPO),
        capture_output=True, text=True, timeout=300)
    self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
    labeled = splits.read_id_list(os.path.join(lists, 'labeled_3_seed0.txt'))
    unlabeled = splits.read_id_list(
        os.path.join(lists, 'unlabeled_3_seed0.txt'))
    self.assertCountEqual(labeled + unlabeled, self.masks)

  @parameterized.parameters(' lead', 'trail ', 'x.jpg', '#hash')
  def test_an_id_that_cannot_be_listed_names_the_file(self, stem):
    self._rename('im3', stem)
    before = snapshot_dir(self.out)
    with self.assertRaises(convert_utils.ConversionError) as ctx:
      self._convert()
    self.assertIn(os.path.join(self.image_dir, stem + '.png'),
                  str(ctx.exception))
    self.assertIn('id list', str(ctx.exception))
    self.assertEqual(snapshot_dir(self.out), before)

  def test_an_output_path_that_is_a_file_is_named_first(self):
    with open(self.out, 'w') as f:
      f.write('not a dir')
    self.image_dir += '_missing'  # Not looked at: the output is checked first.
    with self.assertRaisesRegex(convert_utils.ConversionError,
                                '%s.*not a directory' % self.out):
      self._convert()

  def test_make_descriptor(self):
    self.assertEqual(folder.make_descriptor('x', 3).class_names,
                     ('background', 'class_1', 'class_2'))
    self.assertEqual(
        folder.make_descriptor('x', 2, ['bg', 'fg']).class_names, ('bg', 'fg'))
    with self.assertRaisesRegex(convert_utils.ConversionError, '3 class names'):
      folder.make_descriptor('x', 5, ['a', 'b', 'c'])
    for bad in (1, 256, 300):
      with self.assertRaisesRegex(convert_utils.ConversionError,
                                  r'num_classes must be in \[2, 255\]'):
        folder.make_descriptor('x', bad)

  def _out_of_range(self):
    path = os.path.join(self.mask_dir, 'im2.png')
    mask = self.masks['im2'].copy()
    mask[3, 3] = NUM_CLASSES
    Image.fromarray(mask, mode='L').save(path)
    return path, 'label values [3]'

  def _wrong_size(self):
    path = os.path.join(self.mask_dir, 'im1.png')
    Image.fromarray(np.zeros((H, W + 1), np.uint8), mode='L').save(path)
    return path, 'but its image is'

  def _rgb_mask(self):
    path = os.path.join(self.mask_dir, 'im5.png')
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(path)
    return path, 'colour masks'

  def _corrupt_image(self):
    path = os.path.join(self.image_dir, 'im3.png')
    with open(path, 'wb') as f:
      f.write(b'\x89PNG\r\n\x1a\n broken')
    return path, 'decode'

  def _duplicate_stem(self):
    path = os.path.join(self.image_dir, 'im0.png')
    Image.fromarray(self.pixels['im0']).save(path)
    return path, 'same stem'

  def _missing_dir(self):
    self.mask_dir += '_nope'
    return self.mask_dir, 'not found'

  @parameterized.parameters('_out_of_range', '_wrong_size', '_rgb_mask',
                            '_corrupt_image', '_duplicate_stem', '_missing_dir')
  def test_bad_input_names_file_and_writes_nothing(self, breaker):
    self._convert()
    before = snapshot_dir(self.out)
    path, problem = getattr(self, breaker)()
    with self.assertRaises(convert_utils.ConversionError) as ctx:
      self._convert()
    self.assertIn(path, str(ctx.exception))
    self.assertIn(problem, str(ctx.exception))
    self.assertEqual(snapshot_dir(self.out), before)


if __name__ == '__main__':
  tf.test.main()
