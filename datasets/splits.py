"""Image id lists: reading, writing and drawing labeled subsets.

Two list formats are in use and both are read:

  2007_000032                                      (one id a line: the official
                                                    PseudoSeg / DeepLab lists)
  JPEGImages/2007_000032.jpg SegmentationClass/2007_000032.png
                                                   (U2PL / UniMatch lists: the id
                                                    is the stem of the first path)

Blank lines and lines starting with '#' are skipped. We always write the first
format.
"""

import os
from typing import List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from datasets import file_io
from datasets import record_format

_IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def parse_id_line(line: str) -> Optional[str]:
  """Returns the image id on one list line, or None for a blank/comment line."""
  line = line.strip()
  if not line or line.startswith('#'):
    return None
  first = line.split()[0]
  stem, ext = os.path.splitext(os.path.basename(first))
  if '/' in first or ext.lower() in _IMAGE_EXTENSIONS:
    return stem
  return first


def read_id_list(path: str) -> List[str]:
  """Reads an id list in either format, keeping the file's order.

  Args:
    path: text file.

  Returns:
    The ids.

  Raises:
    FileNotFoundError: no such file.
    ValueError: the file holds no id, or an id occurs twice.
  """
  if not os.path.isfile(path):
    raise FileNotFoundError('Id list not found: %s' % path)
  ids, line_of = [], {}
  with open(path) as f:
    for n, line in enumerate(f, start=1):
      image_id = parse_id_line(line)
      if image_id is None:
        continue
      if image_id in line_of:
        raise ValueError('%s: id %r on line %d already on line %d.' %
                         (path, image_id, n, line_of[image_id]))
      line_of[image_id] = n
      ids.append(image_id)
  if not ids:
    raise ValueError('Id list %s is empty.' % path)
  return ids


def write_id_list(path: str, ids: Sequence[str]) -> None:
  """Writes one id a line, atomically (a temporary file renamed into place)."""
  file_io.write_text_atomic(path, ''.join('%s\n' % image_id for image_id in ids))


def partition(ids: Sequence[str],
              num_labeled: Optional[int] = None,
              fraction: Optional[float] = None,
              seed: int = 0) -> Tuple[List[str], List[str]]:
  """Draws a labeled subset; the rest is the unlabeled subset.

  The draw depends only on the set of ids and the seed, not on their order. Give
  exactly one of `num_labeled` and `fraction`; a positive fraction labels at least
  one image.

  Args:
    ids: distinct image ids.
    num_labeled: number of labeled ids, 0 <= num_labeled <= len(ids).
    fraction: share of labeled ids, in [0, 1].
    seed: random seed.

  Returns:
    (labeled, unlabeled), each sorted.
  """
  if (num_labeled is None) == (fraction is None):
    raise ValueError('Give exactly one of num_labeled and fraction.')
  pool = sorted(set(ids))
  if len(pool) != len(ids):
    raise ValueError('partition: ids are not distinct.')
  n = len(pool)
  if fraction is not None:
    if not 0.0 <= fraction <= 1.0:
      raise ValueError('fraction must be in [0, 1], got %r' % fraction)
    num_labeled = int(round(fraction * n))
    if fraction > 0:
      num_labeled = max(1, num_labeled)
  if not 0 <= num_labeled <= n:
    raise ValueError('num_labeled=%d not in [0, %d].' % (num_labeled, n))
  order = np.random.RandomState(seed).permutation(n)
  chosen = set(order[:num_labeled].tolist())
  labeled = [pool[i] for i in range(n) if i in chosen]
  unlabeled = [pool[i] for i in range(n) if i not in chosen]
  return labeled, unlabeled


def ids_from_records(record_dir: str, split: str) -> List[str]:
  """Returns the `image/filename` of every record of a split, in shard order."""
  spec = {record_format.IMAGE_FILENAME: tf.io.FixedLenFeature(
      (), tf.string, default_value='')}
  ids = []
  for path in record_format.list_shards(record_dir, split):
    for serialized in tf.data.TFRecordDataset(path):
      parsed = tf.io.parse_single_example(serialized, spec)
      ids.append(parsed[record_format.IMAGE_FILENAME].numpy().decode('utf-8'))
  if any(not i for i in ids):
    raise ValueError('Split %r in %s has records without image/filename.' %
                     (split, record_dir))
  return ids


def subset_filenames(num_labeled: int, seed: int) -> Tuple[str, str]:
  """Returns the labeled and unlabeled list names, e.g. 'labeled_92_seed0.txt'."""
  return ('labeled_%d_seed%d.txt' % (num_labeled, seed),
          'unlabeled_%d_seed%d.txt' % (num_labeled, seed))
