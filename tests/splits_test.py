"""Tests for datasets/splits.py and the create_splits.py script."""

import os
import subprocess
import sys
import tempfile

import tensorflow as tf

from datasets import record_format
from datasets import splits

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class SplitsTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = tempfile.mkdtemp(dir=self.get_temp_dir())

  def _write(self, name, text):
    path = os.path.join(self.dir, name)
    with open(path, 'w') as f:
      f.write(text)
    return path

  def test_reads_one_id_per_line(self):
    path = self._write('ids.txt', '2007_000032\n\n# comment\n2007_000039  \n')
    self.assertEqual(splits.read_id_list(path), ['2007_000032', '2007_000039'])

  def test_reads_path_pairs(self):
    path = self._write(
        'pairs.txt',
        'JPEGImages/2007_000032.jpg SegmentationClass/2007_000032.png\n'
        'JPEGImages/2007_000039.jpg SegmentationClass/2007_000039.png\n')
    self.assertEqual(splits.read_id_list(path), ['2007_000032', '2007_000039'])
    self.assertEqual(splits.parse_id_line('img.v2'), 'img.v2')
    self.assertEqual(splits.parse_id_line('a/b/c.JPG'), 'c')

  def test_a_line_is_one_id_unless_it_is_a_path_pair(self):
    self.assertEqual(splits.parse_id_line('  a b \u00fc \n'), 'a b \u00fc')
    self.assertEqual(splits.parse_id_line('a\tb'), 'a\tb')
    self.assertEqual(splits.parse_id_line('a b.png'), 'a b.png')
    self.assertEqual(splits.parse_id_line('x.jpg y.png z.png'),
                     'x.jpg y.png z.png')
    self.assertEqual(splits.parse_id_line('img/x.jpg mask/x.png'), 'x')
    self.assertEqual(splits.parse_id_line('x.JPEG y.png'), 'x')
    self.assertEqual(splits.parse_id_line('x.jpg notes'), 'x.jpg notes')

  def test_id_problem(self):
    for good in ('a b \u00fc', 'a', '2007_000032', 'img.v2', 'a\tb', 'a b.png'):
      self.assertIsNone(splits.id_problem(good), good)
    for bad in ('', ' a', 'a ', 'a\nb', 'a\rb', '#a', 'x.jpg', 'd/x',
                'x.jpg y.png', '\u00a0a'):
      self.assertIsNotNone(splits.id_problem(bad), repr(bad))
    with self.assertRaisesRegex(ValueError, "' a'.*out.txt.*whitespace"):
      splits.write_id_list(os.path.join(self.dir, 'out.txt'), ['b', ' a'])
    self.assertFalse(os.path.exists(os.path.join(self.dir, 'out.txt')))

  def test_ids_with_spaces_and_non_ascii_round_trip(self):
    ids = ['a b \u00fc', 'a b', 'a', '\u65e5\u672c \u8a9e', 'x.y', 'tab\tin',
           'a b.png']
    path = os.path.join(self.dir, 'ids.txt')
    splits.write_id_list(path, ids)
    self.assertEqual(splits.read_id_list(path), ids)
    with open(path, 'rb') as f:
      self.assertEqual(f.read().decode('utf-8'), ''.join(i + '\n' for i in ids))

  def test_lists_are_utf8_whatever_the_locale(self):
    source = ('import sys; from datasets import splits; '
              'splits.write_id_list(sys.argv[1], ["\\u00fc b"]); '
              'print(ascii(splits.read_id_list(sys.argv[1])))')
    path = os.path.join(self.dir, 'c_locale.txt')
    env = dict(os.environ, LC_ALL='C', LANG='C', PYTHONUTF8='0',
               PYTHONCOERCECLOCALE='0', TF_CPP_MIN_LOG_LEVEL='2',
               PYTHONPATH=_REPO)
    proc = subprocess.run([sys.executable, '-c', source, path], cwd=_REPO,
                          env=env, capture_output=True, text=True, timeout=120)
    self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
    self.assertIn(ascii(['\u00fc b']), proc.stdout)
    with open(path, 'rb') as f:
      self.assertEqual(f.read(), '\u00fc b\n'.encode('utf-8'))

  def test_a_non_utf8_byte_names_the_file_and_line(self):
    path = os.path.join(self.dir, 'latin1.txt')
    with open(path, 'wb') as f:
      f.write(b'ok\nna\xefve\n')
    with self.assertRaisesRegex(ValueError, 'latin1.txt.*line 2.*UTF-8'):
      splits.read_id_list(path)
    with open(path, 'wb') as f:  # A byte-order mark is not part of the id.
      f.write(b'\xef\xbb\xbfok\n')
    self.assertEqual(splits.read_id_list(path), ['ok'])

  def test_errors(self):
    with self.assertRaisesRegex(FileNotFoundError, 'nope.txt'):
      splits.read_id_list(os.path.join(self.dir, 'nope.txt'))
    with self.assertRaisesRegex(ValueError, 'empty'):
      splits.read_id_list(self._write('empty.txt', '\n# nothing\n'))
    with self.assertRaisesRegex(ValueError, 'line 3 already on line 1'):
      splits.read_id_list(self._write('dup.txt', 'a\nb\na\n'))

  def test_write_round_trip(self):
    path = os.path.join(self.dir, 'sub', 'out.txt')
    splits.write_id_list(path, ['x', 'y'])
    splits.write_id_list(path, ['z', 'x', 'y'])
    self.assertEqual(splits.read_id_list(path), ['z', 'x', 'y'])
    self.assertEqual(os.listdir(os.path.dirname(path)), ['out.txt'])

  def test_partition(self):
    ids = ['id%02d' % i for i in range(20)]
    labeled, unlabeled = splits.partition(ids, num_labeled=5, seed=3)
    self.assertLen(labeled, 5)
    self.assertCountEqual(labeled + unlabeled, ids)
    self.assertEqual(labeled, sorted(labeled))
    # Deterministic, independent of input order; another seed differs.
    self.assertEqual(splits.partition(ids[::-1], num_labeled=5, seed=3),
                     (labeled, unlabeled))
    self.assertNotEqual(splits.partition(ids, num_labeled=5, seed=4)[0],
                        labeled)
    self.assertLen(splits.partition(ids, fraction=0.25)[0], 5)
    self.assertLen(splits.partition(ids, fraction=0.001)[0], 1)
    self.assertLen(splits.partition(ids, fraction=0.0)[0], 0)
    with self.assertRaises(ValueError):
      splits.partition(ids, num_labeled=21)
    with self.assertRaises(ValueError):
      splits.partition(ids, num_labeled=2, fraction=0.5)
    with self.assertRaises(ValueError):
      splits.partition(ids + ['id00'], num_labeled=2)

  def _records(self, names, unmasked=()):
    """A 'train' split of `names`: those in `unmasked` without a mask."""
    record_dir = os.path.join(self.dir, 'records')
    with record_format.ShardedWriter(record_dir, 'train', 2) as writer:
      for name in names:
        writer.write(record_format.make_example(
            b'x', name, 1, 1,
            label_data=None if name in unmasked else b'png'))
    return record_dir

  def test_a_truncated_shard_is_named(self):
    record_dir = self._records(['r%d' % i for i in range(6)])
    shard = record_format.list_shards(record_dir, 'train')[1]
    with open(shard, 'rb') as f:
      data = f.read()
    with open(shard, 'wb') as f:
      f.write(data[:len(data) - 7])
    with self.assertRaisesRegex(ValueError, '%s.*truncated' % shard):
      splits.ids_from_records(record_dir, 'train')
    # Cut inside a record's 12-byte header: TF's reader would stop silently.
    with open(shard, 'wb') as f:
      f.write(data[:len(data) // 3 + 5])
    with self.assertRaisesRegex(ValueError, '%s.*truncated' % shard):
      splits.ids_from_records(record_dir, 'train')

  def test_only_masked_ids_are_drawn_as_labeled(self):
    ids = ['r%d' % i for i in range(10)]
    has_mask = [i % 3 != 0 for i in range(10)]  # r0, r3, r6, r9 have none.
    masked = [i for i, m in zip(ids, has_mask) if m]
    for seed in range(5):
      labeled, unlabeled = splits.partition_masked(ids, has_mask,
                                                   num_labeled=6, seed=seed)
      self.assertCountEqual(labeled, masked)
      self.assertEqual(unlabeled, ['r0', 'r3', 'r6', 'r9'])
      labeled, unlabeled = splits.partition_masked(ids, has_mask,
                                                   fraction=0.3, seed=seed)
      self.assertLen(labeled, 3)
      self.assertContainsSubset(labeled, masked)
      self.assertCountEqual(labeled + unlabeled, ids)
      self.assertEqual(unlabeled, sorted(unlabeled))
    with self.assertRaisesRegex(ValueError, '7 labeled.*6 of the 10.*mask'):
      splits.partition_masked(ids, has_mask, num_labeled=7)
    # All masked: the same draw as `partition`.
    self.assertEqual(splits.partition_masked(ids, [True] * 10, num_labeled=4,
                                             seed=1),
                     splits.partition(ids, num_labeled=4, seed=1))

  def test_ids_from_records(self):
    names = ['r%d' % i for i in range(5)]
    record_dir = self._records(names)
    self.assertCountEqual(splits.ids_from_records(record_dir, 'train'), names)
    with self.assertRaises(FileNotFoundError):
      splits.ids_from_records(record_dir, 'val')

  def test_create_splits_script(self):
    names = ['r%d' % i for i in range(10)]
    record_dir = self._records(names)
    out = os.path.join(self.dir, 'lists')
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
    proc = subprocess.run(
        [sys.executable, 'datasets/create_splits.py',
         '--record_dir=' + record_dir, '--split=train', '--num_labeled=3',
         '--seed=2', '--output_dir=' + out],
        cwd=_REPO, env=env, capture_output=True, text=True, timeout=120)
    self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
    labeled = splits.read_id_list(os.path.join(out, 'labeled_3_seed2.txt'))
    unlabeled = splits.read_id_list(os.path.join(out, 'unlabeled_3_seed2.txt'))
    self.assertEqual((labeled, unlabeled),
                     splits.partition(names, num_labeled=3, seed=2))

  def test_create_splits_script_keeps_maskless_ids_unlabeled(self):
    names = ['r%d' % i for i in range(10)]
    record_dir = self._records(names, unmasked=('r1', 'r2', 'r5'))
    out = os.path.join(self.dir, 'lists')
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
    proc = subprocess.run(
        [sys.executable, 'datasets/create_splits.py',
         '--record_dir=' + record_dir, '--num_labeled=7', '--output_dir=' + out],
        cwd=_REPO, env=env, capture_output=True, text=True, timeout=120)
    self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
    self.assertIn('3 of the 10 records of split train have no mask',
                  proc.stderr)
    labeled = splits.read_id_list(os.path.join(out, 'labeled_7_seed0.txt'))
    unlabeled = splits.read_id_list(os.path.join(out, 'unlabeled_7_seed0.txt'))
    self.assertCountEqual(labeled, set(names) - {'r1', 'r2', 'r5'})
    self.assertEqual(unlabeled, ['r1', 'r2', 'r5'])

  def test_create_splits_names_an_output_path_that_is_a_file(self):
    out = self._write('a_file', 'x')
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
    proc = subprocess.run(
        [sys.executable, 'datasets/create_splits.py',
         '--record_dir=' + os.path.join(self.dir, 'missing'), '--num_labeled=3',
         '--output_dir=' + out],
        cwd=_REPO, env=env, capture_output=True, text=True, timeout=120)
    self.assertEqual(proc.returncode, 1, proc.stderr[-2000:])
    self.assertRegex(proc.stderr, 'FATAL .*%s.*not a directory' % out)
    self.assertNotIn('Traceback', proc.stderr)


if __name__ == '__main__':
  tf.test.main()
