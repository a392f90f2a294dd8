"""The records of a training run's streams, checked before anything is built.

A stream's records are filtered by its id list, so without these checks an id
that is not in the records (a typo, another split) would be dropped without a
word, a labeled record without a mask would train on no pixel, and a damaged
shard would stop the loop with the reader's message, which names no file. One
scan of a split (`input_pipeline.scan_records`: ids and mask bytes only) serves
all three checks.
"""

import contextlib

import tensorflow as tf

from datasets import input_pipeline
from datasets import record_format
from datasets import splits

_SHOWN = 5  # Ids named in a message.


def _first(ids, sort=False):
  ids = sorted(ids) if sort else list(ids)
  return ', '.join(ids[:_SHOWN]) + (', ...' if len(ids) > _SHOWN else '')


def stream_records(record_dir, split, ids_flag, ids_path, masks_needed=''):
  """(shard files, ids or None) of one training stream, checked.

  Args:
    record_dir: the records.
    split: the stream's split.
    ids_flag: the flag of its id list ('labeled_ids'), for the messages.
    ids_path: the id list; '' takes every record of the split.
    masks_needed: '' if the stream reads no mask, else what needs them (the
      start of the message refusing records without one); then each record of
      the stream must carry its mask.

  Raises:
    ValueError: an id of the list is not in the split, a record needs a mask
      it does not have, or a shard is damaged
      (input_pipeline.DamagedShardError); the message names the list, the
      split and the first few ids.
  """
  files = record_format.list_shards(record_dir, split)
  ids = splits.read_id_list(ids_path) if ids_path else None
  if ids is None and not masks_needed:
    return files, None
  found = input_pipeline.scan_records(files)
  where = 'split %r in %s' % (split, record_dir)
  if ids is not None:
    missing = [i for i in ids if i not in found]
    if missing:
      raise ValueError(
          '--%s=%s: %d of its %d ids are not in %s (%s); check the list and '
          'the split.' % (ids_flag, ids_path, len(missing), len(ids), where,
                          _first(missing)))
  if masks_needed:
    bare = [i for i in (found if ids is None else ids) if not found[i]]
    if bare:
      if ids is None:
        what = '%d record(s) of %s have none' % (len(bare), where)
      else:
        what = '%d of the %d ids of --%s=%s are records of %s without one' % (
            len(bare), len(ids), ids_flag, ids_path, where)
      raise ValueError('%s: %s (%s).' % (masks_needed, what,
                                         _first(bare, sort=ids is None)))
  return files, ids


@contextlib.contextmanager
def naming_damaged_shards(files, model_dir):
  """Turns a reader's DataLossError inside into an error naming the shard.

  The reader's message ("truncated record at 29015") names no file; on such an
  error the shards of `files` are read one by one to find the damaged one.
  Nothing is saved after the error, so the run's last checkpoint stays as it
  was.

  Args:
    files: the shard files the block reads.
    model_dir: the run (for the message), or ''.

  Raises:
    input_pipeline.DamagedShardError: naming the damaged shard.
  """
  try:
    yield
  except tf.errors.DataLossError as e:
    damaged = input_pipeline.find_damaged_shard(files)
    if damaged is None:
      raise
    kept = tf.train.latest_checkpoint(model_dir) if model_dir else None
    raise input_pipeline.DamagedShardError(
        '%s The run stopped; its last checkpoint (%s) is kept.' %
        (damaged, kept or 'none yet')) from e
