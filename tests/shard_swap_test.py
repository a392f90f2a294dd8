"""A conversion killed at any point leaves the old split or the new one.

The kills are real: a converter in a subprocess SIGKILLs itself at a chosen
point (mid-write, or before the k-th file move of the shard swap); the next
conversion into the directory cleans up and finishes.
"""

import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image
import tensorflow as tf

from datasets import build_folder_data as folder
from datasets import descriptors
from datasets import record_format
from datasets import shard_swap
from tests.testing_utils import read_split
from tests.testing_utils import write_jpeg

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
H, W = 8, 10

# Converts argv[1]/images + argv[1]/masks into argv[2], SIGKILLing itself at the
# argv[4]-th call of argv[3] ('move': shard_swap._move into the record directory;
# 'write': a record write).
_KILLER = r'''
import os, signal, sys
from datasets import build_folder_data as folder
from datasets import record_format, shard_swap
root, out, where, k = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
calls = [0]
def killing(real):
  def wrapped(*args):
    if where == 'move' and '.staging-' in args[1]:
      return real(*args)  # The staged split's own swap: not counted.
    calls[0] += 1
    if calls[0] == k:
      os.kill(os.getpid(), signal.SIGKILL)
    return real(*args)
  return wrapped
if where == 'move':
  shard_swap._move = killing(shard_swap._move)
else:
  record_format.ShardedWriter.write = killing(record_format.ShardedWriter.write)
folder.convert_folder(os.path.join(root, 'images'), os.path.join(root, 'masks'),
                      out, folder.make_descriptor('x', 3), val_fraction=0.0,
                      num_shards=2)
'''


def _make_folder(root, stems, seed):
  rng = np.random.RandomState(seed)
  for stem in stems:
    write_jpeg(os.path.join(root, 'images', stem + '.jpg'), H, W,
               seed=seed * 100 + len(stem))
    os.makedirs(os.path.join(root, 'masks'), exist_ok=True)
    Image.fromarray(rng.randint(0, 3, (H, W)).astype(np.uint8), mode='L').save(
        os.path.join(root, 'masks', stem + '.png'))


class ShardSwapTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    self.old_root = os.path.join(self.dir, 'old')
    self.new_root = os.path.join(self.dir, 'new')
    self.old_ids = ['a%d' % i for i in range(4)]
    self.new_ids = ['b%d' % i for i in range(6)]
    _make_folder(self.old_root, self.old_ids, seed=1)
    _make_folder(self.new_root, self.new_ids, seed=2)
    self.out = os.path.join(self.dir, 'records')

  def _convert(self, root):
    return folder.convert_folder(
        os.path.join(root, 'images'), os.path.join(root, 'masks'), self.out,
        folder.make_descriptor('x', 3), val_fraction=0.0, num_shards=2)

  def _killed_convert(self, root, where, k):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', PYTHONPATH=_REPO)
    proc = subprocess.run(
        [sys.executable, '-c', _KILLER, root, self.out, where, str(k)],
        cwd=_REPO, env=env, capture_output=True, text=True, timeout=300)
    self.assertEqual(proc.returncode, -9, proc.stderr[-2000:])

  def _hidden(self):
    return sorted(n for n in os.listdir(self.out) if n.startswith('.'))

  def test_leftovers_are_removed_and_logged(self):
    self._convert(self.old_root)
    os.makedirs(os.path.join(self.out, '.staging-abc123'))
    with open(os.path.join(self.out, '.staging-abc123', 'train-00000-of-00001'
                           '.tfrecord'), 'wb') as f:
      f.write(b'half')
    with open(os.path.join(self.out, '.tmp-train-00000-of-00002.tfrecord'),
              'wb') as f:
      f.write(b'half')
    with self.assertLogs('absl', level='INFO') as logs:
      self._convert(self.new_root)
    self.assertEqual(self._hidden(), [])
    self.assertTrue(any('.staging-abc123' in line and 'interrupted' in line
                        for line in logs.output), logs.output)
    self.assertCountEqual(read_split(self.out, 'train'), self.new_ids)

  def test_a_conversion_killed_while_writing_leaves_the_old_split(self):
    self._convert(self.old_root)
    self._killed_convert(self.new_root, 'write', 4)
    self.assertNotEqual(self._hidden(), [])  # Its staging folder.
    self.assertCountEqual(read_split(self.out, 'train'), self.old_ids)
    self._convert(self.new_root)
    self.assertEqual(self._hidden(), [])
    self.assertCountEqual(read_split(self.out, 'train'), self.new_ids)

  def test_a_conversion_killed_in_the_swap_is_finished_by_the_next(self):
    # Moves into the record directory: 1 the journal, 2-3 the old shards aside,
    # 4 the journal marked, 5-6 the new shards in (the same names as the old:
    # a mix would pass unseen), 7 dataset_info.json. Killed before move k.
    for k in (3, 5, 6, 7):
      if os.path.exists(self.out):
        tf.io.gfile.rmtree(self.out)
      self._convert(self.old_root)
      self._killed_convert(self.new_root, 'move', k)
      self.assertIn(shard_swap.JOURNAL, self._hidden())
      with self.assertRaisesRegex(ValueError, 'records.*interrupted.*[Rr]erun'):
        record_format.list_shards(self.out, 'train')
      with self.assertLogs('absl', level='INFO') as logs:
        shard_swap.recover(self.out)
      self.assertTrue(any('Finished the shard swap' in line
                          for line in logs.output), logs.output)
      self.assertEqual(self._hidden(), [], k)
      records = read_split(self.out, 'train')
      self.assertCountEqual(records, self.new_ids, k)
      self.assertEqual(descriptors.load_info(self.out).splits_to_sizes,
                       {'train': len(self.new_ids)}, k)

  def test_a_sharded_writer_killed_in_the_swap_is_refused_then_finished(self):
    with record_format.ShardedWriter(self.out, 'train', 2) as writer:
      for i in range(4):
        writer.write(record_format.make_example(b'x', 'old%d' % i, 1, 1))
    real_move = shard_swap._move
    moves = []

    def dying_move(src, dst):
      moves.append(dst)
      if len(moves) == 6:  # Old shards aside, one new one in, one to go.
        raise SystemExit('killed')
      real_move(src, dst)

    shard_swap._move = dying_move
    try:
      with self.assertRaises(SystemExit):
        with record_format.ShardedWriter(self.out, 'train', 2) as writer:
          for i in range(4):
            writer.write(record_format.make_example(b'x', 'new%d' % i, 1, 1))
    finally:
      shard_swap._move = real_move
    with self.assertRaisesRegex(ValueError, 'interrupted'):
      record_format.list_shards(self.out, 'train')
    shard_swap.recover(self.out)
    names = [tf.train.Example.FromString(r.numpy()).features.feature[
        record_format.IMAGE_FILENAME].bytes_list.value[0] for r in
             tf.data.TFRecordDataset(record_format.list_shards(self.out,
                                                               'train'))]
    self.assertCountEqual(names, [b'new%d' % i for i in range(4)])
    self.assertEqual(self._hidden(), [])


if __name__ == '__main__':
  tf.test.main()
