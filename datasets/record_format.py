"""The TFRecord format: one source of truth for writers and readers.

Each record is a `tf.train.Example` with DeepLab's feature keys, so DeepLab's own
reader and Model Garden's `official.vision.dataloaders.segmentation_input.Decoder`
read what we write, and we read what they write:

  image/encoded                     bytes   JPEG or PNG of the RGB image
  image/filename                    bytes   image id (VOC id, COCO file stem, ...)
  image/format                      bytes   'jpeg' or 'png'
  image/height                      int64
  image/width                       int64
  image/channels                    int64   3
  image/segmentation/class/encoded  bytes   single-channel PNG of class ids; 255 = ignore
  image/segmentation/class/format   bytes   'png'

PseudoSeg also needs image-level labels. We add one optional key:

  image/class/label                 int64[] ids of foreground classes present in the
                                            image (never background). Written by our
                                            converters; derived from the mask when absent.

Records may omit the mask (weakly-labeled data carrying only image labels): the reader
then returns an all-ignore label map and `has_mask = False`.

Shards are named `SPLIT-%05d-of-%05d.tfrecord`.
"""

import os
import re

import numpy as np
import tensorflow as tf

from datasets import shard_swap

IMAGE_ENCODED = 'image/encoded'
IMAGE_FILENAME = 'image/filename'
IMAGE_FORMAT = 'image/format'
IMAGE_HEIGHT = 'image/height'
IMAGE_WIDTH = 'image/width'
IMAGE_CHANNELS = 'image/channels'
LABEL_ENCODED = 'image/segmentation/class/encoded'
LABEL_FORMAT = 'image/segmentation/class/format'
CLASS_LABELS = 'image/class/label'

IGNORE_LABEL = 255
SHARD_PATTERN = '%s-%05d-of-%05d.tfrecord'


def shard_filename(output_dir, split, shard_id, num_shards):
  """Returns the path of one shard, `output_dir/SPLIT-NNNNN-of-NNNNN.tfrecord`."""
  return os.path.join(output_dir, SHARD_PATTERN % (split, shard_id, num_shards))


def split_file_pattern(record_dir, split):
  """Returns the glob pattern matching every shard of `split` in `record_dir`."""
  return os.path.join(record_dir, '%s-*-of-*.tfrecord' % split)


def list_shards(record_dir, split):
  """Returns the sorted shard paths of `split`.

  Raises:
    FileNotFoundError: the split has no shard.
    ValueError: a conversion was killed while swapping the split's shards in.
  """
  pending = shard_swap.pending_splits(record_dir)
  if pending is not None and split in pending:
    raise ValueError(
        'Split %r in %s is incomplete: a conversion was interrupted while '
        'replacing its shards. Rerun the converter into %s (it finishes the '
        'swap) before reading it.' % (split, record_dir, record_dir))
  files = sorted(tf.io.gfile.glob(split_file_pattern(record_dir, split)))
  if not files:
    raise FileNotFoundError(
        'No TFRecord shards for split %r in %s (expected %s).' %
        (split, record_dir, split_file_pattern(record_dir, split)))
  return files


def op_error_text(error):
  """The first line of a TF op error's message, without TF's op wrapping."""
  text = re.sub(r'\{\{[^}]*\}\}|\[Op:[^\]]*\]', '', error.message or str(error))
  lines = text.strip().splitlines()
  return lines[0].strip() if lines else type(error).__name__


def check_shard_framing(path):
  """Raises `ValueError` naming `path` unless its records end where the file does.

  A TFRecord is an 8-byte length, a 4-byte CRC of it, the data and a 4-byte CRC
  of the data. TensorFlow's reader stops silently when a file ends inside the
  first 12 bytes of a record, so a shard cut there would read as a shorter,
  intact one; walking the length fields (no data is read) catches it.
  """
  size = tf.io.gfile.stat(path).length
  offset = 0
  with tf.io.gfile.GFile(path, 'rb') as f:
    while offset < size:
      header = f.read(12)
      if len(header) < 12:
        break
      offset += 16 + int.from_bytes(header[:8], 'little')
      if offset > size:
        break
      f.seek(offset)
  if offset != size:
    raise ValueError('Shard %s is truncated or damaged: its last record does '
                     'not end at the end of the file (%d bytes); rerun the '
                     'converter.' % (path, size))


def _bytes(values):
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def _int64(values):
  return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def _as_bytes(value):
  return value.encode('utf-8') if isinstance(value, str) else value


def class_labels_from_mask(mask, num_classes, ignore_label=IGNORE_LABEL):
  """Returns the sorted foreground class ids present in a mask.

  Args:
    mask: [height, width] integer numpy array of class ids.
    num_classes: classes including background (id 0).
    ignore_label: value to skip.

  Returns:
    A list of ints in [1, num_classes).
  """
  ids = np.unique(np.asarray(mask))
  return [int(i) for i in ids if i != ignore_label and 0 < i < num_classes]


def make_example(image_data, filename, height, width, label_data=None,
                 image_format='jpeg', class_labels=None):
  """Builds one record.

  Args:
    image_data: encoded image bytes (JPEG or PNG).
    filename: image id, str or bytes.
    height: image height in pixels.
    width: image width in pixels.
    label_data: encoded single-channel PNG of class ids, or None for image-only records.
    image_format: 'jpeg' or 'png'.
    class_labels: optional iterable of foreground class ids present in the image.

  Returns:
    A `tf.train.Example`.
  """
  feature = {
      IMAGE_ENCODED: _bytes([image_data]),
      IMAGE_FILENAME: _bytes([_as_bytes(filename)]),
      IMAGE_FORMAT: _bytes([_as_bytes(image_format)]),
      IMAGE_HEIGHT: _int64([int(height)]),
      IMAGE_WIDTH: _int64([int(width)]),
      IMAGE_CHANNELS: _int64([3]),
  }
  if label_data is not None:
    feature[LABEL_ENCODED] = _bytes([label_data])
    feature[LABEL_FORMAT] = _bytes([b'png'])
  if class_labels is not None:
    feature[CLASS_LABELS] = _int64([int(c) for c in class_labels])
  return tf.train.Example(features=tf.train.Features(feature=feature))


_FEATURES = {
    IMAGE_ENCODED: tf.io.FixedLenFeature((), tf.string),
    IMAGE_FILENAME: tf.io.FixedLenFeature((), tf.string, default_value=''),
    IMAGE_HEIGHT: tf.io.FixedLenFeature((), tf.int64, default_value=0),
    IMAGE_WIDTH: tf.io.FixedLenFeature((), tf.int64, default_value=0),
    LABEL_ENCODED: tf.io.FixedLenFeature((), tf.string, default_value=''),
    CLASS_LABELS: tf.io.VarLenFeature(tf.int64),
}


def decode_example(serialized):
  """Decodes one serialized record (ours, DeepLab's or Model Garden's).

  Args:
    serialized: scalar string tensor.

  Returns:
    A dict with
      'image': [height, width, 3] uint8,
      'label': [height, width, 1] uint8, all IGNORE_LABEL when the record has no mask,
      'has_mask': bool scalar,
      'filename': string scalar,
      'class_ids': [n] int64 foreground class ids given in the record (may be empty),
      'has_class_labels': bool scalar, whether the record carries image-level labels.
  """
  parsed = tf.io.parse_single_example(serialized, _FEATURES)
  image = tf.io.decode_image(parsed[IMAGE_ENCODED], channels=3,
                             expand_animations=False)
  image.set_shape([None, None, 3])
  has_mask = tf.strings.length(parsed[LABEL_ENCODED]) > 0
  shape = tf.shape(image)[:2]
  label = tf.cond(
      has_mask,
      lambda: tf.io.decode_png(parsed[LABEL_ENCODED], channels=1),
      lambda: tf.fill(tf.concat([shape, [1]], 0), tf.constant(IGNORE_LABEL,
                                                               tf.uint8)))
  label.set_shape([None, None, 1])
  class_ids = tf.sparse.to_dense(parsed[CLASS_LABELS])
  return {
      'image': image,
      'label': label,
      'has_mask': has_mask,
      'filename': parsed[IMAGE_FILENAME],
      'class_ids': class_ids,
      'has_class_labels': tf.size(class_ids) > 0,
  }


class ShardedWriter(object):
  """Writes one split's shards atomically.

  Records go to hidden temporary files; leaving the `with` block swaps them in for
  the split's old shards only after every record was written, crash-safe
  (`shard_swap`): a failure (a bad image, a killed process) leaves the old shards
  or the new ones, never half a split.

  Use as a context manager:

    with ShardedWriter(out_dir, 'train', num_shards=4) as writer:
      for example in examples:
        writer.write(example)
  """

  def __init__(self, output_dir, split, num_shards):
    if num_shards < 1:
      raise ValueError('num_shards must be >= 1, got %d' % num_shards)
    self._output_dir = output_dir
    self._split = split
    self._num_shards = num_shards
    self._count = 0
    self._writers = None
    self._tmp_paths = []

  def __enter__(self):
    tf.io.gfile.makedirs(self._output_dir)
    self._tmp_paths = [
        os.path.join(self._output_dir,
                     '.tmp-' + os.path.basename(
                         shard_filename('', self._split, i, self._num_shards)))
        for i in range(self._num_shards)]
    self._writers = [tf.io.TFRecordWriter(p) for p in self._tmp_paths]
    return self

  def write(self, example):
    """Writes a `tf.train.Example` to the next shard, round robin."""
    self._writers[self._count % self._num_shards].write(
        example.SerializeToString())
    self._count += 1

  @property
  def count(self):
    return self._count

  def __exit__(self, exc_type, exc, tb):
    for w in self._writers:
      w.close()
    if exc_type is not None or self._count == 0:
      for p in self._tmp_paths:
        tf.io.gfile.remove(p)
      if exc_type is None:
        raise ValueError('Split %r is empty: no record written to %s.' %
                         (self._split, self._output_dir))
      return False
    old = [os.path.basename(p) for p in tf.io.gfile.glob(
        split_file_pattern(self._output_dir, self._split))]
    new = {p: os.path.basename(shard_filename('', self._split, i,
                                              self._num_shards))
           for i, p in enumerate(self._tmp_paths)}
    shard_swap.replace_files(self._output_dir, new, old, [self._split])
    return False
