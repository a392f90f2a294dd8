"""Fixtures shared by the training, evaluation and binary tests.

`tiny_records`: a session-wide tiny synthetic data set (24 train + 6 val images of
64 px) converted to records, with a labeled / unlabeled id list, built once in a
temp dir. `sup_run`: a 4-step train_sup.py run on them, trained once a session
for the tests of the binaries that read a run (eval, export, vis). `binaries`: runs the repository's scripts in a fresh interpreter
(`sys.executable`, cwd = repository root), as a user would. Helpers that are not
fixtures (the fixture binder of test classes, image writers, the subprocess runner,
the smoke model) are in testing_utils.py.
"""

import collections
import os
import subprocess
import sys


def share_the_cores(environ, cpu_count):
  """Under pytest-xdist, each worker's TensorFlow (and the binaries its tests
  start, which inherit `environ`) gets its share of the cores.

  TensorFlow sizes its thread pools to the whole machine, so N workers would run
  N times too many threads, and the idle ones spin: on 2 cores with 2 workers,
  one thread each made the training tests about 20 % faster. Called before
  TensorFlow starts; a value the user set is kept.
  """
  workers = int(environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
  if workers > 1:
    share = str(max(1, (cpu_count or 1) // workers))
    for name in ('TF_NUM_INTRAOP_THREADS', 'TF_NUM_INTEROP_THREADS'):
      environ.setdefault(name, share)


share_the_cores(os.environ, os.cpu_count())

# pylint: disable=g-import-not-at-top,wrong-import-position
import pytest

from benchmarks import configs as benchmark_configs
from tests import testing_utils

ROOT = testing_utils.ROOT


def embedded_flags():
  """The EMBEDDED_FLAGS array of scripts/embedded_flags.sh (the main job's model)."""
  return list(benchmark_configs.embedded_flags())

# Flags that shrink a run to CPU seconds (core.config.smoke() as flags).
SMOKE_FLAGS = {
    'backbone': 'mobilenet_v2',
    'width_multiplier': 0.35,
    'aspp_filters': 32,
    'decoder_filters': 32,
    'low_level_filters': 16,
    'sgc_dim': 16,
    'crop_size': '65,65',
    'shuffle_buffer': 16,
    'train_steps': 4,
    'steps_per_loop': 2,
    'checkpoint_every': 2,
    'summary_every': 2,
    'image_summary_every': 2,
    'batch_size': 2,
    'unlabeled_batch_size': 2,
}

TinyRecords = collections.namedtuple(
    'TinyRecords', ['record_dir', 'labeled_ids', 'unlabeled_ids', 'num_classes',
                    'num_train', 'num_val', 'image_size'])


@pytest.fixture(scope='session')
def tiny_records(tmp_path_factory):
  """Generates, converts and splits the tiny synthetic set (once a session)."""
  # Imported here so that collecting other test files does not pay for them.
  from datasets import build_voc2012_data  # pylint: disable=g-import-not-at-top
  from datasets import splits  # pylint: disable=g-import-not-at-top
  from datasets import synthetic  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.mktemp('tiny_synthetic')
  num_train, num_val, size = 24, 6, 64
  voc_root, descriptor = synthetic.generate_voc_layout(
      str(root / 'raw'), num_train=num_train, num_val=num_val, image_size=size)
  record_dir = str(root / 'records')
  build_voc2012_data.convert_voc(voc_root, record_dir, splits=('train', 'val'),
                                 num_shards=2)
  ids = splits.ids_from_records(record_dir, 'train')
  labeled, unlabeled = splits.partition(ids, num_labeled=8, seed=0)
  labeled_path = str(root / 'labeled.txt')
  unlabeled_path = str(root / 'unlabeled.txt')
  splits.write_id_list(labeled_path, labeled)
  splits.write_id_list(unlabeled_path, unlabeled)
  return TinyRecords(record_dir, labeled_path, unlabeled_path,
                     descriptor.num_classes, num_train, num_val, size)


def _flag_args(flag_values):
  args = []
  for name, value in flag_values.items():
    if isinstance(value, bool):
      args.append('--%s%s' % ('' if value else 'no', name))
    else:
      args.append('--%s=%s' % (name, value))
  return args


class Binaries(object):
  """Runs `python SCRIPT --flags` from the repository root in a fresh process."""

  def __init__(self):
    self.env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2',
                    PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH',
                                                                  ''))

  def command(self, script, **flag_values):
    return [sys.executable, os.path.join(ROOT, script)] + _flag_args(flag_values)

  def run(self, script, timeout=300, **flag_values):
    """Runs to the end; returns the CompletedProcess (stdout+stderr in .stdout)."""
    return testing_utils.run_command(self.command(script, **flag_values),
                                     self.env, timeout)

  def run_ok(self, script, timeout=300, **flag_values):
    """Like `run`, but fails the test (with the log tail) on a non-zero exit."""
    return testing_utils.run_command_ok(self.command(script, **flag_values),
                                        self.env, timeout, what=script,
                                        tail=4000)

  def popen(self, script, log_path, **flag_values):
    """Starts the script in the background, its output going to `log_path`."""
    with open(log_path, 'w') as log:  # The child keeps its own descriptor.
      return subprocess.Popen(self.command(script, **flag_values), cwd=ROOT,
                              env=self.env, stdout=log,
                              stderr=subprocess.STDOUT)

  def run_python(self, source, args=(), timeout=300):
    """Runs `python -c source ARGS` from the repository root."""
    return testing_utils.run_command([sys.executable, '-c', source] + list(args),
                                     self.env, timeout)

  def popen_python(self, source, args, log_path, env=None):
    """Starts `python -c source ARGS` in the background, output to `log_path`."""
    with open(log_path, 'w') as log:
      return subprocess.Popen([sys.executable, '-c', source] + list(args),
                              cwd=ROOT, env=dict(self.env, **(env or {})),
                              stdout=log, stderr=subprocess.STDOUT)


@pytest.fixture(scope='session')
def binaries():
  return Binaries()


def smoke_flags(records, model_dir, **overrides):
  """SMOKE_FLAGS plus the tiny records, a model dir and overrides."""
  flag_values = dict(SMOKE_FLAGS, record_dir=records.record_dir,
                     labeled_ids=records.labeled_ids, model_dir=model_dir)
  flag_values.update(overrides)
  return flag_values


@pytest.fixture(scope='session')
def smoke_flags_fn():
  return smoke_flags


@pytest.fixture(scope='session')
def sup_run(tiny_records, binaries, tmp_path_factory):
  """A finished 4-step train_sup.py run: (model_dir, process)."""
  model_dir = str(tmp_path_factory.mktemp('sup_run'))
  proc = binaries.run_ok('train_sup.py',
                         **smoke_flags(tiny_records, model_dir))
  return model_dir, proc
