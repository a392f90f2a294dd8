"""Tests for cli/record_checks.py: a damaged shard or a wrong id list is named.

The unit tests write small splits in temp dirs; the binary tests run train_sup.py
and train_wss.py on a copy of the session's tiny records (conftest.py) with one
shard cut short, as a copy interrupted mid-file leaves it.
"""

import os
import re
import shutil

import pytest
import tensorflow as tf

from cli import record_checks
from datasets import input_pipeline
from datasets import record_format


def _truncate(path, num_bytes=20):
  with open(path, 'rb') as f:
    data = f.read()
  with open(path, 'wb') as f:
    f.write(data[:-num_bytes])


def _write_split(record_dir, split, names, num_shards=2):
  png = tf.io.encode_png(tf.zeros([4, 4, 1], tf.uint8)).numpy()
  with record_format.ShardedWriter(record_dir, split, num_shards) as writer:
    for name in names:
      writer.write(record_format.make_example(png, name, 4, 4, label_data=png,
                                              image_format='png'))
  return record_format.list_shards(record_dir, split)


def _fatal_lines(proc):
  return [line for line in proc.stdout.splitlines() if 'FATAL' in line]


class TestDamagedShards:

  @pytest.fixture
  def split(self, tmp_path):
    """(record_dir, files, the damaged shard) of a split with one shard cut."""
    record_dir = str(tmp_path / 'records')
    files = _write_split(record_dir, 'train', ['img_%d' % i for i in range(6)])
    _truncate(files[1])
    return record_dir, files, files[1]

  def test_the_scan_names_the_shard(self, split):
    record_dir, files, damaged = split
    pattern = (re.escape(damaged) +
               r' is damaged \(truncated record at \d+\): convert its split '
               r'again, or remove the shard\.$')
    with pytest.raises(input_pipeline.DamagedShardError, match=pattern):
      input_pipeline.scan_records(files)
    assert re.match(pattern, str(input_pipeline.find_damaged_shard(files)))
    assert input_pipeline.find_damaged_shard(files[:1]) is None
    with pytest.raises(input_pipeline.DamagedShardError, match=pattern):
      record_checks.stream_records(record_dir, 'train', 'labeled_ids', '',
                                   masks_needed='masks')

  def test_an_error_met_while_reading_names_the_shard_and_keeps_the_checkpoint(
      self, split, tmp_path):
    _, files, damaged = split
    model_dir = str(tmp_path / 'run')
    saved = tf.train.CheckpointManager(
        tf.train.Checkpoint(v=tf.Variable(1.0)), model_dir,
        max_to_keep=3).save(checkpoint_number=2)
    with pytest.raises(input_pipeline.DamagedShardError) as raised:
      with record_checks.naming_damaged_shards(files, model_dir):
        for _ in tf.data.TFRecordDataset(files):
          pass
    assert str(raised.value).startswith(damaged + ' is damaged (truncated record')
    assert str(raised.value).endswith(
        'The run stopped; its last checkpoint (%s) is kept.' % saved)
    assert tf.train.latest_checkpoint(model_dir) == saved
    # A data loss the shards do not explain is passed on as it was.
    with pytest.raises(tf.errors.DataLossError, match='elsewhere'):
      with record_checks.naming_damaged_shards(files[:1], model_dir):
        raise tf.errors.DataLossError(None, None, 'elsewhere')


@pytest.fixture
def damaged_copy(tiny_records, tmp_path):
  """fn(split) -> (record_dir, damaged shard): the tiny records, one shard cut."""

  def make(split):
    record_dir = str(tmp_path / ('records_' + split))
    shutil.copytree(tiny_records.record_dir, record_dir)
    shard = record_format.list_shards(record_dir, split)[-1]
    _truncate(shard, 200)
    return record_dir, shard
  return make


@pytest.mark.slow
class TestBinaries:

  def test_train_sup_names_a_truncated_shard_before_building(
      self, tiny_records, binaries, smoke_flags_fn, damaged_copy, tmp_path):
    record_dir, shard = damaged_copy('train')
    model_dir = str(tmp_path / 'run')
    proc = binaries.run('train_sup.py', timeout=180, **smoke_flags_fn(
        tiny_records, model_dir, record_dir=record_dir))
    assert proc.returncode == 1, proc.stdout[-3000:]
    errors = _fatal_lines(proc)
    assert len(errors) == 1, proc.stdout[-3000:]
    assert errors[0].startswith('FATAL %s is damaged (truncated record at ' %
                                shard), errors
    assert 'Traceback' not in proc.stdout
    assert not os.path.exists(model_dir)

  def test_train_sup_names_ids_missing_from_the_records(
      self, tiny_records, binaries, smoke_flags_fn, tmp_path):
    path = str(tmp_path / 'typos.txt')
    with open(tiny_records.labeled_ids) as f:
      ids = f.read().split()
    with open(path, 'w') as f:
      f.write('\n'.join(ids[:4] + [i + 'x' for i in ids[4:]]) + '\n')
    model_dir = str(tmp_path / 'run')
    proc = binaries.run('train_sup.py', timeout=180, **smoke_flags_fn(
        tiny_records, model_dir, labeled_ids=path))
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert _fatal_lines(proc) == [
        "FATAL --labeled_ids=%s: 4 of its 8 ids are not in split 'train' in %s "
        '(%s); check the list and the split. (--verbose shows the traceback)' % (
            path, tiny_records.record_dir,
            ', '.join(i + 'x' for i in ids[4:]))], proc.stdout[-3000:]
    assert not os.path.exists(model_dir)

  def test_train_wss_names_a_shard_found_damaged_in_the_loop(
      self, tiny_records, binaries, smoke_flags_fn, damaged_copy, tmp_path):
    # Without --unlabeled_ids the unlabeled split is not scanned up front: the
    # loop meets the damage, and the error still names the shard.
    record_dir, shard = damaged_copy('val')
    model_dir = str(tmp_path / 'run')
    proc = binaries.run('train_wss.py', timeout=300, **smoke_flags_fn(
        tiny_records, model_dir, record_dir=record_dir, unlabeled_split='val',
        train_steps=2))
    assert proc.returncode == 1, proc.stdout[-3000:]
    errors = _fatal_lines(proc)
    assert len(errors) == 1, proc.stdout[-3000:]
    assert errors[0].startswith('FATAL %s is damaged (truncated record at ' %
                                shard), errors
    assert 'its last checkpoint (none yet) is kept.' in errors[0]
    assert tf.train.latest_checkpoint(model_dir) is None
