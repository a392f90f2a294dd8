"""Bad numeric flags stop the conversion tools before any input is read."""

import os

import pytest

_FOLDER = 'datasets/build_folder_data.py'
_COCO = 'datasets/build_coco_data.py'
_VOC = 'datasets/build_voc2012_data.py'
_SPLITS = 'datasets/create_splits.py'
_SYNTHETIC = 'datasets/make_synthetic_voc.py'

# (script, flag values, the flag named, the allowed range named).
_CASES = [
    (_FOLDER, dict(num_classes=300), '--num_classes=300', '255'),
    (_FOLDER, dict(val_fraction=-0.5), '--val_fraction=-0.5', '[0, 1)'),
    (_FOLDER, dict(num_shards=0), '--num_shards=0', 'positive'),
    (_VOC, dict(num_shards=-2), '--num_shards=-2', 'positive'),
    (_COCO, dict(max_images=0), '--max_images=0', 'positive'),
    (_SPLITS, dict(num_labeled=-1), '--num_labeled=-1', 'non-negative'),
    (_SPLITS, dict(fraction=1.5), '--fraction=1.5', '(0, 1]'),
    (_SPLITS, dict(num_labeled=3, fraction=0.5), 'num_labeled', 'fraction'),
    (_SYNTHETIC, dict(num_train=0), '--num_train=0', 'positive'),
    (_SYNTHETIC, dict(image_size=8), '--image_size=8', '32'),
    # Checked by synthetic.ClassCues, before anything is written.
    (_SYNTHETIC, dict(class_hue_prob=2.0), 'hue_prob', '[0, 1]'),
]

_INPUTS = {
    _FOLDER: dict(image_dir='IN', mask_dir='IN', output_dir='OUT',
                  num_classes=3),
    _VOC: dict(voc_root='IN', output_dir='OUT'),
    _COCO: dict(coco_root='IN', output_dir='OUT'),
    _SPLITS: dict(record_dir='IN', output_dir='OUT'),
    _SYNTHETIC: dict(output_root='OUT'),
}


@pytest.mark.parametrize('script, flag_values, flag, allowed', _CASES)
def test_refused_before_any_input_is_read(tmp_path, binaries, script,
                                          flag_values, flag, allowed):
  out = str(tmp_path / 'out')
  paths = {'IN': str(tmp_path / 'missing_input'), 'OUT': out}
  values = {k: paths.get(v, v) for k, v in _INPUTS[script].items()}
  if script == _SPLITS and 'num_labeled' not in flag_values and (
      'fraction' not in flag_values):
    values['num_labeled'] = 1
  values.update(flag_values)
  proc = binaries.run(script, timeout=120, **values)
  assert proc.returncode != 0, proc.stdout[-2000:]
  errors = [line for line in proc.stdout.splitlines() if 'FATAL' in line]
  assert len(errors) == 1, proc.stdout[-2000:]
  assert errors[0].startswith('FATAL Flags parsing error'), errors
  assert flag in errors[0] and allowed in errors[0], errors
  assert 'Traceback' not in proc.stdout
  # The input was not looked at (it does not exist) and nothing was written.
  assert 'not found' not in proc.stdout
  assert not os.path.exists(out)
