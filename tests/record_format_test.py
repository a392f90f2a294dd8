"""Tests for datasets/record_format.py: write, read back, shards, atomicity."""

import io
import os

import numpy as np
from PIL import Image
import tensorflow as tf

from datasets import record_format


def _png(array):
  buf = io.BytesIO()
  Image.fromarray(array).save(buf, format='PNG')
  return buf.getvalue()


def _read_all(record_dir, split):
  return [record_format.decode_example(s) for s in
          tf.data.TFRecordDataset(record_format.list_shards(record_dir, split))]


def _snapshot(directory):
  return {n: open(os.path.join(directory, n), 'rb').read()
          for n in sorted(os.listdir(directory))}


class RecordFormatTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    rng = np.random.RandomState(0)
    self.image = rng.randint(0, 256, (7, 9, 3)).astype(np.uint8)
    self.mask = np.zeros((7, 9), np.uint8)
    self.mask[1:4, 2:5] = 3
    self.mask[5, :] = 255
    self.mask[6, 8] = 1

  def _example(self, name='img_0', with_mask=True):
    mask = self.mask if with_mask else None
    return record_format.make_example(
        _png(self.image), name, 7, 9,
        label_data=_png(self.mask) if with_mask else None, image_format='png',
        class_labels=(record_format.class_labels_from_mask(mask, 21)
                      if with_mask else None))

  def test_class_labels_from_mask(self):
    self.assertEqual(record_format.class_labels_from_mask(self.mask, 21), [1, 3])
    self.assertEqual(record_format.class_labels_from_mask(self.mask, 3), [1])

  def test_round_trip(self):
    out = self.get_temp_dir()
    with record_format.ShardedWriter(out, 'train', 1) as writer:
      writer.write(self._example())
    (decoded,) = _read_all(out, 'train')
    self.assertAllEqual(decoded['image'], self.image)
    self.assertAllEqual(decoded['label'][..., 0], self.mask)
    self.assertTrue(decoded['has_mask'])
    self.assertEqual(decoded['filename'].numpy(), b'img_0')
    self.assertAllEqual(decoded['class_ids'], [1, 3])
    self.assertTrue(decoded['has_class_labels'])

  def test_round_trip_in_graph_mode(self):
    out = self.get_temp_dir()
    with record_format.ShardedWriter(out, 'val', 1) as writer:
      writer.write(self._example())
    ds = tf.data.TFRecordDataset(record_format.list_shards(out, 'val')).map(
        record_format.decode_example)
    decoded = next(iter(ds))
    self.assertAllEqual(decoded['image'], self.image)
    self.assertAllEqual(decoded['label'][..., 0], self.mask)

  def test_image_only_record(self):
    out = self.get_temp_dir()
    with record_format.ShardedWriter(out, 'extra', 1) as writer:
      writer.write(self._example(with_mask=False))
    (decoded,) = _read_all(out, 'extra')
    self.assertFalse(decoded['has_mask'])
    self.assertAllEqual(decoded['label'], np.full((7, 9, 1), 255, np.uint8))
    self.assertFalse(decoded['has_class_labels'])

  def test_shard_naming_and_round_robin(self):
    out = self.get_temp_dir()
    with record_format.ShardedWriter(out, 'train', 3) as writer:
      for i in range(5):
        writer.write(self._example('img_%d' % i))
    self.assertEqual(writer.count, 5)
    names = [os.path.basename(p)
             for p in record_format.list_shards(out, 'train')]
    self.assertEqual(names, ['train-%05d-of-00003.tfrecord' % i
                             for i in range(3)])
    counts = [sum(1 for _ in tf.data.TFRecordDataset(
        os.path.join(out, n))) for n in names]
    self.assertEqual(counts, [2, 2, 1])
    self.assertEqual(sorted(os.listdir(out)), names)  # No temporary files.

  def test_replaces_old_shards(self):
    out = self.get_temp_dir()
    with record_format.ShardedWriter(out, 'train', 4) as writer:
      for i in range(4):
        writer.write(self._example('old_%d' % i))
    with record_format.ShardedWriter(out, 'train', 2) as writer:
      writer.write(self._example('new_0'))
      writer.write(self._example('new_1'))
    self.assertLen(record_format.list_shards(out, 'train'), 2)
    names = sorted(d['filename'].numpy() for d in _read_all(out, 'train'))
    self.assertEqual(names, [b'new_0', b'new_1'])

  def test_failure_keeps_old_shards(self):
    out = self.get_temp_dir()
    with record_format.ShardedWriter(out, 'train', 2) as writer:
      writer.write(self._example('old_0'))
      writer.write(self._example('old_1'))
    before = _snapshot(out)
    with self.assertRaisesRegex(RuntimeError, 'boom'):
      with record_format.ShardedWriter(out, 'train', 3) as writer:
        writer.write(self._example('new_0'))
        raise RuntimeError('boom')
    self.assertEqual(_snapshot(out), before)

  def test_empty_split_raises_and_writes_nothing(self):
    out = os.path.join(self.get_temp_dir(), 'empty')
    with self.assertRaisesRegex(ValueError, 'empty'):
      with record_format.ShardedWriter(out, 'train', 2):
        pass
    self.assertEqual(os.listdir(out), [])
    with self.assertRaises(FileNotFoundError):
      record_format.list_shards(out, 'train')


if __name__ == '__main__':
  tf.test.main()
