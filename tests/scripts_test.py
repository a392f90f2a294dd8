"""Smoke tests of the user-facing scripts on tiny data.

Every script a user runs by hand gets one run here, the way the README runs it
(from the repository root, in a fresh process):
  * datasets/build_coco_data.py, datasets/build_folder_data.py: shards and
    dataset_info.json are written; a corrupt image fails the run, naming the file;
  * scripts/summarize_results.py: the table (last vs best, mean ± std over seeds)
    against hand-computed values, on fake run directories;
  * scripts/main_job.sh: the four runs, their evaluations and the final table, on
    the session's tiny records, shrunk to 2 steps per run with EXTRA_FLAGS;
  * scripts/ablation_table.sh: every row as commands (DRY_RUN), two rows run;
    scripts/summarize_ablation.py against hand-computed orderings;
  * scripts/run_seeds.sh: its own logic (one main job per seed, then the table
    over the seeds) with main_job.sh replaced by a stub in a copy of scripts/;
  * scripts/local_test.sh: the whole chain down to the SavedModel;
  * scripts/voc_sup.sh, voc_pseudoseg.sh (both modes), coco_pseudoseg.sh: one
    named recipe per cell of the paper's table (DRY_RUN), the settings they
    refuse, and one cell trained and evaluated on the tiny records.
"""

import glob
import json
import os
import re
import shutil
import sys

import numpy as np
from PIL import Image
import pytest

from core import experiments
from tests import conftest
from tests.convert_coco_test import CocoFixture
from tests import testing_utils
from tests.testing_utils import write_jpeg
from tests.testing_utils import write_palette_png

pytestmark = pytest.mark.slow

ROOT = conftest.ROOT
COLUMN_TITLES = ('supervised', 'PseudoSeg', 'PseudoSeg + image labels',
                 'fully supervised (all labels)')
RUNS = ('sup_few', 'pseudoseg', 'pseudoseg_image_labels', 'sup_full')

# Shrinks the model of any training script to CPU seconds (the last flag wins).
TINY_MODEL = ('--width_multiplier=0.35 --aspp_filters=16 --decoder_filters=16 '
              '--low_level_filters=8 --sgc_dim=8 --batch_size=2 '
              '--unlabeled_batch_size=2 --steps_per_loop=1 --checkpoint_every=1 '
              '--shuffle_buffer=8')
# The paper recipes (ResNet-101, crop 513, 30k steps) shrunk to two steps.
TINY_RECIPE = ('--backbone=mobilenet_v2 --output_stride=16 --crop_size=65,65 '
               '--train_steps=2 ' + TINY_MODEL)


def _env(**overrides):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', PY=sys.executable)
  env.update({k: str(v) for k, v in overrides.items()})
  return env


_run = testing_utils.run_command
_run_ok = testing_utils.run_command_ok


def _bash(script, *args, timeout=600, **env):
  return _run_ok(['bash', os.path.join(ROOT, 'scripts', script)] +
                 [str(a) for a in args], _env(**env), timeout)


def _python(script, *args, **kwargs):
  return _run([sys.executable, os.path.join(ROOT, script)] + list(args),
              _env(), **kwargs)


def _load(path):
  with open(path) as f:
    return json.load(f)


def _eval_steps(run_dir):
  """Steps of the run's eval/results-STEP.json files, checking each file."""
  steps = []
  for path in glob.glob(os.path.join(run_dir, 'eval', 'results-*.json')):
    result = _load(path)
    assert 0.0 <= result['miou'] <= 1.0, path
    assert path.endswith('results-%d.json' % result['step']), path
    steps.append(result['step'])
  return sorted(steps)


def _table_rows(text):
  """The 'last' and 'best' rows of a printed results table, as cell lists."""
  rows = {}
  for line in text.splitlines():
    cells = [c.strip() for c in line.strip().strip('|').split('|')]
    if len(cells) == 6 and cells[1] in ('last', 'best'):
      rows[cells[1]] = cells
  return rows


def _assert_table(text, num_labeled):
  """The table has the four columns and a number (no n/a) in every cell."""
  header = [l for l in text.splitlines()
            if l.startswith('| labeled images | checkpoint |')]
  assert header, text
  for title in COLUMN_TITLES:
    assert '| %s |' % title in header[-1], header[-1]
  rows = _table_rows(text)
  assert set(rows) == {'last', 'best'}, text
  for row in rows.values():
    assert row[0] == str(num_labeled)
    for cell in row[2:]:
      float(cell.split(' ± ')[0])  # A number, not n/a.
  return rows


@pytest.fixture(scope='module')
def voc_records(tiny_records, tmp_path_factory):
  """The tiny records plus a `train_aug` split (the train shards, linked)."""
  record_dir = str(tmp_path_factory.mktemp('voc_like') / 'tfrecord')
  os.makedirs(record_dir)
  shutil.copy(os.path.join(tiny_records.record_dir, 'dataset_info.json'),
              record_dir)
  for path in glob.glob(os.path.join(tiny_records.record_dir, '*.tfrecord')):
    name = os.path.basename(path)
    os.symlink(path, os.path.join(record_dir, name))
    if name.startswith('train-'):
      os.symlink(path, os.path.join(record_dir, 'train_aug' + name[5:]))
  return record_dir


class TestConverters:
  """The converters run as scripts, on the fixtures of their unit tests."""

  def test_build_coco_data(self, tmp_path):
    root, out = str(tmp_path / 'coco'), str(tmp_path / 'records')
    CocoFixture(root)
    proc = _python('datasets/build_coco_data.py', '--coco_root=' + root,
                   '--output_dir=' + out, '--num_shards=2')
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert sorted(os.listdir(out)) == [
        'dataset_info.json', 'train-00000-of-00002.tfrecord',
        'train-00001-of-00002.tfrecord',
        'val-00000-of-00001.tfrecord']  # One val image: one shard.
    info = _load(os.path.join(out, 'dataset_info.json'))
    assert info['name'] == 'coco'
    assert info['num_classes'] == 81
    assert info['splits_to_sizes'] == {'train': 2, 'val': 1}

  def test_build_coco_data_corrupt_image(self, tmp_path):
    root, out = str(tmp_path / 'coco'), str(tmp_path / 'records')
    CocoFixture(root)
    bad = os.path.join(root, 'val2017', 'img3.jpg')
    with open(bad, 'wb') as f:
      f.write(b'\xff\xd8\xff\xe0 not really a jpeg')
    proc = _python('datasets/build_coco_data.py', '--coco_root=' + root,
                   '--output_dir=' + out, merge=False)
    assert proc.returncode != 0
    assert bad in proc.stderr, proc.stderr[-4000:]
    assert not os.path.exists(os.path.join(out, 'dataset_info.json'))

  def _folder(self, root):
    """Five 9x11 images (JPEG and PNG) with palette / grey masks of 3 classes."""
    image_dir, mask_dir = os.path.join(root, 'images'), os.path.join(root,
                                                                     'masks')
    os.makedirs(image_dir)
    rng = np.random.RandomState(0)
    for i in range(5):
      if i % 2:
        Image.fromarray(rng.randint(0, 256, (9, 11, 3)).astype(np.uint8)).save(
            os.path.join(image_dir, 'im%d.png' % i))
      else:
        write_jpeg(os.path.join(image_dir, 'im%d.jpg' % i), 9, 11, seed=i)
      mask = rng.randint(0, 3, (9, 11)).astype(np.uint8)
      write_palette_png(os.path.join(mask_dir, 'im%d.png' % i), mask)
    return image_dir, mask_dir

  def test_build_folder_data(self, tmp_path):
    image_dir, mask_dir = self._folder(str(tmp_path))
    out = str(tmp_path / 'records')
    proc = _python('datasets/build_folder_data.py', '--image_dir=' + image_dir,
                   '--mask_dir=' + mask_dir, '--output_dir=' + out,
                   '--num_classes=3', '--class_names=cat,dog',
                   '--dataset_name=pets', '--val_fraction=0.2',
                   '--num_shards=1')
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert sorted(os.listdir(out)) == [
        'dataset_info.json', 'train-00000-of-00001.tfrecord',
        'val-00000-of-00001.tfrecord']
    info = _load(os.path.join(out, 'dataset_info.json'))
    assert info['name'] == 'pets'
    assert info['num_classes'] == 3
    assert info['class_names'] == ['background', 'cat', 'dog']
    assert info['splits_to_sizes'] == {'train': 4, 'val': 1}

  def test_build_folder_data_corrupt_image(self, tmp_path):
    image_dir, mask_dir = self._folder(str(tmp_path))
    out = str(tmp_path / 'records')
    bad = os.path.join(image_dir, 'im3.png')
    with open(bad, 'wb') as f:
      f.write(b'\x89PNG\r\n\x1a\n broken')
    proc = _python('datasets/build_folder_data.py', '--image_dir=' + image_dir,
                   '--mask_dir=' + mask_dir, '--output_dir=' + out,
                   '--num_classes=3', merge=False)
    assert proc.returncode != 0
    assert bad in proc.stderr, proc.stderr[-4000:]
    assert not os.path.exists(os.path.join(out, 'dataset_info.json'))


def _write_results(run_dir, scores, per_class=None, class_names=None):
  """Writes RUN/eval/results-STEP.json for {step: miou} ({step: [IoU]})."""
  os.makedirs(os.path.join(run_dir, 'eval'), exist_ok=True)
  for step, miou in scores.items():
    result = {'step': step, 'miou': miou, 'pixel_accuracy': 0.5}
    if per_class and step in per_class:
      result.update(per_class_iou=per_class[step],
                    class_names=class_names or ['background', 'a', 'b'])
    with open(os.path.join(run_dir, 'eval', 'results-%d.json' % step), 'w') as f:
      json.dump(result, f)


class TestSummarizeResults:
  """scripts/summarize_results.py against hand-computed tables."""

  def test_single_dir(self, tmp_path):
    runs = str(tmp_path / 'seed0')
    # Steps 9 and 10: 'last' is the highest step, not the last file name.
    _write_results(os.path.join(runs, 'sup_few'), {2: 0.3, 4: 0.5, 6: 0.4})
    _write_results(os.path.join(runs, 'pseudoseg'), {9: 0.7, 10: 0.55})
    _write_results(os.path.join(runs, 'sup_full'), {4: 0.8})
    # pseudoseg_image_labels was not evaluated: n/a.
    os.makedirs(os.path.join(runs, 'pseudoseg_image_labels'))
    proc = _python('scripts/summarize_results.py', '--runs_dirs=' + runs,
                   '--num_labeled=20')
    assert proc.returncode == 0, proc.stdout[-4000:]
    rows = _table_rows(proc.stdout)
    assert rows['last'] == ['20', 'last', '0.400', '0.550', 'n/a', '0.800']
    assert rows['best'] == ['20', 'best', '0.500', '0.700', 'n/a', '0.800']
    assert 'val mIoU, 1 seed (' in proc.stdout
    assert 'PseudoSeg - supervised (last checkpoint), per seed: +0.150' in (
        proc.stdout)
    assert 'PseudoSeg + image labels - supervised' not in proc.stdout  # n/a
    with open(os.path.join(runs, 'results.md')) as f:
      md = f.read()
    assert _table_rows(md) == rows
    for title in COLUMN_TITLES:
      assert '| %s |' % title in md.splitlines()[0]
    out = _load(os.path.join(runs, 'results.json'))
    assert out['num_labeled'] == 20
    assert out['runs_dirs'] == [runs]
    assert out['miou'] == {
        'sup_few': {'last': [0.4], 'best': [0.5]},
        'pseudoseg': {'last': [0.55], 'best': [0.7]},
        'pseudoseg_image_labels': {'last': [], 'best': []},
        'sup_full': {'last': [0.8], 'best': [0.8]}}

  def test_three_dirs_mean_and_std(self, tmp_path):
    dirs = [str(tmp_path / ('seed%d' % s)) for s in range(3)]
    sup_last, wss_last = (0.4, 0.5, 0.6), (0.5, 0.5, 0.8)
    for d, sup, wss in zip(dirs, sup_last, wss_last):
      # Best is 0.1 above last for sup_few, the last itself for the others.
      _write_results(os.path.join(d, 'sup_few'), {1: sup + 0.1, 2: sup})
      _write_results(os.path.join(d, 'pseudoseg'), {1: wss - 0.2, 2: wss})
      _write_results(os.path.join(d, 'pseudoseg_image_labels'), {2: 0.9})
      _write_results(os.path.join(d, 'sup_full'), {2: 1.0})
    out_dir = str(tmp_path / 'all')
    proc = _python('scripts/summarize_results.py', '--runs_dirs=' + ','.join(dirs),
                   '--num_labeled=8', '--output_dir=' + out_dir)
    assert proc.returncode == 0, proc.stdout[-4000:]
    # sup_few last: mean 0.5, sample std sqrt(0.02 / 2) = 0.1;
    # pseudoseg last: mean 0.6, std sqrt((0.01 + 0.01 + 0.04) / 2) = 0.1732.
    rows = _table_rows(proc.stdout)
    assert rows['last'] == ['8', 'last', '0.500 ± 0.100', '0.600 ± 0.173',
                            '0.900 ± 0.000', '1.000 ± 0.000']
    assert rows['best'] == ['8', 'best', '0.600 ± 0.100', '0.600 ± 0.173',
                            '0.900 ± 0.000', '1.000 ± 0.000']
    assert 'val mIoU, 3 seeds (%s)' % ', '.join(dirs) in proc.stdout
    assert ('PseudoSeg - supervised (last checkpoint), per seed: +0.100, +0.000, '
            '+0.200') in proc.stdout
    # Image labels: 0.9 against 0.4, 0.5, 0.6.
    assert ('PseudoSeg + image labels - supervised (last checkpoint), per seed: '
            '+0.500, +0.400, +0.300') in proc.stdout
    with open(os.path.join(out_dir, 'results.md')) as f:
      assert _table_rows(f.read()) == rows
    out = _load(os.path.join(out_dir, 'results.json'))
    assert out['runs_dirs'] == dirs
    np.testing.assert_allclose(out['miou']['sup_few']['best'], [0.5, 0.6, 0.7])
    np.testing.assert_allclose(out['miou']['pseudoseg']['last'], wss_last)
    # Nothing is written into the seed directories with --output_dir.
    assert not os.path.exists(os.path.join(dirs[0], 'results.md'))


class TestPerClassTable:
  """summarize_results.py's per-class table: last checkpoint, mean over seeds."""

  def test_hand_computed_means(self, tmp_path):
    dirs = [str(tmp_path / ('seed%d' % s)) for s in range(2)]
    for i, d in enumerate(dirs):
      # Step 1's per-class scores must not count: only the last checkpoint's.
      _write_results(os.path.join(d, 'sup_few'), {1: 0.1, 2: 0.5},
                     per_class={1: [0.0, 0.0, 0.0], 2: [0.9, 0.4 + 0.2 * i, 0.2]})
      # The class 'b' is lost on one seed.
      _write_results(os.path.join(d, 'pseudoseg'), {2: 0.4},
                     per_class={2: [0.8, 0.5, 0.0 if i else 0.3]})
      # An old results file without per-class scores: the run is left out.
      _write_results(os.path.join(d, 'sup_full'), {2: 0.9})
    proc = _python('scripts/summarize_results.py', '--runs_dirs=' + ','.join(dirs),
                   '--num_labeled=20', '--output_dir=' + str(tmp_path / 'all'))
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert '| run | seeds | background | a | b |' in proc.stdout
    assert '| supervised | 2 | 0.900 | 0.500 | 0.200 |' in proc.stdout
    assert '| PseudoSeg | 2 | 0.800 | 0.500 | 0.150 |' in proc.stdout
    assert '| fully supervised' not in proc.stdout.split('IoU per class')[1]
    out = _load(str(tmp_path / 'all' / 'results.json'))
    np.testing.assert_allclose(out['per_class_iou_last']['pseudoseg'],
                               [[0.8, 0.5, 0.3], [0.8, 0.5, 0.0]])
    with open(str(tmp_path / 'all' / 'results.md')) as f:
      assert 'IoU per class, last checkpoint (mean over the seeds):' in f.read()

  def test_one_seed_has_no_mean_in_the_title(self, tmp_path):
    d = str(tmp_path / 'seed0')
    _write_results(os.path.join(d, 'sup_few'), {2: 0.5},
                   per_class={2: [0.9, 0.1, 0.2]})
    proc = _python('scripts/summarize_results.py', '--runs_dirs=' + d,
                   '--num_labeled=20')
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert 'IoU per class, last checkpoint:\n' in proc.stdout
    assert '| supervised | 1 | 0.900 | 0.100 | 0.200 |' in proc.stdout

  def test_runs_of_other_classes_are_an_error(self, tmp_path):
    d = str(tmp_path / 'seed0')
    _write_results(os.path.join(d, 'sup_few'), {2: 0.5},
                   per_class={2: [0.9, 0.1, 0.2]})
    _write_results(os.path.join(d, 'pseudoseg'), {2: 0.5},
                   per_class={2: [0.9, 0.1, 0.2]},
                   class_names=['background', 'a', 'c'])
    proc = _python('scripts/summarize_results.py', '--runs_dirs=' + d,
                   '--num_labeled=20')
    assert proc.returncode != 0
    assert os.path.join(d, 'pseudoseg') in proc.stdout
    assert "'c'" in proc.stdout, proc.stdout[-2000:]


def _write_scalars(run_dir, series):
  """Writes RUN/train TensorBoard scalars {tag: {step: value}}."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  writer = tf.summary.create_file_writer(os.path.join(run_dir, 'train'))
  with writer.as_default():
    for tag, points in series.items():
      for step, value in points.items():
        tf.summary.scalar(tag, value, step=step)
  writer.close()


class TestPseudoLabelScores:
  """summarize_results.py's teacher table, from TensorBoard scalars."""

  def test_mean_of_last_logged_values(self, tmp_path):
    dirs = [str(tmp_path / ('seed%d' % s)) for s in range(2)]
    for i, d in enumerate(dirs):
      _write_results(os.path.join(d, 'sup_few'), {2: 0.3})
      _write_results(os.path.join(d, 'pseudoseg'), {2: 0.2})
      # Five logged points: the first (step 10, value 0.9) is left out.
      _write_scalars(os.path.join(d, 'pseudoseg'), {
          'metrics/decoder_miou': {10: 0.9, 20: 0.2, 30: 0.2, 40: 0.4, 50: 0.4},
          'metrics/sgc_miou': {50: 0.1 + 0.1 * i},
          'metrics/pseudo_miou': {50: 0.25},
          'losses/unsup_loss': {50: 7.0}})
    proc = _python('scripts/summarize_results.py', '--runs_dirs=' + ','.join(dirs),
                   '--num_labeled=20', '--output_dir=' + str(tmp_path / 'all'))
    assert proc.returncode == 0, proc.stdout[-4000:]
    # decoder: mean of 0.2, 0.2, 0.4, 0.4 = 0.3 in both seeds; SGC 0.1 and 0.2:
    # 0.150 +- 0.071 (sample std); the image-label run logged nothing.
    assert '| PseudoSeg | 0.300 ± 0.000 | 0.150 ± 0.071 | 0.250 ± 0.000 |' in (
        proc.stdout)
    assert '| PseudoSeg + image labels | n/a | n/a | n/a |' in proc.stdout
    out = _load(str(tmp_path / 'all' / 'results.json'))
    np.testing.assert_allclose(out['pseudo_label_miou']['pseudoseg']['sgc_miou'],
                               [0.1, 0.2])
    with open(str(tmp_path / 'all' / 'results.md')) as f:
      assert 'Teacher on the unlabeled crops' in f.read()


class TestSummarizeAblation:
  """scripts/summarize_ablation.py against hand-computed orderings."""

  def test_rows_and_orderings(self, tmp_path):
    root = str(tmp_path / 'ablation')
    # Last checkpoints (the highest step counts): fusion 0.6, 0.5; decoder
    # 0.5, 0.6; SGC 0.2, 0.3; hard 0.4, 0.45; supervised 0.55, 0.45.
    last = {'supervised': (0.55, 0.45), 'fusion': (0.6, 0.5),
            'dec': (0.5, 0.6), 'att': (0.2, 0.3), 'hard': (0.4, 0.45)}
    for row, values in last.items():
      for seed, value in enumerate(values):
        run_dir = os.path.join(root, 'seed%d' % seed, row)
        _write_results(run_dir, {1: 0.99, 5: value})
        if row != 'supervised':
          _write_scalars(run_dir, {'metrics/pseudo_miou': {5: 0.1 * (seed + 1)}})
    proc = _python('scripts/summarize_ablation.py', '--root=' + root,
                   '--seeds=0,1', '--rows=supervised,fusion,dec,att,hard')
    assert proc.returncode == 0, proc.stdout[-4000:]
    lines = proc.stdout.splitlines()
    # fusion: mean 0.55, sample std sqrt(2 * 0.05^2) = 0.0707; its teacher
    # scores 0.1 and 0.2.
    assert ('| fusion: calibrated, soft, T 0.5 (official) | 0.600 | 0.500 | '
            '0.550 ± 0.071 | 0.150 ± 0.071 |') in lines
    assert ('| supervised only (labeled images) | 0.550 | 0.450 | 0.500 ± '
            '0.071 | n/a |') in lines
    orderings = {l.split(':')[0].strip(): l.split(':')[1].split()
                 for l in lines if l.endswith(' seeds)')}
    # fusion - dec: +0.1, -0.1; fusion - att: +0.4, +0.2; dec - att: +0.3,
    # +0.3; fusion - hard: +0.2, +0.05; fusion - supervised: +0.05, +0.05.
    assert orderings == {
        'fusion > decoder alone': ['+0.000', '(1', 'of', '2', 'seeds)'],
        'fusion > CAM (SGC) alone': ['+0.300', '(2', 'of', '2', 'seeds)'],
        'decoder alone > CAM (SGC) alone': ['+0.300', '(2', 'of', '2',
                                            'seeds)'],
        'soft > hard': ['+0.125', '(2', 'of', '2', 'seeds)'],
        'PseudoSeg > supervised only': ['+0.050', '(2', 'of', '2', 'seeds)'],
    }
    out = _load(os.path.join(root, 'ablation.json'))
    np.testing.assert_allclose(out['miou']['att'], [0.2, 0.3])
    np.testing.assert_allclose(out['pseudo_label_miou']['dec'], [0.1, 0.2])
    with open(os.path.join(root, 'ablation.md')) as f:
      assert proc.stdout.strip().endswith(f.read().strip())

  def test_unknown_row_is_an_error(self, tmp_path):
    proc = _python('scripts/summarize_ablation.py', '--root=' + str(tmp_path),
                   '--seeds=0', '--rows=fusion,avg')
    assert proc.returncode != 0
    assert '--rows: no row avg' in proc.stdout


def _assert_initialises_a_run(backbone, records, tmp_path):
  """A 1-step train_sup.py run on other data (other classes) starts from `backbone`."""
  proc = _run_ok([sys.executable, os.path.join(ROOT, 'train_sup.py'),
                  '--record_dir=' + records.record_dir,
                  '--model_dir=' + str(tmp_path / 'target'),
                  '--init_checkpoint=' + backbone, '--train_steps=1'] +
                 conftest.embedded_flags() + TINY_MODEL.split(), _env())
  assert 'Backbone initialised from %s' % backbone in proc.stdout


class TestShellScripts:
  """The bash scripts, end to end on the tiny records, two steps per run."""

  def test_main_job(self, tiny_records, tmp_path):
    data, out = str(tmp_path / 'data'), str(tmp_path / 'out')
    os.makedirs(data)
    # DATA/tfrecord is the records dir: the script skips generation.
    os.symlink(tiny_records.record_dir, os.path.join(data, 'tfrecord'))
    # The main job's own backbone width (0.5), so that its default pretrained
    # backbone (pretrained/source_cls) loads; the rest of the model stays tiny.
    tiny = TINY_MODEL.replace('--width_multiplier=0.35 ', '')
    proc = _bash('main_job.sh', 3, DATA=data, OUT=out, NUM_LABELED=8,
                 SUP_STEPS=2, WSS_STEPS=2, FULL_STEPS=2,
                 EXTRA_FLAGS=tiny, WSS_FLAGS='--unsup_rampup_steps=5')
    assert 'generating' not in proc.stdout
    assert '== every run starts from the backbone in pretrained/source_cls' in (
        proc.stdout)
    assert proc.stdout.count(
        'Backbone initialised from pretrained/source_cls') == len(RUNS)
    assert os.path.isfile(os.path.join(data, 'splits', 'labeled_8_seed3.txt'))
    for run in RUNS:
      assert '== %s' % run in proc.stdout
      run_dir = os.path.join(out, run)
      # checkpoint_every=1: both checkpoints are scored (--all_checkpoints).
      assert _eval_steps(run_dir) == [1, 2], run
      assert _load(os.path.join(run_dir, 'eval.json'))['step'] == 2
      cfg = _load(os.path.join(run_dir, 'config.json'))
      assert cfg['train']['train_steps'] == 2  # The overrides reached the run.
      assert cfg['train']['seed'] == 3
      assert cfg['model']['aspp_filters'] == 16
    assert _load(os.path.join(out, 'pseudoseg_image_labels', 'config.json'))[
        'data']['use_image_labels']
    for run in RUNS:  # WSS_FLAGS and CAM_LEVEL reach the PseudoSeg runs only.
      cfg = _load(os.path.join(out, run, 'config.json'))
      assert cfg.get('rampup', {}).get('unsup_rampup_steps', 0) == (
          5 if run.startswith('pseudoseg') else 0), run
      assert cfg['model'].get('cam_level', '') == (
          '2' if run.startswith('pseudoseg') else ''), run
      assert cfg['train']['init_checkpoint'] == 'pretrained/source_cls', run
    assert _load(os.path.join(out, 'sup_few', 'config.json'))['data'][
        'labeled_ids'].endswith('labeled_8_seed3.txt')
    assert _load(os.path.join(out, 'sup_full', 'config.json'))['data'][
        'labeled_ids'] == ''
    rows = _assert_table(proc.stdout.split('val mIoU, 1 seed')[-1], 8)
    with open(os.path.join(out, 'results.md')) as f:
      assert _table_rows(f.read()) == rows
    table = _load(os.path.join(out, 'results.json'))['miou']
    for run in RUNS:
      assert len(table[run]['last']) == 1, run

  def test_rehearse_voc(self, tmp_path):
    # The real recipes, as commands: each paper preset on the VOC-shaped set,
    # mirrored over 2 logical CPUs, its batch shrunk, nothing else changed.
    proc = _bash('rehearse_voc.sh', DRY_RUN=1, DATA=str(tmp_path / 'dry'))
    lines = proc.stdout.splitlines()
    assert 'datasets/make_voc_shaped.py' in lines[0]
    assert '--width=500 --height=375' in lines[0]
    assert 'datasets/build_voc2012_data.py' in lines[1]
    assert lines[2].endswith('-m benchmarks.rehearse_voc --record_dir=%s/dry/'
                             'tfrecord --work_dir=runs/rehearse_voc --steps=3 '
                             '--replicas=2 --batch_per_replica=1' % tmp_path)
    # For real on tiny images with the smoke presets: the table, the JSON, the
    # evaluation at the images' own size and the export.
    data, work = str(tmp_path / 'data'), str(tmp_path / 'work')
    proc = _bash(
        'rehearse_voc.sh', DATA=data, WORK=work, NUM_SBD=4, NUM_VAL=2, WIDTH=48,
        HEIGHT=36, timeout=900, EXTRA_FLAGS=(
            '--experiments=smoke_pseudoseg '
            '--train_flag=--unlabeled_split=train_aug '
            '--train_flag=--labeled_ids=%s' % os.path.join(
                ROOT, 'datasets', 'split_lists', 'voc', '16_clean_3.txt')))
    assert re.search(r'\| smoke_pseudoseg \(4 steps of 2 \+ 2\) \| ',
                     proc.stdout), proc.stdout
    out = _load(os.path.join(work, 'rehearsal.json'))
    assert list(out['recipes']) == ['smoke_pseudoseg']
    r = out['recipes']['smoke_pseudoseg']
    assert r['step_s'] > 0 and r['peak_rss_mb'] > 100, r
    # 7 forwards a crop (labeled and strong view trained, weak view forward)
    # at the recipe's batch of 2 + 2.
    assert r['forward_tflop'] > 0
    assert np.isclose(r['paper_step_tflop'], 7 * 2 * r['forward_tflop'])
    assert np.isclose(r['gpu_hours_1'], 8 * r['gpu_hours_8'])
    with open(os.path.join(work, 'smoke_pseudoseg.log')) as f:
      assert 'num_devices = 2' in f.read()
    assert out['eval']['num_images'] == 2
    assert 0.0 <= out['eval']['miou'] <= 1.0
    assert os.path.exists(os.path.join(work, 'export', 'saved_model.pb'))
    # A bad recipe name stops before any run.
    proc = _run(['bash', os.path.join(ROOT, 'scripts', 'rehearse_voc.sh')],
                _env(DATA=data, WORK=str(tmp_path / 'bad'),
                     EXTRA_FLAGS='--experiments=voc_r101_sup_93'), 120)
    assert proc.returncode != 0
    assert "No experiment 'voc_r101_sup_93'" in proc.stdout
    assert not os.path.exists(str(tmp_path / 'bad' / 'voc_r101_sup_93.log'))

  def test_ablation_table(self, tiny_records, tmp_path):
    # Every row on every seed, as commands: one recipe, one change per row.
    proc = _bash('ablation_table.sh', DRY_RUN=1, ROOT=str(tmp_path / 'dry'))
    trains = [l.split() for l in proc.stdout.splitlines()
              if '--experiment=' in l]
    assert len(trains) == 8 * 3
    changes = {}
    for argv in trains:
      run_dir = [a for a in argv if a.startswith('--model_dir=')][0]
      seed = [a for a in argv if a.startswith('--seed=')][0]
      assert run_dir.endswith('/seed%s/' % seed[7:] + run_dir.split('/')[-1])
      changes[run_dir.split('/')[-1]] = (argv[1], argv[2], argv[3:argv.index(
          seed)])
    assert changes['supervised'] == ('train_sup.py',
                                     '--experiment=embedded_sup_few', [])
    assert changes['fusion'] == ('train_wss.py',
                                 '--experiment=embedded_pseudoseg', [])
    assert changes['dec'][2] == ['--pseudo_src=dec']
    assert changes['hard'][2] == ['--nosoft_labels']
    assert changes['uncalibrated'][2] == ['--logit_norm=none']
    assert '--cutout_size=0' in changes['no_strong'][2]
    proc = _run(['bash', os.path.join(ROOT, 'scripts', 'ablation_table.sh')],
                _env(DRY_RUN=1, ROWS='fusion soft'), 60)
    assert proc.returncode == 2 and "ROWS: no row 'soft'" in proc.stdout
    # Two rows for real, two steps each: the table and its ordering line.
    data, root = str(tmp_path / 'data'), str(tmp_path / 'runs')
    os.makedirs(data)
    os.symlink(tiny_records.record_dir, os.path.join(data, 'tfrecord'))
    tiny = TINY_MODEL.replace('--width_multiplier=0.35 ', '')
    proc = _bash('ablation_table.sh', 1, DATA=data, ROOT=root, NUM_LABELED=8,
                 ROWS='supervised fusion', MODE='image_labels',
                 EXTRA_FLAGS=tiny + ' --train_steps=2')
    assert _eval_steps(os.path.join(root, 'seed1', 'fusion')) == [2]
    cfg = _load(os.path.join(root, 'seed1', 'fusion', 'config.json'))
    assert cfg['data']['use_image_labels'] and cfg['train']['seed'] == 1
    assert cfg['data']['labeled_ids'].endswith('labeled_8_seed1.txt')
    assert 'PseudoSeg with image labels, 1 seed' in proc.stdout
    assert 'PseudoSeg > supervised only:' in proc.stdout
    assert os.path.isfile(os.path.join(root, 'ablation.json'))

  def test_build_pretrained_backbone(self, tiny_records, tmp_path):
    data, work = str(tmp_path / 'source'), str(tmp_path / 'work')
    out = str(tmp_path / 'backbone')
    proc = _bash('build_pretrained_backbone.sh', out, DATA=data, WORK=work,
                 NUM_TRAIN=4, NUM_VAL=2, STEPS1=2, STEPS2=2,
                 EXTRA_FLAGS=TINY_MODEL)
    # Stage 1 is scripts/pretrain_source.sh: the source set, a scored run.
    assert '== generating the source data set' in proc.stdout
    info = _load(os.path.join(data, 'tfrecord', 'dataset_info.json'))
    assert info['name'] == 'synthetic_source'
    assert info['splits_to_sizes'] == {'train': 4, 'val': 2}
    assert _load(os.path.join(work, 'segmentation', 'eval.json'))['step'] == 2
    assert ('Backbone for --init_checkpoint: %s' % os.path.join(
        work, 'segmentation')) in proc.stdout
    # Stage 2 starts from it.
    stage2 = _load(os.path.join(work, 'classification', 'config.json'))
    assert stage2['train']['init_checkpoint'] == os.path.join(work, 'segmentation')
    assert stage2['data']['use_image_labels']
    assert stage2['loss']['unsup_weight'] == 0
    info = _load(os.path.join(out, 'backbone.json'))
    assert info['fits'] == {'backbone': 'mobilenet_v2', 'width_multiplier': 0.35,
                            'output_stride': 16}
    assert info['source_run'] == os.path.join(work, 'classification')
    assert info['source_eval']['step'] == 2
    assert 'Backbone for --init_checkpoint: %s' % out in proc.stdout
    _assert_initialises_a_run(out, tiny_records, tmp_path)
    # A second build into the same directory stops before any training.
    before = sorted(os.listdir(out))
    proc = _run(['bash', os.path.join(ROOT, 'scripts',
                                      'build_pretrained_backbone.sh'), out],
                _env(DATA=data, WORK=str(tmp_path / 'work2')))
    assert proc.returncode != 0
    assert '%s already holds a backbone' % out in proc.stdout
    assert not os.path.exists(str(tmp_path / 'work2'))
    assert sorted(os.listdir(out)) == before

  def test_build_broad_backbone(self, tiny_records, tmp_path):
    data, work = str(tmp_path / 'broad'), str(tmp_path / 'work')
    out = str(tmp_path / 'backbone')
    proc = _bash('build_broad_backbone.sh', out, DATA=data, WORK=work,
                 NUM_TRAIN=4, NUM_VAL=2, STEPS=2, BATCH=2,
                 EXTRA_FLAGS=TINY_MODEL)
    assert '== generating the broad data set' in proc.stdout
    info = _load(os.path.join(data, 'tfrecord', 'dataset_info.json'))
    assert info['name'] == 'synthetic_broad'
    config = _load(os.path.join(work, 'config.json'))
    assert config['model']['pseudoseg_heads']
    assert config['data']['crop_size'] == [128, 128]
    backbone = _load(os.path.join(out, 'backbone.json'))
    assert backbone['source_run'] == work
    assert backbone['source_eval']['dataset'] == 'synthetic_broad'
    assert backbone['source_eval']['step'] == 2
    assert 'mean F1' in proc.stdout
    assert 'Backbone for --init_checkpoint: %s' % out in proc.stdout
    _assert_initialises_a_run(out, tiny_records, tmp_path)
    proc = _run(['bash', os.path.join(ROOT, 'scripts',
                                      'build_broad_backbone.sh'), out],
                _env(DATA=data, WORK=str(tmp_path / 'work2')))
    assert proc.returncode != 0
    assert '%s already holds a backbone' % out in proc.stdout

  def test_make_embedded_data(self, tmp_path):
    """The data step main_job.sh and pretrain_source.sh share, with a variant's flags."""
    data = str(tmp_path / 'cues')
    call = ('source scripts/embedded_flags.sh && make_embedded_data "$0" variant '
            '--seed=1 --num_train=3 --num_val=2 --image_size=48 '
            '--class_hue_prob=1 --class_shape_prob=1')
    proc = _run_ok(['bash', '-c', call, data], _env(), 300)
    assert '== generating the variant data set in %s' % data in proc.stdout
    info = _load(os.path.join(data, 'tfrecord', 'dataset_info.json'))
    assert info['name'] == 'synthetic'
    assert info['splits_to_sizes'] == {'train': 3, 'val': 2}
    # A set that is there already is kept as it is.
    proc = _run_ok(['bash', '-c', call, data], _env(), 300)
    assert 'generating' not in proc.stdout
    # A bad generator flag stops the caller (set -e) with the reason.
    proc = _run(['bash', '-c', 'set -e; ' + call.replace('hue_prob=1', 'hue_prob=3')
                 + '; echo after', str(tmp_path / 'bad')], _env())
    assert proc.returncode != 0
    assert 'hue_prob must be in [0, 1]' in proc.stdout
    assert 'after' not in proc.stdout

  def test_run_seeds(self, tmp_path):
    """run_seeds.sh's own logic, with main_job.sh replaced by a stub.

    The real main job is covered by test_main_job; here each 'main job' writes
    fake evaluations whose mIoU is 0.1 * (seed + 1), so the table over the seeds
    is known.
    """
    repo = tmp_path / 'repo'
    (repo / 'scripts').mkdir(parents=True)
    for name in ('run_seeds.sh', 'summarize_results.py', 'run_results.py'):
      shutil.copy(os.path.join(ROOT, 'scripts', name), str(repo / 'scripts'))
    (repo / 'scripts' / 'main_job.sh').write_text(
        'set -eu\n'
        'cd "$(dirname "$0")/.."\n'
        'echo "stub main job seed $1 into ${OUT}" >> calls.txt\n'
        'for run in sup_few pseudoseg pseudoseg_image_labels sup_full; do\n'
        '  mkdir -p "${OUT}/${run}/eval"\n'
        '  echo "{\\"step\\": 2, \\"miou\\": 0.$(( $1 + 1 ))}" \\\n'
        '      > "${OUT}/${run}/eval/results-2.json"\n'
        'done\n')
    root = str(tmp_path / 'runs')
    proc = _run_ok(['bash', str(repo / 'scripts' / 'run_seeds.sh'), '0', '2'],
                   _env(ROOT=root, NUM_LABELED=8), timeout=120)
    assert (repo / 'calls.txt').read_text().splitlines() == [
        'stub main job seed 0 into %s/seed0' % root,
        'stub main job seed 2 into %s/seed2' % root]
    # Seeds 0 and 2: mIoU 0.1 and 0.3, mean 0.2, sample std sqrt(0.02) = 0.1414.
    rows = _assert_table(proc.stdout, 8)
    assert rows['last'][2:] == ['0.200 ± 0.141'] * 4
    assert 'val mIoU, 2 seeds (%s/seed0, %s/seed2)' % (root, root) in proc.stdout
    out = _load(os.path.join(root, 'results.json'))
    assert out['runs_dirs'] == [root + '/seed0', root + '/seed2']
    assert out['num_labeled'] == 8
    with open(os.path.join(root, 'results.md')) as f:
      assert _table_rows(f.read()) == rows

  def test_local_test(self, tmp_path):
    work = str(tmp_path / 'local_test')
    proc = _bash('local_test.sh', WORK=work)
    assert 'SavedModel written to' in proc.stdout
    assert proc.stdout.count('mIoU ') >= 2
    assert os.path.isfile(os.path.join(work, 'export', 'saved_model.pb'))

  # The paper's tables: (script, its argument, the cells, their recipes'
  # pattern, the paper's figure of the first cell).
  PAPER_TABLES = [
      ('voc_sup.sh', (), ('92', '183', '366', '732', '1464'),
       'voc_r101_sup_%s', '45.1'),
      ('voc_pseudoseg.sh', ('unlabeled',), ('92', '183', '366', '732', '1464'),
       'voc_r101_pseudoseg_%s', '57.60'),
      ('voc_pseudoseg.sh', ('image_labels',),
       ('92', '183', '366', '732', '1464'),
       'voc_r101_pseudoseg_image_labels_%s', 'n/a'),
      ('coco_pseudoseg.sh', (), ('512', '256', '128', '64', '32'),
       'coco_r101_pseudoseg_%s', '29.78'),
  ]

  @pytest.mark.parametrize('script,args,cells,pattern,paper', PAPER_TABLES)
  def test_paper_table_is_one_recipe_per_cell(self, tmp_path, script, args,
                                              cells, pattern, paper):
    root = str(tmp_path / 'runs')
    proc = _bash(script, *args, DRY_RUN=1, INIT_CHECKPOINT='/ckpt/r101',
                 ROOT=root, EXTRA_FLAGS='--train_steps=7')
    trains = [l.split() for l in proc.stdout.splitlines()
              if '--experiment=' in l]
    evals = [l.split() for l in proc.stdout.splitlines()
             if 'train_sup_eval.py' in l]
    assert len(trains) == len(evals) == len(cells), proc.stdout
    for cell, train, evaluation in zip(cells, trains, evals):
      experiment = pattern % cell
      run_dir = os.path.join(root, experiment)
      assert train[1] in ('train_sup.py', 'train_wss.py')
      assert train[2:] == ['--experiment=' + experiment,
                           '--model_dir=' + run_dir,
                           '--init_checkpoint=/ckpt/r101',
                           '--train_steps=7'], train
      assert evaluation[2] == '--model_dir=' + run_dir
      # Each cell's recipe exists and is run by the binary the script names.
      assert experiments.get(experiment).binary == train[1]
    assert '== %s: paper mIoU %s' % (pattern % cells[0], paper) in proc.stdout
    # CELLS picks cells; nothing runs without a backbone or with a wrong cell.
    proc = _bash(script, *args, DRY_RUN=1, ALLOW_RANDOM_INIT=1,
                 CELLS=cells[-1], RECORD_DIR='/data/tfrecord')
    train = [l.split() for l in proc.stdout.splitlines()
             if '--experiment=' in l]
    assert len(train) == 1
    assert train[0][2] == '--experiment=' + pattern % cells[-1]
    assert train[0][4:] == ['--allow_random_init',
                            '--record_dir=/data/tfrecord'], train
    for env, message in ((dict(), 'INIT_CHECKPOINT: '),
                         (dict(INIT_CHECKPOINT='x', CELLS='7'),
                          "CELLS: no cell '7' in this table")):
      proc = _run(['bash', os.path.join(ROOT, 'scripts', script)] + list(args),
                  _env(DRY_RUN=1, ROOT=root, **env), 60)
      assert proc.returncode == 2, proc.stdout
      assert proc.stdout.strip().startswith(message), proc.stdout
      assert '--experiment' not in proc.stdout
    assert not os.path.exists(root)

  def test_paper_cell_trains_and_evaluates(self, voc_records, tiny_records,
                                          tmp_path):
    """One cell for real: the recipe (train_aug unlabeled, its image labels,
    the paper's pseudo label) under the script's overrides."""
    root = str(tmp_path / 'runs')
    proc = _bash('voc_pseudoseg.sh', 'image_labels', CELLS='92',
                 ALLOW_RANDOM_INIT=1, RECORD_DIR=voc_records, ROOT=root,
                 EVAL_SIZE='64,64', EXTRA_FLAGS=TINY_RECIPE +
                 ' --labeled_ids=' + tiny_records.labeled_ids)
    run_dir = os.path.join(root, 'voc_r101_pseudoseg_image_labels_92')
    assert 'mIoU ' in proc.stdout.split('paper mIoU n/a')[-1]
    assert _eval_steps(run_dir) == [2]
    cfg = _load(os.path.join(run_dir, 'config.json'))
    assert cfg['data']['record_dir'] == voc_records
    assert cfg['data']['unlabeled_split'] == 'train_aug'
    assert cfg['data']['use_image_labels']
    assert (cfg['pseudo_label']['pseudo_src'],
            cfg['pseudo_label']['temperature']) == ('avg', 0.5)
    assert cfg['train']['strategy'] == 'mirrored'
    assert cfg['data']['crop_size'] == [65, 65]
    assert cfg['model']['backbone'] == 'mobilenet_v2'
