"""pretrain_classifier.py end to end on tiny records, and what it writes read back.

A 2-step run, resumed to 4 steps; its scores recomputed from its checkpoint; its
backbone exported (export_backbone.py) and loaded by train_sup.py --init_checkpoint;
bad flags refused in one line before anything is built.
"""

import json
import os

import numpy as np
import pytest

from core.evaluation import multilabel
from core.modeling import model as model_lib
from core.training import run_dir
from datasets import input_pipeline
from datasets import record_format
from tests import conftest

pytestmark = pytest.mark.slow

# The smoke model on the tiny 64 px records, whole images.
_FLAGS = dict(conftest.SMOKE_FLAGS, crop_size='64,64', keep_checkpoints=10,
              eval_batch_size=4)


def _flags(records, model_dir, **overrides):
  return dict(_FLAGS, record_dir=records.record_dir, model_dir=model_dir,
              **overrides)


@pytest.fixture(scope='module')
def cls_run(tiny_records, binaries, tmp_path_factory):
  """(model_dir, first process, resumed process): 2 steps, then resumed to 4."""
  model_dir = str(tmp_path_factory.mktemp('cls_run'))
  first = binaries.run_ok('pretrain_classifier.py',
                          **_flags(tiny_records, model_dir, train_steps=2))
  resumed = binaries.run_ok('pretrain_classifier.py',
                            **_flags(tiny_records, model_dir, train_steps=4))
  return model_dir, first, resumed


def _load(path):
  with open(path) as f:
    return json.load(f)


def test_trains_resumes_and_scores(cls_run, tiny_records):
  model_dir, first, resumed = cls_run
  assert 'step 2/2 | loss' in first.stdout
  for word in ('cls_loss', 'img/s', 'ETA'):
    assert word in first.stdout
  assert 'Resumed from' in resumed.stdout and 'at step 2.' in resumed.stdout
  assert 'step 4/4 | loss' in resumed.stdout
  config = _load(os.path.join(model_dir, run_dir.CONFIG_FILENAME))
  assert config['model']['pseudoseg_heads']
  result = _load(os.path.join(model_dir, 'eval.json'))
  assert result['step'] == 4
  assert [p['step'] for p in result['curve']] == [2, 4]
  assert result['num_images'] == tiny_records.num_val
  assert result['dataset'] == 'synthetic'
  assert len(result['per_class_f1']) == tiny_records.num_classes - 1
  assert ('mean F1 %.4f, mAP %.4f (step 4' % (result['mean_f1'], result['map'])
          in resumed.stdout)
  for sub in ('train', 'eval'):
    assert os.listdir(os.path.join(model_dir, sub))  # TensorBoard events.


def test_scores_read_back(cls_run, tiny_records):
  # The scores of eval.json are those of the last checkpoint's classifier on
  # the val images' image-level labels.
  model_dir, _, _ = cls_run
  model, cfg, num_classes, _ = run_dir.load_trained_model(model_dir)
  dataset = input_pipeline.classification_dataset(
      record_format.list_shards(tiny_records.record_dir, 'val'), 4,
      tuple(cfg.data.crop_size), num_classes, is_training=False)
  scores, targets = multilabel.predict_scores(model, dataset)
  assert scores.shape == (tiny_records.num_val, num_classes - 1)
  assert targets.sum() > 0
  expected = multilabel.summarize(scores, targets, 0.5)
  result = _load(os.path.join(model_dir, 'eval.json'))
  np.testing.assert_allclose(result['mean_f1'], expected['mean_f1'], atol=1e-6)
  np.testing.assert_allclose(result['map'], expected['map'], atol=1e-6)


def test_exported_backbone_initialises_train_sup(cls_run, tiny_records,
                                                 binaries, tmp_path):
  model_dir, _, _ = cls_run
  out = str(tmp_path / 'backbone')
  binaries.run_ok('export_backbone.py', model_dir=model_dir, output_dir=out)
  info = _load(os.path.join(out, 'backbone.json'))
  assert info['source_eval'] == _load(os.path.join(model_dir, 'eval.json'))
  assert info['source_checkpoint'] == 'ckpt-4'
  assert info['fits']['width_multiplier'] == 0.35
  target = str(tmp_path / 'target')
  proc = binaries.run_ok('train_sup.py', **conftest.smoke_flags(
      tiny_records, target, init_checkpoint=out, train_steps=1))
  assert 'Backbone initialised from %s' % out in proc.stdout
  # The backbone train_sup.py started from is the run's.
  trained, _, _, _ = run_dir.load_trained_model(model_dir)
  fresh = model_lib.build_model(trained.config, 7, (64, 64))
  model_lib.restore_backbone(fresh, out)
  for a, b in zip(trained.backbone.weights, fresh.backbone.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize('overrides, message', [
    (dict(eval_threshold=1.5), '--eval_threshold must be in (0, 1), got 1.5.'),
    (dict(eval_split='test'), "No TFRecord shards for split 'test'"),
])
def test_bad_flags_one_line(tiny_records, binaries, tmp_path, overrides,
                            message):
  model_dir = str(tmp_path / 'run')
  proc = binaries.run('pretrain_classifier.py', timeout=120,
                      **_flags(tiny_records, model_dir, **overrides))
  assert proc.returncode == 1, proc.stdout[-2000:]
  errors = [line for line in proc.stdout.splitlines() if 'FATAL' in line]
  assert len(errors) == 1 and message in errors[0], errors
  assert 'Traceback' not in proc.stdout
  assert not os.path.exists(model_dir)
