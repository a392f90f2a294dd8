"""Importing this module first keeps TensorFlow's start-up noise off a run's screen.

A binary imports it before anything that imports TensorFlow, so that the first lines
a user sees are the run's own: not the CUDA / cuDNN / TensorRT registration messages
TensorFlow's C++ prints while it loads on a machine without a GPU, not google-api-core's
FutureWarning about the Python version, and not Model Garden's INFO line per MobileNet
layer ('round_filter ...'). Only TensorFlow's import is silenced, whenever it happens
(a binary checks its flags first and imports TensorFlow after); what it prints later,
warnings and errors included, reaches the screen. Set PSEUDOSEG_VERBOSE=1 (or your own
TF_CPP_MIN_LOG_LEVEL) to see everything.
"""

import contextlib
import importlib.abc
import importlib.machinery
import logging as std_logging
import os
import sys
import warnings

from absl import logging

_VERBOSE = bool(os.environ.get('PSEUDOSEG_VERBOSE')) or (
    'TF_CPP_MIN_LOG_LEVEL' in os.environ)


class _ModelGardenInfo(std_logging.Filter):
  """Drops INFO records logged from tf-models-official's own modules."""

  def filter(self, record):
    return (record.levelno >= std_logging.WARNING or
            os.sep + 'official' + os.sep not in record.pathname)


@contextlib.contextmanager
def _stderr_to_devnull():
  """File descriptor 2 pointed at /dev/null (C++ output included)."""
  saved = os.dup(2)
  devnull = os.open(os.devnull, os.O_WRONLY)
  try:
    os.dup2(devnull, 2)
    yield
  finally:
    os.dup2(saved, 2)
    os.close(devnull)
    os.close(saved)


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
  """Finds the `tensorflow` package as usual and runs its import quietly."""

  def find_spec(self, name, path=None, target=None):
    if name != 'tensorflow':
      return None
    sys.meta_path.remove(self)  # Once: TensorFlow imports once.
    spec = importlib.machinery.PathFinder.find_spec(name, path)
    if spec is None or spec.loader is None:
      return spec
    exec_module = spec.loader.exec_module

    def quiet_exec_module(module):
      with _stderr_to_devnull():
        exec_module(module)

    spec.loader.exec_module = quiet_exec_module
    return spec


if not _VERBOSE:
  os.environ['TF_CPP_MIN_LOG_LEVEL'] = '1'  # C++ INFO lines off; warnings stay.
  warnings.filterwarnings('ignore', category=FutureWarning,
                          module='google.api_core')
  logging.get_absl_logger().addFilter(_ModelGardenInfo())
  if 'tensorflow' not in sys.modules:
    sys.meta_path.insert(0, _QuietTensorFlowImport())
