"""Tests for experiment_lib: seeded initialisation that leaves no global seed; the
records a trained run is scored on; the training streams' records checked up front."""

import os
import re
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework import random_seed

from cli import experiment_lib
from core import config


def _smoke_cfg(seed, model_dir):
  return config.replace(config.smoke(), train=dict(seed=seed, model_dir=model_dir))


class BuildModelTest(tf.test.TestCase):

  def _weights(self, seed):
    cfg = _smoke_cfg(seed, self.get_temp_dir())
    model, _ = experiment_lib.build_model_and_optimizer(
        cfg, tf.distribute.get_strategy(), num_classes=5)
    return [v.numpy() for v in model.trainable_variables]

  def test_same_seed_same_initial_weights(self):
    a, b = self._weights(3), self._weights(3)
    for x, y in zip(a, b):
      np.testing.assert_array_equal(x, y)

  def test_other_seed_other_weights_and_no_global_seed_left(self):
    a, c = self._weights(3), self._weights(4)
    self.assertFalse(all(np.array_equal(x, y) for x, y in zip(a, c)))
    # The input pipeline's per-epoch shuffle seeds break under a global seed.
    self.assertEqual(random_seed.get_seed(None), (None, None))


class TestEvalRecords:
  """eval_records / eval_dataset on the session's tiny records."""

  def test_run_records_and_class_check(self, tiny_records):
    cfg = config.replace(config.smoke(),
                         data=dict(record_dir=tiny_records.record_dir))
    descriptor, files = experiment_lib.eval_records(
        cfg, tiny_records.num_classes, '', 'val', 'RUN')
    assert descriptor.num_classes == tiny_records.num_classes
    assert files and all('val-' in f for f in files)
    sizes = [int(b['image'].shape[0])
             for b in experiment_lib.eval_dataset(files, None, 8)]
    assert sizes == [1] * tiny_records.num_val  # Batch 1 without an eval size.
    with pytest.raises(ValueError, match='predicts 3'):
      experiment_lib.eval_records(cfg, 3, tiny_records.record_dir, 'val', 'RUN')


class TestEvalRecordChecks:
  """The split a run is scored on is read once up front: a record without a
  mask (scored on no pixel) or a damaged shard stops it, named."""

  def _cfg(self, record_dir):
    return config.replace(config.smoke(), data=dict(
        record_dir=record_dir, dataset='pascal_voc_seg'))

  def test_records_without_a_mask_are_named(self, tmp_path):
    record_dir = str(tmp_path / 'records')
    _write_split(record_dir, 'val', ['a', 'b'], ['bare_0'])
    with pytest.raises(ValueError, match=r"1 record\(s\) of split 'val' in .* "
                       r'have no mask, so they cannot be scored \(bare_0\)'):
      experiment_lib.eval_records(self._cfg(record_dir), 21, '', 'val', 'RUN')

  @pytest.mark.parametrize('cut', ['inside_a_record', 'inside_a_header'])
  def test_a_damaged_shard_is_named(self, tmp_path, cut):
    record_dir = str(tmp_path / 'records')
    _write_split(record_dir, 'val', ['a', 'b', 'c', 'd'], [], num_shards=1)
    shard, = tf.io.gfile.glob(os.path.join(record_dir, 'val-*'))
    with open(shard, 'rb') as f:
      data = f.read()
    first = 16 + int.from_bytes(data[:8], 'little')  # End of the first record.
    keep = first + 6 if cut == 'inside_a_header' else len(data) - 7
    with open(shard, 'wb') as f:
      f.write(data[:keep])
    with pytest.raises(ValueError, match=re.escape(shard)):
      experiment_lib.eval_records(self._cfg(record_dir), 21, '', 'val', 'RUN')


class TestOracleWiring:
  """--oracle_pseudo_labels reaches the step and brings the masks along."""

  @pytest.mark.parametrize('oracle', [False, True])
  def test_unlabeled_stream_and_settings(self, tiny_records, oracle):
    cfg = config.replace(
        config.smoke(), data=dict(record_dir=tiny_records.record_dir,
                                  crop_size=(33, 33)),
        # A share without the oracle is refused (core.config), so only with it.
        diagnostics=dict(oracle_pseudo_labels=oracle,
                          oracle_share=0.25 if oracle else 1.0),
        train=dict(unlabeled_batch_size=2))
    descriptor = experiment_lib.dataset_info(cfg)
    cfg = config.replace(cfg, model=dict(pseudoseg_heads=True))
    task = experiment_lib.build_task(cfg, descriptor, pseudoseg=True)
    options = {type(o).__name__: o for o in task.options}
    oracle_option = options.get('OraclePseudoLabels')
    assert ((oracle_option is not None,
             oracle_option.share if oracle_option else 0.25) == (oracle, 0.25))
    assert 'ConsistencyRampup' not in options
    task = experiment_lib.build_task(
        config.replace(cfg, rampup=dict(unsup_rampup_steps=150)), descriptor,
        pseudoseg=True)
    rampup = [o for o in task.options if type(o).__name__ == 'ConsistencyRampup']
    assert rampup[0].steps == 150
    task = experiment_lib.build_task(cfg, descriptor, pseudoseg=True)
    assert task.needs_unlabeled_masks() == oracle
    fn = experiment_lib.unlabeled_dataset_fn(cfg, descriptor,
                                             task.needs_unlabeled_masks())
    batch = next(iter(fn(tf.distribute.InputContext(), 0)))
    assert ('weak_label' in batch) == oracle
    if oracle:
      assert batch['weak_label'].shape == (2, 33, 33, 1)
    experiment_lib.check_oracle_masks(cfg)  # Every tiny record has its mask.

  def test_records_without_masks_are_named_up_front(self, tmp_path):
    from datasets import record_format  # pylint: disable=g-import-not-at-top
    png = tf.io.encode_png(tf.zeros([4, 4, 1], tf.uint8)).numpy()
    with record_format.ShardedWriter(str(tmp_path), 'train', 1) as writer:
      writer.write(record_format.make_example(png, 'with_mask', 4, 4,
                                              label_data=png, image_format='png'))
      for name in ('bare_1', 'bare_0'):
        writer.write(record_format.make_example(png, name, 4, 4,
                                                image_format='png'))
    cfg = config.replace(config.smoke(), data=dict(record_dir=str(tmp_path)),
                         diagnostics=dict(oracle_pseudo_labels=True))
    with pytest.raises(ValueError, match=r"2 record\(s\) of split 'train' in "
                       r'.* have none \(bare_0, bare_1\)'):
      experiment_lib.check_oracle_masks(cfg)
    # Without the oracle nothing is read.
    experiment_lib.check_oracle_masks(config.replace(
        cfg, diagnostics=dict(oracle_pseudo_labels=False)))


def _write_split(record_dir, split, masked, bare, num_shards=2):
  """A split of 4x4 PNG records: `masked` ids with a mask, `bare` ids without."""
  from datasets import record_format  # pylint: disable=g-import-not-at-top
  png = tf.io.encode_png(tf.zeros([4, 4, 1], tf.uint8)).numpy()
  with record_format.ShardedWriter(record_dir, split, num_shards) as writer:
    for name in masked:
      writer.write(record_format.make_example(png, name, 4, 4, label_data=png,
                                              image_format='png'))
    for name in bare:
      writer.write(record_format.make_example(png, name, 4, 4,
                                              image_format='png'))


def _id_list(path, ids):
  with open(path, 'w') as f:
    f.write(''.join(i + '\n' for i in ids))
  return str(path)


class TestStreamRecordChecks:
  """An id list naming ids that are not in the records, or labeled records
  without a mask, stop the run before the model is built."""

  MASKED = ['img_%d' % i for i in range(8)]

  @pytest.fixture
  def records(self, tmp_path):
    record_dir = str(tmp_path / 'records')
    _write_split(record_dir, 'train', self.MASKED, ['bare_1', 'bare_0'])
    return record_dir

  def _cfg(self, record_dir, **data):
    return config.replace(config.smoke(), data=dict(
        record_dir=record_dir, dataset='pascal_voc_seg', **data))

  def test_labeled_ids_not_in_the_records_are_named(self, records, tmp_path):
    # A typo list of 8 trained on the 4 that exist.
    listed = self.MASKED[:4] + ['img_10', 'img_11', 'im_1', 'img_12', 'x', 'y']
    path = _id_list(tmp_path / 'labeled.txt', listed)
    cfg = self._cfg(records, labeled_ids=path)
    descriptor = experiment_lib.dataset_info(cfg)
    with pytest.raises(ValueError) as raised:
      experiment_lib.labeled_dataset_fn(cfg, descriptor)
    assert str(raised.value) == (
        "--labeled_ids=%s: 6 of its 10 ids are not in split 'train' in %s "
        '(img_10, img_11, im_1, img_12, x, ...); check the list and the split.'
        % (path, records))

  def test_unlabeled_ids_not_in_the_records_are_named(self, records, tmp_path):
    path = _id_list(tmp_path / 'unlabeled.txt', ['bare_0', 'img_3', 'bare_9'])
    cfg = self._cfg(records, unlabeled_ids=path)
    with pytest.raises(ValueError, match=r"--unlabeled_ids=.*unlabeled.txt: 1 of "
                       r"its 3 ids are not in split 'train' in .* \(bare_9\)"):
      experiment_lib.unlabeled_dataset_fn(
          cfg, experiment_lib.dataset_info(cfg))
    # Records without a mask are what an unlabeled stream is for.
    path = _id_list(tmp_path / 'unlabeled.txt', ['bare_0', 'img_3', 'bare_1'])
    experiment_lib.unlabeled_dataset_fn(
        self._cfg(records, unlabeled_ids=path), experiment_lib.dataset_info(cfg))

  def test_labeled_records_without_a_mask_are_named(self, records, tmp_path):
    path = _id_list(tmp_path / 'labeled.txt', ['img_0', 'bare_1', 'bare_0'])
    cfg = self._cfg(records, labeled_ids=path)
    descriptor = experiment_lib.dataset_info(cfg)
    with pytest.raises(ValueError) as raised:
      experiment_lib.labeled_dataset_fn(cfg, descriptor)
    assert str(raised.value) == (
        'The labeled stream trains on masks: 2 of the 3 ids of '
        "--labeled_ids=%s are records of split 'train' in %s without one "
        '(bare_1, bare_0).' % (path, records))
    # Without a list, every record of the split is labeled.
    with pytest.raises(ValueError, match=r"2 record\(s\) of split 'train' in "
                       r'.* have none \(bare_0, bare_1\)'):
      experiment_lib.labeled_dataset_fn(self._cfg(records), descriptor)

  def test_one_scan_of_the_split_serves_every_check(self, records, tmp_path):
    from datasets import input_pipeline  # pylint: disable=g-import-not-at-top
    path = _id_list(tmp_path / 'labeled.txt', self.MASKED)
    cfg = self._cfg(records, labeled_ids=path)
    with mock.patch.object(input_pipeline, 'scan_records',
                           wraps=input_pipeline.scan_records) as scan:
      fn = experiment_lib.labeled_dataset_fn(cfg,
                                             experiment_lib.dataset_info(cfg))
    assert scan.call_count == 1
    batch = next(iter(fn(tf.distribute.InputContext(), 0)))
    assert batch['image'].shape[0] == cfg.train.batch_size


if __name__ == '__main__':
  tf.test.main()
