"""Tests for experiment_lib: seeded initialisation that leaves no global seed; the
records a trained run is scored on."""

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


if __name__ == '__main__':
  tf.test.main()
