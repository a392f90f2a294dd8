"""Importing this module first keeps TensorFlow's start-up noise off a run's screen.

A binary imports it before anything that imports TensorFlow, so that the first lines
a user sees are the run's own: not the CUDA / cuDNN / TensorRT registration messages
TensorFlow's C++ prints while it loads on a machine without a GPU, not google-api-core's
FutureWarning about the Python version, and not Model Garden's INFO line per MobileNet
layer ('round_filter ...'). Only TensorFlow's import is silenced; what it prints later,
warnings and errors included, reaches the screen. Set PSEUDOSEG_VERBOSE=1 (or your own
TF_CPP_MIN_LOG_LEVEL) to see everything.
"""

import logging as std_logging
import os
import warnings

from absl import logging

_VERBOSE = bool(os.environ.get('PSEUDOSEG_VERBOSE')) or (
    'TF_CPP_MIN_LOG_LEVEL' in os.environ)


class _ModelGardenInfo(std_logging.Filter):
  """Drops INFO records logged from tf-models-official's own modules."""

  def filter(self, record):
    return (record.levelno >= std_logging.WARNING or
            os.sep + 'official' + os.sep not in record.pathname)


def _import_tensorflow_quietly():
  """Imports TensorFlow with file descriptor 2 pointed at /dev/null."""
  saved = os.dup(2)
  devnull = os.open(os.devnull, os.O_WRONLY)
  try:
    os.dup2(devnull, 2)
    import tensorflow  # pylint: disable=g-import-not-at-top,unused-import
  finally:
    os.dup2(saved, 2)
    os.close(devnull)
    os.close(saved)


if not _VERBOSE:
  os.environ['TF_CPP_MIN_LOG_LEVEL'] = '1'  # C++ INFO lines off; warnings stay.
  warnings.filterwarnings('ignore', category=FutureWarning,
                          module='google.api_core')
  logging.get_absl_logger().addFilter(_ModelGardenInfo())
  _import_tensorflow_quietly()
