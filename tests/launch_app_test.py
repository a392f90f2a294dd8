"""launch/app.py: a user's mistake ends in one line; --verbose shows the traceback."""

import os

import pytest


def _stderr_lines(proc):
  return [l for l in proc.stdout.splitlines() if l.strip()]


@pytest.mark.parametrize('script', ['datasets/build_folder_data.py',
                                    'datasets/build_voc2012_data.py'])
def test_a_converter_error_is_one_line_without_traceback(binaries, tmp_path,
                                                         script):
  missing = str(tmp_path / 'no_such_folder')
  if 'folder' in script:
    flags = dict(image_dir=missing, mask_dir=missing, num_classes=3)
  else:
    flags = dict(voc_root=missing)
  proc = binaries.run(script, output_dir=str(tmp_path / 'out'), **flags)
  assert proc.returncode == 1, proc.stdout
  assert 'Traceback' not in proc.stdout, proc.stdout
  fatal = [l for l in _stderr_lines(proc) if l.startswith('FATAL')]
  assert len(fatal) == 1, proc.stdout
  assert missing in fatal[0] and 'not found' in fatal[0], fatal
  assert '--verbose' in fatal[0]
  assert not os.path.exists(tmp_path / 'out')


def test_verbose_shows_the_traceback(binaries, tmp_path):
  missing = str(tmp_path / 'no_such_folder')
  proc = binaries.run('datasets/build_folder_data.py', image_dir=missing,
                      mask_dir=missing, num_classes=3, verbose=True,
                      output_dir=str(tmp_path / 'out'))
  assert proc.returncode == 1, proc.stdout
  assert 'Traceback' in proc.stdout and 'ConversionError' in proc.stdout
  assert missing in proc.stdout


def test_a_training_binary_names_a_missing_record_dir(binaries, tmp_path):
  missing = str(tmp_path / 'no_records')
  proc = binaries.run('train_sup.py', record_dir=missing,
                      model_dir=str(tmp_path / 'run'))
  assert proc.returncode == 1, proc.stdout
  assert 'Traceback' not in proc.stdout, proc.stdout
  fatal = [l for l in _stderr_lines(proc) if l.startswith('FATAL')]
  assert len(fatal) == 1 and missing in fatal[0], proc.stdout
