"""Finds damage in a JPEG that decoders pass over with a warning only.

libjpeg decodes a JPEG whose entropy-coded data holds garbage (bytes overwritten
or inserted mid-file) to a picture with smeared or grey blocks, and only warns:
"Corrupt JPEG data: 212 extraneous bytes before marker 0xd9", "premature end of
data segment", "bad Huffman code". Pillow drops these warnings and has no way to
ask for them; TensorFlow's decoder prints the first one of each decode to the
process's stderr (file descriptor 2). So `problems` decodes the bytes with
`tf.io.decode_jpeg` while descriptor 2 points at a temporary file, and reports
what libjpeg wrote there (TensorFlow's own log lines are passed on to stderr).

What it cannot see: garbage after which the Huffman decoder happens to fall back
into step and ends the scan exactly where the file does. Such a file is a valid
JPEG of a wrong picture; only a checksum outside the file could tell.
"""

import os
import re
import sys
import tempfile
import threading
from typing import List

import tensorflow as tf

from datasets import record_format

JPEG_MAGIC = b'\xff\xd8\xff'

# TensorFlow's C++ log lines ("2024-01-01 12:00:00.0: I tensorflow/...",
# "I0101 12:00:00.0 ..."): not the decoder's.
_TF_LOG_LINE = re.compile(r'^(\d{4}-\d\d-\d\d[ T]\d\d:\d\d|[IWEF]\d{4} )')

_FD2_LOCK = threading.Lock()


_warmed_up = []


def _warm_up():
  """Runs one decode uncaptured: TF's start-up log lines must not count."""
  if not _warmed_up:
    tf.io.decode_jpeg(tf.io.encode_jpeg(tf.zeros([1, 1, 3], tf.uint8)))
    _warmed_up.append(True)


def is_jpeg(data: bytes) -> bool:
  """Whether `data` starts like a JPEG file (SOI marker, then a marker)."""
  return data[:3] == JPEG_MAGIC


def problems(data: bytes) -> List[str]:
  """Decodes a JPEG strictly; returns what is wrong with it (empty if nothing).

  Args:
    data: the bytes of a JPEG file.

  Returns:
    libjpeg's warning (at most one per decode) and, if decoding failed, the
    error, as one-line strings.
  """
  _warm_up()
  sys.stderr.flush()
  error = None
  with _FD2_LOCK, tempfile.TemporaryFile() as captured:
    saved = os.dup(2)
    os.dup2(captured.fileno(), 2)
    try:
      tf.io.decode_jpeg(data, channels=3)
    except tf.errors.OpError as e:
      error = record_format.op_error_text(e)
    finally:
      os.dup2(saved, 2)
      os.close(saved)
    captured.seek(0)
    text = captured.read().decode('utf-8', errors='replace')
  found, passed_on = [], []
  for line in text.splitlines():
    if not line.strip():
      continue
    (passed_on if _TF_LOG_LINE.match(line) else found).append(line.strip())
  if passed_on:
    sys.stderr.write('\n'.join(passed_on) + '\n')
  if error:
    found.append(error)
  return found
