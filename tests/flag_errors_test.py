"""Bad flag values stop the binaries at once: one line naming the flag.

Training, evaluation, export and vis.py alike: the flag is refused before any run
directory is read or made and before any model is built.
"""

import os

import pytest

from tests import testing_utils

_CASES = [
    (dict(train_steps=-5), '--train_steps must be >= 1, got -5.'),
    (dict(batch_size=0), '--batch_size must be >= 1, got 0.'),
    (dict(crop_size='0,0'),
     '--crop_size must be two positive integers, "height,width", got (0, 0).'),
    (dict(crop_size='65,x'), "--crop_size must be a list of int, got '65,x'."),
    (dict(steps_per_loop=0), '--steps_per_loop must be >= 1, got 0.'),
    (dict(checkpoint_every=0), '--checkpoint_every must be >= 1, got 0.'),
    (dict(keep_checkpoints=0), '--keep_checkpoints must be >= 1, got 0.'),
    (dict(summary_every=0), '--summary_every must be >= 1, got 0.'),
    (dict(base_learning_rate=-1.0),
     '--base_learning_rate must be > 0, got -1.0.'),
    (dict(shuffle_buffer=0), '--shuffle_buffer must be >= 1, got 0.'),
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


_SIZE = 'must be empty or two positive integers, "height,width"'
_EVAL_CASES = [
    (dict(batch_size=0), '--batch_size must be >= 1, got 0.'),
    (dict(scales='1.0,0'),
     '--scales must be one or more positive numbers, got (1.0, 0.0).'),
    (dict(scales='1.0,big'), "--scales must be a list of float, got '1.0,big'."),
    (dict(scales=''), '--scales must be one or more positive numbers, got ().'),
    (dict(eval_size='0,0'), '--eval_size %s, got (0, 0).' % _SIZE),
    (dict(eval_size='64'), '--eval_size %s, got (64,).' % _SIZE),
    (dict(timeout=0), '--timeout must be > 0, got 0.'),
    (dict(max_batches=0), '--max_batches must be >= 1, got 0.'),
    (dict(checkpoint='{tmp}/run/ckpt-3'),
     '--checkpoint {tmp}/run/ckpt-3: no such checkpoint (no '
     '{tmp}/run/ckpt-3.index).'),
]
_EXPORT_CASES = [
    (dict(input_size='0,65'), '--input_size %s, got (0, 65).' % _SIZE),
    (dict(input_size='65,65,3'), '--input_size %s, got (65, 65, 3).' % _SIZE),
    (dict(input_size='x,65'), "--input_size must be a list of int, got 'x,65'."),
    (dict(checkpoint='{tmp}/ckpt-3'),
     '--checkpoint {tmp}/ckpt-3: no such checkpoint (no {tmp}/ckpt-3.index).'),
    (dict(tflite=True), '--tflite needs --input_size=HEIGHT,WIDTH: a TFLite '
     'model runs at a fixed size.'),
    (dict(tflite_int8=True, record_dir='{tmp}'), '--tflite_int8 needs '
     '--input_size=HEIGHT,WIDTH: a TFLite model runs at a fixed size.'),
    (dict(tflite_int8=True, input_size='65,65'), '--tflite_int8 needs '
     '--record_dir (and --split): its images calibrate the int8 quantisation.'),
    (dict(tflite_int8=True, input_size='65,65', record_dir='{tmp}',
          num_representative=0), '--num_representative must be >= 1, got 0.'),
]


@pytest.mark.parametrize('script, flag_values, message',
                         [('train_sup_eval.py',) + c for c in _EVAL_CASES] +
                         [('export_model.py',) + c for c in _EXPORT_CASES])
def test_eval_and_export_refuse_before_reading_the_run(tmp_path, binaries,
                                                       script, flag_values,
                                                       message):
  # The run directory does not exist: a flag checked after it was read would
  # report the missing run instead.
  values = dict(model_dir=str(tmp_path / 'run'))
  if script == 'export_model.py':
    values['export_dir'] = str(tmp_path / 'exported')
  values.update({k: v.format(tmp=tmp_path) if isinstance(v, str) else v
                 for k, v in flag_values.items()})
  # Through `command`: eval's --timeout is no keyword of `binaries.run`.
  proc = testing_utils.run_command(binaries.command(script, **values),
                                   binaries.env, timeout=120)
  assert proc.returncode == 1, proc.stdout[-2000:]
  errors = [line for line in proc.stdout.splitlines() if 'FATAL' in line]
  assert errors == ['FATAL Flags parsing error: ' +
                    message.format(tmp=tmp_path)], proc.stdout[-2000:]
  assert 'Traceback' not in proc.stdout
  assert not os.path.exists(tmp_path / 'exported')


_VIS_CASES = [
    (dict(), 'give one of --model_dir and --saved_model.'),
    (dict(model_dir='{tmp}/run', saved_model='{tmp}/sm', image_dir='{tmp}'),
     'give one of --model_dir and --saved_model.'),
    (dict(model_dir='{tmp}/run'), 'give one of --image_dir and --record_dir.'),
    (dict(model_dir='{tmp}/run', image_dir='{tmp}', record_dir='{tmp}'),
     'give one of --image_dir and --record_dir.'),
    (dict(saved_model='{tmp}/sm', image_dir='{tmp}', flip=True),
     '--scales and --flip need --model_dir: a SavedModel serves one scale.'),
    (dict(saved_model='{tmp}/sm', image_dir='{tmp}', weights='teacher'),
     '--checkpoint and --weights need --model_dir: a SavedModel holds one set '
     'of weights.'),
    (dict(model_dir='{tmp}/run', image_dir='{tmp}', scales='0'),
     '--scales must be one or more positive numbers, got (0.0,).'),
    (dict(model_dir='{tmp}/run', image_dir='{tmp}', overlay_alpha=2.0),
     '--overlay_alpha must be in [0, 1], got 2.0.'),
    (dict(model_dir='{tmp}/run', image_dir='{tmp}', window='513'),
     '--window must be empty or two positive integers, "height,width", got '
     '(513,).'),
    (dict(model_dir='{tmp}/run', image_dir='{tmp}', window='9,9',
          window_overlap=1.0),
     '--window_overlap must be in [0, 1), got 1.0.'),
]


@pytest.mark.parametrize('flag_values, message', _VIS_CASES)
def test_vis_refuses_before_reading_anything(tmp_path, binaries, flag_values,
                                             message):
  output_dir = tmp_path / 'vis'
  values = dict(output_dir=str(output_dir))
  values.update({k: v.format(tmp=tmp_path) if isinstance(v, str) else v
                 for k, v in flag_values.items()})
  proc = binaries.run('vis.py', timeout=120, **values)
  assert proc.returncode == 1, proc.stdout[-2000:]
  errors = [line for line in proc.stdout.splitlines() if 'FATAL' in line]
  assert errors == ['FATAL Flags parsing error: ' + message], proc.stdout[-2000:]
  assert not output_dir.exists()


# Runs a binary in-process with a bad flag, then says whether TensorFlow was loaded.
_CHECK_WITHOUT_TENSORFLOW = r'''
import runpy, sys
sys.argv = [sys.argv[1]] + sys.argv[2:]
try:
  runpy.run_path(sys.argv[0], run_name='__main__')
except SystemExit as e:
  print('exit status', e.code)
print('tensorflow loaded:', 'tensorflow' in sys.modules)
'''


@pytest.mark.parametrize('script, args', [
    ('train_sup.py', ['--record_dir=r', '--model_dir=m', '--train_steps=0']),
    ('train_wss.py', ['--record_dir=r', '--model_dir=m', '--batch_size=0']),
    ('train_sup_eval.py', ['--model_dir=m', '--scales=0']),
    ('export_model.py', ['--model_dir=m', '--export_dir=e', '--tflite']),
    ('vis.py', ['--output_dir=o', '--model_dir=m']),
])
def test_flags_are_checked_before_tensorflow_loads(binaries, script, args):
  # A mistyped flag costs a user a second, not TensorFlow's start-up.
  proc = binaries.run_python(_CHECK_WITHOUT_TENSORFLOW, [script] + args,
                             timeout=60)
  assert 'FATAL Flags parsing error' in proc.stdout, proc.stdout[-2000:]
  assert 'exit status' in proc.stdout, proc.stdout[-2000:]
  assert 'tensorflow loaded: False' in proc.stdout, proc.stdout[-2000:]
