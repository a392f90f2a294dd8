"""Tests for benchmarks/: the timing, the log parsing, the ratios, the configs
read from the binaries' own flags, and a whole run on a tiny model."""

import json
import os
import subprocess
import sys

import pytest

from benchmarks import configs
from benchmarks import processes
from benchmarks import report
from benchmarks import timing
from tests import testing_utils


class TestInterleaved:

  def test_rotates_the_order_and_takes_medians(self):
    order = []
    values = {'a': iter([9.0, 1.0, 2.0, 3.0]), 'b': iter([9.0, 10.0, 30.0, 20.0])}

    def fn(name):
      def measure():
        order.append(name)
        return next(values[name])
      return measure

    out = timing.interleaved({'a': fn('a'), 'b': fn('b')}, repeats=3)
    # Warm-up a b, then rounds a b | b a | a b.
    assert order == ['a', 'b', 'a', 'b', 'b', 'a', 'a', 'b']
    assert out['a'] == {'median': 2.0, 'values': [1.0, 2.0, 3.0]}
    assert out['b'] == {'median': 20.0, 'values': [10.0, 30.0, 20.0]}


_LOG = '''I1204 23:59:50.000000 1 run.py:1] 6 classes
I1204 23:59:58.500000 140 trainer.py:306] step 25/100 | loss 1.0 | lr 0.1 | 3.0 img/s | ETA 1m
I1204 23:59:59.000000 140 checkpoint_management.py:1] saved
I1205 00:00:08.500000 140 trainer.py:306] step 50/100 | loss 0.9 | lr 0.1 | 3.0 img/s | ETA 1m
I1205 00:00:21.000000 140 trainer.py:306] step 75/100 | loss 0.8 | lr 0.1 | 3.0 img/s | ETA 1m
'''


class TestBinaryLog:

  def test_steady_step_from_the_second_progress_line_to_the_last(self):
    # 00:00:08.5 -> 00:00:21.0: 12.5 s for 25 steps (the loop to step 50 is
    # warm-up).
    assert processes.steady_step_seconds(_LOG) == pytest.approx(12.5 / 25)
    # 23:59:58.5 -> 00:00:21.0 across midnight: 22.5 s for 50 steps.
    assert processes.steady_step_seconds(
        _LOG, warmup_loops=0) == pytest.approx(22.5 / 50)

  def test_too_few_progress_lines_is_an_error(self):
    with pytest.raises(ValueError, match='Fewer than 3 progress lines'):
      processes.steady_step_seconds('\n'.join(_LOG.splitlines()[:3]))


class TestRatios:

  def test_ratios_and_targets(self):
    results = {'binary_sup_step_s': 0.33, 'sup_step_s': 0.3,
               'model_garden_step_s': 0.3, 'pseudoseg_step_s': 0.69,
               'input_images_per_s': 50.0, 'model_images_per_s': 20.0,
               'eval_images_per_s': 9.0, 'bare_model_images_per_s': 10.0}
    got = {name: (value, ok) for name, value, _, _, ok in report.ratios(results)}
    assert got['binary / compiled supervised step'] == (pytest.approx(1.1),
                                                        True)
    assert got['supervised step / Model Garden step'] == (1.0, True)
    assert got['PseudoSeg step / supervised step'] == (pytest.approx(2.3), True)
    assert got['input / model images/s'] == (2.5, False)
    assert got['evaluation / bare model images/s'] == (0.9, True)
    # Figures not measured give no ratio.
    assert 'binary / compiled PseudoSeg step' not in got
    table = report.table(results)
    assert '| input / model images/s | 2.50 | >= 3.00 | no |' in table


class TestConfigs:

  def test_embedded_flags_give_the_main_jobs_config(self):
    cfg = configs.config_from_flags(configs.embedded_flags(), record_dir='R')
    assert cfg.data.crop_size == (96, 96)
    assert cfg.model.backbone == 'mobilenet_v2'
    assert cfg.model.width_multiplier == 0.5
    assert cfg.train.batch_size == 8
    assert cfg.train.base_learning_rate == 0.1
    assert cfg.data.record_dir == 'R'

  def test_booleans_and_unknown_names(self):
    cfg = configs.config_from_flags(['--nouse_image_labels', '--pseudoseg_heads'])
    assert cfg.data.use_image_labels is False
    assert cfg.model.pseudoseg_heads is True
    with pytest.raises(KeyError):
      configs.config_from_flags(['--no_such_setting=3'])


@pytest.mark.slow
def test_a_whole_run_on_a_tiny_model(tmp_path):
  out = str(tmp_path / 'results.json')
  env = dict(os.environ, PYTHONPATH=testing_utils.ROOT)
  proc = subprocess.run(
      [sys.executable, '-m', 'benchmarks.run', '--config=smoke',
       '--output_json=' + out, '--work_dir=' + str(tmp_path / 'work')],
      cwd=testing_utils.ROOT, env=env, stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT, text=True, timeout=1500)
  assert proc.returncode == 0, proc.stdout[-4000:]
  with open(out) as f:
    results = json.load(f)
  for key in ('sup_step_s', 'model_garden_step_s', 'pseudoseg_step_s',
              'binary_sup_step_s', 'binary_pseudoseg_step_s',
              'input_images_per_s', 'model_images_per_s', 'matmul_gflops',
              'train_gflops', 'eval_images_per_s', 'bare_model_images_per_s'):
    assert results[key] > 0, key
  assert set(results['peak_rss_mb']) == {'train_sup.py', 'train_wss.py'}
  assert all(300 < mb < 20000 for mb in results['peak_rss_mb'].values())
  assert results['machine']['tensorflow']
  assert '| ratio | value | target | met |' in proc.stdout
