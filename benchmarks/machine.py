"""What a benchmark ran on: processor, cores, its vector extensions, TensorFlow."""

import datetime
import os
import platform

import tensorflow as tf

# Extensions that decide whether bfloat16 matmuls are fast on a CPU.
_FLAGS_OF_INTEREST = ('avx2', 'avx512f', 'avx512_bf16', 'amx_bf16', 'amx_tile')


def _cpuinfo():
  try:
    with open('/proc/cpuinfo') as f:
      text = f.read()
  except OSError:
    return '', set()
  model, flags = '', set()
  for line in text.splitlines():
    key, _, value = line.partition(':')
    if key.strip() == 'model name' and not model:
      model = value.strip()
    elif key.strip() == 'flags' and not flags:
      flags = set(value.split())
  return model, flags


def describe():
  model, flags = _cpuinfo()
  return {
      'processor': model or platform.processor() or platform.machine(),
      'cpu_count': os.cpu_count(),
      'cpu_extensions': [f for f in _FLAGS_OF_INTEREST if f in flags],
      'gpus': [d.name for d in tf.config.list_physical_devices('GPU')],
      'tensorflow': tf.__version__,
      'python': platform.python_version(),
      'date': datetime.datetime.now(datetime.timezone.utc).strftime(
          '%Y-%m-%d %H:%M UTC'),
  }
