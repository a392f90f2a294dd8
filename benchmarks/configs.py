"""The configurations a benchmark measures, as the binaries' own flags.

'embedded' is the main job's model and schedule (scripts/embedded_flags.sh, read
from the script itself so the two never drift); 'smoke' shrinks everything for a
run in seconds (the benchmark's own test).
"""

import dataclasses
import os
import subprocess

from core import config as config_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SMOKE_FLAGS = (
    '--backbone=mobilenet_v2', '--width_multiplier=0.35', '--aspp_filters=16',
    '--decoder_filters=16', '--low_level_filters=8', '--sgc_dim=8',
    '--crop_size=33,33', '--min_scale=1.0', '--max_scale=1.0',
    '--scale_step=0.25', '--batch_size=2', '--shuffle_buffer=8',
    '--steps_per_loop=2', '--checkpoint_every=4', '--summary_every=2',
    '--image_summary_every=4')


def embedded_flags():
  """The EMBEDDED_FLAGS array of scripts/embedded_flags.sh."""
  return tuple(subprocess.run(
      ['bash', '-c', 'source scripts/embedded_flags.sh && '
       'printf "%s\\n" "${EMBEDDED_FLAGS[@]}"'],
      cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True,
      timeout=60).stdout.split())


def flags_of(name):
  """The flag list of a named configuration ('embedded' or 'smoke')."""
  if name == 'embedded':
    return embedded_flags()
  if name == 'smoke':
    return SMOKE_FLAGS
  raise ValueError('Unknown benchmark configuration %r.' % name)


def _typed(default, text):
  """`text` parsed as the type of a setting whose default is `default`."""
  if isinstance(default, bool):
    return text.lower() in ('1', 'true', 'yes')
  if isinstance(default, tuple):
    kind = type(default[0]) if default else int
    return tuple(kind(x) for x in text.split(',') if x)
  return type(default)(text)


def config_from_flags(flag_list, **settings):
  """The ExperimentConfig that `flag_list` (--name=value strings) gives, then
  `settings` (by name) on top."""
  cfg = config_lib.ExperimentConfig()
  defaults = {f.name: getattr(getattr(cfg, s.name), f.name)
              for s in dataclasses.fields(cfg)
              for f in dataclasses.fields(getattr(cfg, s.name))}
  values = {}
  for flag in flag_list:
    name, _, text = flag.lstrip('-').partition('=')
    if not text and name.startswith('no') and name[2:] in defaults:
      values[name[2:]] = False
    elif not text:
      values[name] = True
    else:
      values[name] = _typed(defaults[name], text)
  values.update(settings)
  return config_lib.override(cfg, **values)
