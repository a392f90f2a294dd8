r"""The paper's VOC recipe at its real shapes, rehearsed on a CPU: time, memory, FLOPs.

Usage (scripts/rehearse_voc.sh makes the data and calls this):

  python -m benchmarks.rehearse_voc --record_dir=data/voc_shaped/tfrecord \
      --work_dir=runs/rehearse_voc

Runs each named recipe (--experiments, the paper's presets: DilatedResNet-101, OS
16, crop 513, their schedule and loss settings) as a user would, under
MirroredStrategy over --replicas logical CPU devices, with only the batch shrunk
(--batch_per_replica labeled + as many unlabeled per replica) and --steps steps;
then evaluates the last run's checkpoint on --eval_split at each image's own
size and exports it. Records the steady step time and the peak resident memory of
every process, counts the FLOPs of one forward pass at the crop (TensorFlow's
profiler), and from them the FLOPs of a step at the paper's batch (64 + 64: a
trained pass costs about 3 forwards, so a supervised step 3 x 64 forwards and a
PseudoSeg step 7 x 64: labeled and strong views trained, the weak view forward
only) and the GPU time of a whole paper cell at an assumed sustained throughput
(--gpu_tflops per GPU; linear scaling over GPUs, so the 8-GPU figure is a lower
bound). Prints a table and writes --output_json.
"""

# First: keeps TensorFlow's start-up noise off the screen (launch/quiet_start.py).
from launch import quiet_start  # pylint: disable=unused-import,g-bad-import-order

import json
import os

from absl import flags
from absl import logging
import tensorflow as tf

from benchmarks import machine
from benchmarks import processes
from benchmarks import steps
from core import experiments
from core.modeling import model as model_lib
from datasets import descriptors
from launch import app as launch_app

_RECORD_DIR = flags.DEFINE_string(
    'record_dir', 'data/voc_shaped/tfrecord', 'VOC-shaped records (train, '
    'val, train_aug: datasets/make_voc_shaped.py, then build_voc2012_data.py).')
_WORK_DIR = flags.DEFINE_string('work_dir', 'runs/rehearse_voc',
                                'Run directories, logs and the export.')
_EXPERIMENTS = flags.DEFINE_list(
    'experiments', ['voc_r101_sup_92', 'voc_r101_pseudoseg_92'],
    'Paper recipes to rehearse (--experiment=list of train_sup.py shows '
    'them); the last one is evaluated and exported.')
_STEPS = flags.DEFINE_integer(
    'steps', 3, 'Training steps per recipe (the step time is read from the '
    'second to the last).', lower_bound=3)
_REPLICAS = flags.DEFINE_integer('replicas', 2, 'Logical CPU devices.',
                                 lower_bound=1)
_BATCH_PER_REPLICA = flags.DEFINE_integer(
    'batch_per_replica', 1, 'Labeled (and unlabeled) images per replica.',
    lower_bound=1)
_EVAL_SPLIT = flags.DEFINE_string('eval_split', 'val', 'Split evaluated.')
_GPU_TFLOPS = flags.DEFINE_float(
    'gpu_tflops', 100.0, 'Assumed sustained training throughput of one GPU, '
    'TFLOP/s (an assumption, not a measurement: printed beside the '
    'estimates).', lower_bound=1e-3)
_TRAIN_FLAGS = flags.DEFINE_multi_string(
    'train_flag', [], 'A flag for every training run, after the recipe\'s '
    '(repeatable), e.g. --train_flag=--init_checkpoint=DIR.')
_OUTPUT_JSON = flags.DEFINE_string('output_json', '',
                                   'Default: WORK_DIR/rehearsal.json.')


def _train(name, cfg, work_dir):
  """Runs recipe `name` (config `cfg`) shrunk to the CPU; returns run_binary's
  figures."""
  batch = _REPLICAS.value * _BATCH_PER_REPLICA.value
  flag_list = ['--experiment=%s' % name, '--allow_random_init',
               '--record_dir=%s' % _RECORD_DIR.value,
               '--model_dir=%s' % os.path.join(work_dir, name),
               '--strategy=mirrored', '--cpu_replicas=%d' % _REPLICAS.value,
               '--batch_size=%d' % batch, '--train_steps=%d' % _STEPS.value,
               '--steps_per_loop=1', '--summary_every=1',
               '--image_summary_every=%d' % _STEPS.value,
               '--checkpoint_every=%d' % _STEPS.value]
  if cfg.model.pseudoseg_heads:
    flag_list.append('--unlabeled_batch_size=%d' % batch)
  flag_list += _TRAIN_FLAGS.value
  logging.info('Rehearsing %s: %d steps of %d + %d images on %d replicas.',
               name, _STEPS.value, batch,
               batch if cfg.model.pseudoseg_heads else 0, _REPLICAS.value)
  return processes.run_binary(experiments.get(name).binary, flag_list,
                              os.path.join(work_dir, name + '.log'),
                              timeout=6 * 3600)


def _forward_tflop(cfg, num_classes):
  """TFLOP of one inference forward pass of one crop of a recipe's config."""
  size = tuple(cfg.data.crop_size)
  model = model_lib.build_model(cfg.model, num_classes, size)
  return steps.forward_flops(model, tf.zeros((1,) + size + (3,))) / 1e12


def _gpu_hours(step_tflop, num_steps, num_gpus):
  return step_tflop * num_steps / (_GPU_TFLOPS.value * num_gpus) / 3600.0


def main(argv):
  del argv
  # An unknown name stops here, before any run.
  recipes = {name: experiments.get(name).build() for name in _EXPERIMENTS.value}
  num_classes = descriptors.load_info(_RECORD_DIR.value).num_classes
  work_dir = _WORK_DIR.value
  os.makedirs(work_dir, exist_ok=True)
  results = {'machine': machine.describe(), 'record_dir': _RECORD_DIR.value,
             'replicas': _REPLICAS.value,
             'batch_per_replica': _BATCH_PER_REPLICA.value,
             'steps': _STEPS.value, 'gpu_tflops_assumed': _GPU_TFLOPS.value,
             'recipes': {}}
  for name, cfg in recipes.items():
    figures = _train(name, cfg, work_dir)
    forward = _forward_tflop(cfg, num_classes)
    # TFLOP a labeled (+ unlabeled) image pair costs in a step.
    per_image = (7 if cfg.model.pseudoseg_heads else 3) * forward
    paper_step = per_image * cfg.train.batch_size
    figures.update(
        pseudoseg=cfg.model.pseudoseg_heads, forward_tflop=forward,
        paper_batch=cfg.train.batch_size, paper_step_tflop=paper_step,
        paper_steps=cfg.train.train_steps,
        cpu_step_tflop=per_image * _REPLICAS.value * _BATCH_PER_REPLICA.value,
        gpu_hours_1=_gpu_hours(paper_step, cfg.train.train_steps, 1),
        gpu_hours_8=_gpu_hours(paper_step, cfg.train.train_steps, 8))
    figures['cpu_tflops'] = figures['cpu_step_tflop'] / figures['step_s']
    results['recipes'][name] = figures
  last = _EXPERIMENTS.value[-1]
  run = os.path.join(work_dir, last)
  evaluation = processes.run_process(
      'train_sup_eval.py', ['--model_dir=%s' % run,
                            '--eval_split=%s' % _EVAL_SPLIT.value,
                            '--output_json=%s' % os.path.join(run, 'eval.json')],
      os.path.join(work_dir, 'eval.log'), timeout=3600)
  with open(os.path.join(run, 'eval.json')) as f:
    scores = json.load(f)
  export_dir = os.path.join(work_dir, 'export')
  export = processes.run_process(
      'export_model.py', ['--model_dir=%s' % run, '--export_dir=%s' % export_dir],
      os.path.join(work_dir, 'export.log'), timeout=3600)
  results['eval'] = dict(evaluation, split=_EVAL_SPLIT.value,
                         num_images=scores.get('num_images'),
                         miou=scores.get('miou'))
  results['export'] = dict(export, export_dir=export_dir)
  output = _OUTPUT_JSON.value or os.path.join(work_dir, 'rehearsal.json')
  with open(output, 'w') as f:
    json.dump(results, f, indent=1, sort_keys=True)
  print(table(results))
  print('Written to %s' % output)


def table(results):
  """The rehearsal's figures as a Markdown table."""
  lines = ['| recipe | CPU step, s (%d x %d + %d) | peak RSS, MB | forward at '
           'the crop, TFLOP | step at the recipe\'s batch, TFLOP | CPU TFLOP/s |'
           ' GPU-hours a cell, 1 GPU | 8 GPUs |' % (
               results['replicas'], results['batch_per_replica'],
               results['batch_per_replica']),
           '|---|---|---|---|---|---|---|---|']
  for name, r in results['recipes'].items():
    lines.append('| %s (%d steps of %d + %d) | %.3g | %.0f | %.3g | %.3g | %.3g |'
                 ' %.3g | %.3g |' % (
                     name, r['paper_steps'], r['paper_batch'],
                     r['paper_batch'] if r['pseudoseg'] else 0, r['step_s'],
                     r['peak_rss_mb'], r['forward_tflop'],
                     r['paper_step_tflop'], r['cpu_tflops'], r['gpu_hours_1'],
                     r['gpu_hours_8']))
  e, x = results['eval'], results['export']
  lines.append('')
  lines.append('Evaluation (%s, %s images, own size): %.0f s, peak RSS %.0f MB.'
               ' Export: %.0f s, peak RSS %.0f MB. GPU-hours assume %.0f TFLOP/s'
               ' sustained per GPU, scaling linearly.' % (
                   e['split'], e['num_images'], e['wall_s'], e['peak_rss_mb'],
                   x['wall_s'], x['peak_rss_mb'], results['gpu_tflops_assumed']))
  return '\n'.join(lines)


if __name__ == '__main__':
  launch_app.run(main)
