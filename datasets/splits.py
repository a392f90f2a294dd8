"""Image id lists: reading, writing and drawing labeled subsets.

Lists are UTF-8 text (a leading byte-order mark is skipped), one entry a line.
Blank lines and lines starting with '#' are skipped. Every other line, stripped
of the whitespace around it, is read as follows:

  2007_000032                         the whole line is the id (the official
  a b ü                               PseudoSeg / DeepLab lists; spaces and any
                                      other characters are part of the id)
  JPEGImages/2007_000032.jpg SegmentationClass/2007_000032.png
                                      U2PL / UniMatch lists: exactly two
                                      whitespace-separated tokens that both end
                                      in an image or mask extension (.jpg, .jpeg,
                                      .png, .bmp, .tif, .tiff, .webp, any case):
                                      the id is the file stem of the first
  JPEGImages/2007_000032.jpg          one token with a '/' or such an extension:
                                      the id is its file stem

We always write the first format. An id is writable when reading its line gives
it back (`id_problem` says why not): no line break in it, no whitespace around it,
not empty, not starting with '#', and not itself shaped like a path or a path pair
(e.g. 'x.jpg' would read back as 'x'). The converters refuse images whose id is
not writable, naming the file.
"""

import os
from typing import List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from datasets import file_io
from datasets import record_format

_PATH_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def _has_path_extension(token):
  return os.path.splitext(token)[1].lower() in _PATH_EXTENSIONS


def _stem(path):
  return os.path.splitext(os.path.basename(path))[0]


def parse_id_line(line: str) -> Optional[str]:
  """Returns the image id on one list line, or None for a blank/comment line."""
  line = line.strip()
  if not line or line.startswith('#'):
    return None
  tokens = line.split()
  if len(tokens) == 2 and all(_has_path_extension(t) for t in tokens):
    return _stem(tokens[0])
  if len(tokens) == 1 and ('/' in line or _has_path_extension(line)):
    return _stem(line)
  return line


def id_problem(image_id: str) -> Optional[str]:
  """Why `image_id` cannot be written to an id list, or None if it can."""
  if '\n' in image_id or '\r' in image_id:
    return 'it holds a line break'
  if parse_id_line(image_id) == image_id:
    return None
  if not image_id.strip():
    return 'it is empty or blank'
  if image_id != image_id.strip():
    return 'it starts or ends with whitespace'
  if image_id.startswith('#'):
    return "it starts with '#' (a comment line)"
  return ('it is shaped like a file path or a pair of paths, and would read '
          'back as %r' % parse_id_line(image_id))


def read_id_list(path: str) -> List[str]:
  """Reads an id list in either format, keeping the file's order.

  Args:
    path: UTF-8 text file.

  Returns:
    The ids.

  Raises:
    FileNotFoundError: no such file.
    ValueError: the file is not UTF-8 text, holds no id, or an id occurs twice.
  """
  if not os.path.isfile(path):
    raise FileNotFoundError('Id list not found: %s' % path)
  ids, line_of = [], {}
  # surrogateescape keeps a bad byte as a lone surrogate, so that the line that
  # holds it can be named.
  with open(path, encoding='utf-8-sig', errors='surrogateescape') as f:
    for n, line in enumerate(f, start=1):
      try:
        line.encode('utf-8')
      except UnicodeEncodeError as e:
        raise ValueError('%s: line %d is not UTF-8 text (byte 0x%02x at '
                         'column %d); id lists are UTF-8.' %
                         (path, n, ord(line[e.start]) - 0xdc00,
                          e.start + 1)) from None
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
  """Writes one id a line, UTF-8, atomically (a temporary file renamed into place).

  Raises:
    ValueError: an id that would not read back the same (see `id_problem`);
      nothing is written then.
  """
  for image_id in ids:
    problem = id_problem(image_id)
    if problem:
      raise ValueError('Cannot write id %r to %s: %s.' % (image_id, path,
                                                          problem))
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


def partition_masked(ids: Sequence[str],
                     has_mask: Sequence[bool],
                     num_labeled: Optional[int] = None,
                     fraction: Optional[float] = None,
                     seed: int = 0) -> Tuple[List[str], List[str]]:
  """Like `partition`, but only ids with a mask can be drawn as labeled.

  A labeled image is trained on its mask, so an image-only record must never be
  drawn; every mask-less id goes to the unlabeled subset. `fraction` is a share
  of all the ids. With every id masked this is exactly `partition`.

  Args:
    ids: distinct image ids.
    has_mask: for each id, whether its record holds a mask.
    num_labeled: number of labeled ids.
    fraction: share of labeled ids, in [0, 1].
    seed: random seed.

  Returns:
    (labeled, unlabeled), each sorted.

  Raises:
    ValueError: more labeled ids asked for than ids with a mask.
  """
  if len(has_mask) != len(ids):
    raise ValueError('partition_masked: %d ids but %d mask flags.' %
                     (len(ids), len(has_mask)))
  masked = [i for i, m in zip(ids, has_mask) if m]
  maskless = [i for i, m in zip(ids, has_mask) if not m]
  if fraction is not None and num_labeled is None:
    num_labeled = len(partition(ids, fraction=fraction, seed=seed)[0])
    fraction = None
  if num_labeled is not None and num_labeled > len(masked):
    raise ValueError('%d labeled images asked for, but only %d of the %d '
                     'images have a mask.' % (num_labeled, len(masked),
                                              len(ids)))
  labeled, unlabeled = partition(masked, num_labeled=num_labeled,
                                 fraction=fraction, seed=seed)
  return labeled, sorted(unlabeled + maskless)


def records_ids_and_masks(record_dir: str,
                          split: str) -> Tuple[List[str], List[bool]]:
  """Returns the `image/filename` of every record of a split, in shard order,
  and whether each record holds a mask.

  Raises:
    FileNotFoundError: the split has no shard.
    ValueError: a damaged shard (named), or a record without image/filename.
  """
  spec = {
      record_format.IMAGE_FILENAME: tf.io.FixedLenFeature(
          (), tf.string, default_value=''),
      record_format.LABEL_ENCODED: tf.io.FixedLenFeature(
          (), tf.string, default_value=''),
  }
  ids, has_mask = [], []
  for path in record_format.list_shards(record_dir, split):
    record_format.check_shard_framing(path)
    try:
      for serialized in tf.data.TFRecordDataset(path):
        parsed = tf.io.parse_single_example(serialized, spec)
        ids.append(
            parsed[record_format.IMAGE_FILENAME].numpy().decode('utf-8'))
        has_mask.append(
            bool(parsed[record_format.LABEL_ENCODED].numpy()))
    except tf.errors.OpError as e:
      raise ValueError('Cannot read shard %s: %s (a damaged or truncated '
                       'file; rerun the converter).' %
                       (path, record_format.op_error_text(e))) from e
  if any(not i for i in ids):
    raise ValueError('Split %r in %s has records without image/filename.' %
                     (split, record_dir))
  return ids, has_mask


def ids_from_records(record_dir: str, split: str) -> List[str]:
  """Returns the `image/filename` of every record of a split, in shard order."""
  return records_ids_and_masks(record_dir, split)[0]


def subset_filenames(num_labeled: int, seed: int) -> Tuple[str, str]:
  """Returns the labeled and unlabeled list names, e.g. 'labeled_92_seed0.txt'."""
  return ('labeled_%d_seed%d.txt' % (num_labeled, seed),
          'unlabeled_%d_seed%d.txt' % (num_labeled, seed))
