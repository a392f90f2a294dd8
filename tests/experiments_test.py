"""Tests for core/experiments.py and --experiment: every preset is a valid
config; the paper's recipes hold the paper's values; the flags given override a
preset and only those; the embedded presets are the main job's runs; a recipe from an ImageNet backbone refuses to start
without one."""

import json
import os
import re
import sys

import pytest

from core import experiments
from datasets import splits
from tests import conftest
from tests import testing_utils


def test_every_preset_builds_a_valid_config():
  names = experiments.names()
  assert len(names) == 15 + 5 + 4 + 2
  for name in names:
    cfg = experiments.get(name).build()
    assert cfg.model.pseudoseg_heads == (
        experiments.get(name).binary == 'train_wss.py'), name


def test_the_list_runs_92_before_183():
  names = [n for n in experiments.names() if n.startswith('voc_r101_sup_')]
  assert names == ['voc_r101_sup_%d' % n for n in (92, 183, 366, 732, 1464)]


def test_voc_recipe_holds_the_papers_values():
  cfg = experiments.get('voc_r101_pseudoseg_image_labels_366').build()
  assert (cfg.model.backbone, cfg.model.output_stride) == ('resnet101', 16)
  assert cfg.data.crop_size == (513, 513)
  assert (cfg.train.batch_size, cfg.train.unlabeled_batch_size) == (64, 64)
  assert cfg.train.train_steps == 30000
  assert (cfg.train.base_learning_rate, cfg.train.lr_power,
          cfg.train.momentum, cfg.train.warmup_steps) == (0.007, 0.9, 0.9, 0)
  assert cfg.model.weight_decay == 4e-5
  assert cfg.data.labeled_ids == experiments.voc_list(366)
  assert cfg.data.labeled_ids.endswith('datasets/split_lists/voc/4_clean.txt')
  assert (cfg.data.train_split, cfg.data.unlabeled_split) == ('train',
                                                             'train_aug')
  assert cfg.data.use_image_labels
  assert cfg.pseudo_label.temperature == 0.5
  assert not experiments.get('voc_r101_pseudoseg_366').build(
  ).data.use_image_labels
  assert experiments.get('voc_r101_sup_366').needs_init_checkpoint
  coco = experiments.get('coco_r101_pseudoseg_128').build()
  assert coco.train.train_steps == 200000
  assert coco.data.labeled_ids.endswith('datasets/split_lists/coco/1of128.txt')


def test_shipped_lists_read_back_with_their_sizes():
  voc = {n: splits.read_id_list(experiments.voc_list(n))
         for n in experiments.VOC_LABELED}
  assert {n: len(set(ids)) for n, ids in voc.items()} == {
      n: n for n in experiments.VOC_LABELED}
  # Every VOC list is a subset of VOC 2012 train (classic_1464 is all of it).
  for n, ids in voc.items():
    assert set(ids) <= set(voc[1464]), n
    assert all(re.fullmatch(r'20\d\d_\d{6}', i) for i in ids), n
  for name in ('16_clean_14', '16_clean_20'):
    ids = splits.read_id_list(os.path.join(experiments.SPLIT_LISTS, 'voc',
                                           name + '.txt'))
    assert len(set(ids)) == 92 and set(ids) <= set(voc[1464])
  # COCO 2017 train has 118287 images: 1/N of them, rounded up.
  for fraction in experiments.COCO_FRACTIONS:
    ids = splits.read_id_list(experiments.coco_list(fraction))
    assert len(set(ids)) == -(-118287 // fraction), fraction
    assert all(re.fullmatch(r'\d{12}', i) for i in ids), fraction


def test_unknown_name_lists_how_to_see_them():
  with pytest.raises(KeyError, match='--experiment=list'):
    experiments.get('voc_r50_sup_92')


def test_list_prints_this_binarys_experiments(binaries):
  proc = binaries.run('train_wss.py', timeout=120, experiment='list')
  assert proc.returncode == 0, proc.stdout
  names = [line.split()[0] for line in proc.stdout.splitlines()
           if line.startswith(('voc_', 'coco_', 'smoke'))]
  assert 'voc_r101_pseudoseg_92' in names
  assert 'coco_r101_pseudoseg_512' in names
  assert 'voc_r101_sup_92' not in names  # A train_sup.py experiment.


@pytest.mark.parametrize('script,flag_values,message', [
    ('train_sup.py', dict(experiment='voc_r101_sup_92'),
     'give --init_checkpoint'),
    ('train_sup.py', dict(experiment='voc_r101_pseudoseg_92'),
     'is run by train_wss.py, not train_sup.py'),
    ('train_wss.py', dict(experiment='voc_r101_pseudoseg_92',
                          crop_size='0,0'), '--crop_size'),
    ('train_wss.py', dict(experiment='nope'), "No experiment 'nope'"),
])
def test_refused_in_one_line(tmp_path, binaries, script, flag_values, message):
  proc = binaries.run(script, timeout=120, model_dir=str(tmp_path / 'run'),
                      **flag_values)
  assert proc.returncode != 0
  assert message in proc.stdout, proc.stdout
  assert 'Traceback' not in proc.stdout
  assert not os.path.exists(str(tmp_path / 'run'))


def test_flags_given_override_the_preset(tmp_path, binaries, tiny_records):
  model_dir = str(tmp_path / 'run')
  binaries.run_ok('train_sup.py', experiment='smoke',
                  record_dir=tiny_records.record_dir,
                  labeled_ids=tiny_records.labeled_ids, model_dir=model_dir,
                  train_steps=2, crop_size='33,33')
  with open(os.path.join(model_dir, 'config.json')) as f:
    cfg = json.load(f)
  # Given: train_steps, crop_size. Not given: the preset's, not the flags'
  # defaults (smoke's batch 2 and width 0.35 against 8 and 1.0).
  assert cfg['train']['train_steps'] == 2
  assert cfg['data']['crop_size'] == [33, 33]
  assert cfg['train']['batch_size'] == conftest.SMOKE_FLAGS['batch_size']
  assert cfg['model']['width_multiplier'] == 0.35


# Prints the config a binary's command line gives, as JSON, without TensorFlow
# (the binary's module defines its flags; main() is not run).
_RESOLVE = '''
import dataclasses, importlib.util, json, sys
from absl import flags
spec = importlib.util.spec_from_file_location('binary', sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
flags.FLAGS(sys.argv[1:])
from cli import flags as flags_lib
print(json.dumps(dataclasses.asdict(flags_lib.config_from_flags())))
assert 'tensorflow' not in sys.modules
'''


def _resolved(argv):
  proc = testing_utils.run_command(
      [sys.executable, '-c', _RESOLVE, os.path.join(conftest.ROOT, argv[0])] +
      argv[1:], dict(os.environ, PYTHONPATH=conftest.ROOT), 120)
  assert proc.returncode == 0, proc.stdout
  return json.loads(proc.stdout.strip().splitlines()[-1])


def test_embedded_presets_are_the_main_jobs_runs():
  proc = testing_utils.run_command(
      ['bash', os.path.join(conftest.ROOT, 'scripts', 'main_job.sh')],
      dict(os.environ, DRY_RUN='1', PY='python'), 60)
  assert proc.returncode == 0, proc.stdout
  runs = {}
  for line in proc.stdout.splitlines():
    argv = line.split()
    if argv[1:2] in (['train_sup.py'], ['train_wss.py']):
      model_dir = [a for a in argv if a.startswith('--model_dir=')][0]
      runs[os.path.basename(model_dir)] = argv[1:]
  assert sorted(runs) == ['pseudoseg', 'pseudoseg_image_labels', 'sup_few',
                          'sup_full']
  for name, argv in runs.items():
    preset = experiments.get('embedded_' + name)
    assert preset.binary == argv[0], name
    model_dir = [a for a in argv if a.startswith('--model_dir=')]
    from_script = _resolved(argv)
    from_preset = _resolved([argv[0], '--experiment=embedded_' + name] +
                            model_dir)
    assert from_preset == from_script, name
    assert from_script['train']['init_checkpoint'] == 'pretrained/source_cls'
