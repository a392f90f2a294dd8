"""Bad flag values stop the training binaries at once: one line naming the flag."""

import os

import pytest

_CASES = [
    (dict(train_steps=-5), '--train_steps must be >= 1, got -5.'),
    (dict(batch_size=0), '--batch_size must be >= 1, got 0.'),
    (dict(crop_size='0,0'),
     '--crop_size must be two positive integers, "height,width", got (0, 0).'),
    (dict(crop_size='65,x'), "--crop_size must be a list of int, got '65,x'."),
    (dict(steps_per_loop=0), '--steps_per_loop must be >= 1, got 0.'),
    (dict(backbone='vgg16'), "--backbone must be one of 'mobilenet_v2' | "),
    (dict(record_dir=''), '--record_dir is required.'),
]


@pytest.mark.parametrize('script', ['train_sup.py', 'train_wss.py'])
@pytest.mark.parametrize('flag_values, message', _CASES)
def test_refused_before_anything_is_built(tmp_path, binaries, script,
                                          flag_values, message):
  model_dir = str(tmp_path / 'run')
  values = dict(record_dir=str(tmp_path / 'no_records'), model_dir=model_dir)
  values.update(flag_values)
  proc = binaries.run(script, timeout=120, **values)
  assert proc.returncode == 1, proc.stdout[-2000:]
  errors = [line for line in proc.stdout.splitlines() if 'FATAL' in line]
  assert len(errors) == 1, errors
  assert errors[0].startswith('FATAL Flags parsing error: ' + message), errors
  assert 'Traceback' not in proc.stdout
  # Nothing was read or written: the run directory was never made.
  assert not os.path.exists(model_dir)
