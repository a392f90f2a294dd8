r"""Speed and memory of the project's training, evaluation and input, side by side
with Model Garden's own training step and the machine's matmul peak.

Usage:
  python -m benchmarks.run --quick          # about 5 minutes on 2 CPU cores
  python -m benchmarks.run                  # the full run (longer, more repetitions)
  python -m benchmarks.run --config=smoke   # a tiny model: checks the plumbing

Every figure is the median over interleaved repetitions after a warm-up. Prints a
table (the targets beside the ratios) and writes the figures as JSON
(--output_json). BENCHMARKS.md shows the latest table.
"""

# First: keeps TensorFlow's start-up noise off the screen (launch/quiet_start.py).
from launch import quiet_start  # pylint: disable=unused-import,g-bad-import-order

import json
import os
import tempfile

from absl import flags
from absl import logging
import tensorflow as tf

from benchmarks import configs
from benchmarks import data
from benchmarks import machine
from benchmarks import pipelines
from benchmarks import processes
from benchmarks import report
from benchmarks import steps
from benchmarks import timing
from cli import experiment_lib
from core import config as config_lib
from core.training import trainer
from datasets import record_format
from launch import app as launch_app

_CONFIG = flags.DEFINE_enum('config', 'embedded', ['embedded', 'smoke'],
                            'The model and schedule measured: the main job\'s '
                            '(embedded) or a tiny one (smoke).')
_QUICK = flags.DEFINE_bool('quick', False, 'Fewer repetitions and steps.')
_MIXED_PRECISION = flags.DEFINE_enum(
    'mixed_precision', '', ['', 'mixed_bfloat16'],
    'Precision of every measurement ("" = float32).')
_WORK_DIR = flags.DEFINE_string(
    'work_dir', '', 'Where the data set and the binaries\' runs go (default: a '
    'new temporary directory).')
_OUTPUT_JSON = flags.DEFINE_string('output_json', 'benchmarks/results.json',
                                   'Where the figures are written.')
_SKIP = flags.DEFINE_list(
    'skip', [], 'Groups to leave out: steps, flops, input, eval, binaries, '
    'matmul.')

_GROUPS = ('steps', 'flops', 'input', 'eval', 'binaries', 'matmul')


def _sizes(quick, config):
  if config == 'smoke':
    return dict(repeats=2, steps=2, binary_steps=8, binary_repeats=1,
                input_batches=4,
                num_train=12, num_val=4, image_size=48, num_labeled=4,
                matmul_n=256)
  if quick:
    return dict(repeats=5, steps=20, binary_steps=200, binary_repeats=2,
                input_batches=20,
                num_train=120, num_val=100, image_size=128, num_labeled=20,
                matmul_n=2048)
  return dict(repeats=5, steps=25, binary_steps=400, binary_repeats=2,
              input_batches=50,
              num_train=200, num_val=200, image_size=128, num_labeled=20,
              matmul_n=2048)


def _in_process(cfg, sizes, skip):
  """The compiled steps, their FLOPs, the input pipelines and evaluation."""
  results = {}
  strategy = tf.distribute.get_strategy()
  descriptor = experiment_lib.dataset_info(cfg)
  n = descriptor.num_classes
  wss_cfg = config_lib.override(
      cfg, pseudoseg_heads=True,
      unlabeled_batch_size=cfg.train.batch_size)
  ctx = tf.distribute.InputContext()
  labeled = experiment_lib.labeled_dataset_fn(cfg, descriptor)(ctx, 0)
  paired = tf.data.Dataset.zip({
      'labeled': experiment_lib.labeled_dataset_fn(wss_cfg, descriptor)(ctx, 0),
      'unlabeled': experiment_lib.unlabeled_dataset_fn(wss_cfg, descriptor)(
          ctx, 0)})
  sup_task = experiment_lib.build_task(cfg, descriptor, pseudoseg=False)
  wss_task = experiment_lib.build_task(wss_cfg, descriptor, pseudoseg=True)
  model, optimizer = experiment_lib.build_model_and_optimizer(cfg, strategy, n)
  wss_model, wss_optimizer = experiment_lib.build_model_and_optimizer(
      wss_cfg, strategy, n)
  wss_task.build_state(wss_model)
  sup_step = steps.bind(sup_task, model, optimizer)
  mg_step = steps.model_garden_step(model, optimizer, descriptor.ignore_label)
  wss_step = steps.bind(wss_task, wss_model, wss_optimizer)
  batch_images = cfg.train.batch_size
  paired_images = 2 * cfg.train.batch_size

  timers = {}
  if 'steps' not in skip:
    timers['sup_step_s'] = steps.loop_timer(strategy, sup_step, labeled,
                                            sizes['steps'])
    timers['model_garden_step_s'] = steps.loop_timer(strategy, mg_step, labeled,
                                                     sizes['steps'])
    timers['pseudoseg_step_s'] = steps.loop_timer(strategy, wss_step, paired,
                                                  sizes['steps'])
  if 'input' not in skip:
    timers['input_images_per_s'] = pipelines.input_timer(
        paired, sizes['input_batches'], paired_images)
  if 'eval' not in skip:
    files = record_format.list_shards(cfg.data.record_dir, 'val')
    dataset = experiment_lib.eval_dataset(files, None, 1)
    timers['eval_images_per_s'] = pipelines.eval_timer(
        model, dataset, n, descriptor.ignore_label)
    timers['bare_model_images_per_s'] = pipelines.bare_model_timer(
        model, dataset)
  if 'matmul' not in skip:
    dtype = tf.bfloat16 if cfg.train.mixed_precision else tf.float32
    timers['matmul_gflops'] = steps.matmul_timer(sizes['matmul_n'], dtype)
  logging.info('Measuring %s (%d repetitions after a warm-up).',
               ', '.join(timers), sizes['repeats'])
  measured = timing.interleaved(timers, sizes['repeats'])
  results.update({k: v['median'] for k, v in measured.items()})
  results['repetitions'] = {k: v['values'] for k, v in measured.items()}
  if 'pseudoseg_step_s' in results:
    results['model_images_per_s'] = paired_images / results['pseudoseg_step_s']
    results['sup_model_images_per_s'] = batch_images / results['sup_step_s']
  if 'flops' not in skip:
    images = next(iter(labeled))['image']
    # Trained passes cost 3 forwards (steps.py); PseudoSeg trains on the
    # labeled and the strong view and runs the teacher on the weak one.
    results['sup_step_gflop'] = 3 * steps.forward_flops(model, images) / 1e9
    results['pseudoseg_step_gflop'] = 7 * steps.forward_flops(
        wss_model, images) / 1e9
    if 'sup_step_s' in results:
      results['train_gflops'] = results['sup_step_gflop'] / results['sup_step_s']
      results['pseudoseg_train_gflops'] = (results['pseudoseg_step_gflop'] /
                                           results['pseudoseg_step_s'])
  return results


def _binaries(flag_list, record_dir, labeled, unlabeled, sizes, work_dir,
              batch_size):
  """The real train_sup.py and train_wss.py, interleaved, fresh run dirs."""
  common = list(flag_list) + ['--record_dir=%s' % record_dir,
                              '--labeled_ids=%s' % labeled,
                              '--train_steps=%d' % sizes['binary_steps']]
  runs = {'train_sup.py': common,
          'train_wss.py': common + ['--unlabeled_ids=%s' % unlabeled,
                                    '--unlabeled_batch_size=%d' % batch_size]}
  counter = {'n': 0}
  found = {name: [] for name in runs}

  def timer(script):
    def measure():
      counter['n'] += 1
      run = os.path.join(work_dir, 'run%d_%s' % (counter['n'], script[:-3]))
      logging.info('Running %s (%d steps) into %s.', script,
                   sizes['binary_steps'], run)
      found[script].append(processes.run_binary(
          script, runs[script] + ['--model_dir=%s' % run], run + '.log',
          timeout=3600))
      return found[script][-1]['step_s']
    return measure

  # Twice each, alternating, but once in the smoke run: one run of a binary
  # is at the mercy of a slow spell of the machine.
  repeats = sizes['binary_repeats']
  measured = timing.interleaved({s: timer(s) for s in runs}, repeats, warmup=0)
  return {
      'binary_sup_step_s': measured['train_sup.py']['median'],
      'binary_pseudoseg_step_s': measured['train_wss.py']['median'],
      'binary_wall_s': {s: [r['wall_s'] for r in v] for s, v in found.items()},
      'peak_rss_mb': {s: max(r['peak_rss_mb'] for r in v)
                      for s, v in found.items()},
  }


def main(argv):
  del argv
  skip = set(_SKIP.value)
  unknown = skip - set(_GROUPS)
  if unknown:
    raise ValueError(
        '--skip: unknown group(s) %s; groups: %s.' % (
            ', '.join(sorted(unknown)), ', '.join(_GROUPS)))
  sizes = _sizes(_QUICK.value, _CONFIG.value)
  work_dir = _WORK_DIR.value or tempfile.mkdtemp(prefix='pseudoseg_bench_')
  os.makedirs(work_dir, exist_ok=True)
  out_dir = os.path.dirname(os.path.abspath(_OUTPUT_JSON.value))
  os.makedirs(out_dir, exist_ok=True)
  logging.info('Work dir %s.', work_dir)
  record_dir, labeled, unlabeled = data.make_records(
      work_dir, sizes['num_train'], sizes['num_val'], sizes['image_size'],
      sizes['num_labeled'])
  flag_list = list(configs.flags_of(_CONFIG.value))
  if _MIXED_PRECISION.value:
    flag_list.append('--mixed_precision=%s' % _MIXED_PRECISION.value)
  cfg = configs.config_from_flags(flag_list, record_dir=record_dir,
                                  labeled_ids=labeled, unlabeled_ids=unlabeled)
  trainer.set_precision(cfg.train.mixed_precision)
  results = {'config': _CONFIG.value, 'quick': _QUICK.value,
             'mixed_precision': _MIXED_PRECISION.value or 'float32',
             'batch_size': cfg.train.batch_size,
             'crop_size': list(cfg.data.crop_size),
             'backbone': cfg.model.backbone, 'sizes': sizes,
             'machine': machine.describe()}
  results.update(_in_process(cfg, sizes, skip))
  if 'binaries' not in skip:
    results.update(_binaries(flag_list, record_dir, labeled, unlabeled, sizes,
                             work_dir, cfg.train.batch_size))
  with open(_OUTPUT_JSON.value, 'w') as f:
    json.dump(results, f, indent=1, sort_keys=True)
  print(report.table(results))
  print('Written to %s' % _OUTPUT_JSON.value)


if __name__ == '__main__':
  launch_app.run(main)
