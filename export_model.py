r"""Exports a trained run as a SavedModel for serving, and optionally as TFLite.

Usage:
  python export_model.py --model_dir=runs/main/seed0/pseudoseg \
      --export_dir=exported/pseudoseg [--input_size=96,96]
  python export_model.py --model_dir=runs/main/seed0/pseudoseg \
      --export_dir=exported/pseudoseg --input_size=128,128 --tflite \
      --tflite_int8 --record_dir=data/main/tfrecord --split=train

The signature 'serving_default' takes 'image_bytes', encoded JPEG/PNG images of
any size, and returns 'predictions' (int32 class ids) and 'probabilities' at each
image's own size, and 'image_sizes'; 'serving_images' takes uint8 arrays [batch,
height, width, 3] (core/serving/export.py says more).
Check it with: saved_model_cli show --dir exported/pseudoseg --all

--tflite writes EXPORT_DIR/model.tflite (float32) and --tflite_int8
EXPORT_DIR/model_int8.tflite (int8 post-training quantisation calibrated on the
first --num_representative images of --record_dir's --split). TFLite runs at a
fixed size: both need --input_size. Each takes uint8 images [1, H, W, 3] and
returns 'predictions' and 'probabilities' at that size. Prints one line per file
written.
"""

# First: keeps TensorFlow's start-up noise off the screen (launch/quiet_start.py).
from launch import quiet_start  # pylint: disable=unused-import,g-bad-import-order

import os

from absl import flags
from absl import logging

from cli import flags as flags_lib
from core import config as config_lib
from launch import app as launch_app

_MODEL_DIR = flags.DEFINE_string('model_dir', None, 'Training run directory.',
                                 required=True)
_CHECKPOINT = flags_lib.define_checkpoint_flag()
_EXPORT_DIR = flags.DEFINE_string('export_dir', None, 'Output directory.',
                                  required=True)
_WEIGHTS = flags_lib.define_weights_flag()
_INPUT_SIZE = flags.DEFINE_list(
    'input_size', [], 'Fixed "height,width"; default: any size. Needed by '
    '--tflite and --tflite_int8.')
_TFLITE = flags.DEFINE_bool(
    'tflite', False, 'Also write EXPORT_DIR/model.tflite (float32).')
_TFLITE_INT8 = flags.DEFINE_bool(
    'tflite_int8', False, 'Also write EXPORT_DIR/model_int8.tflite (int8 '
    'post-training quantisation; needs --record_dir).')
_RECORD_DIR = flags.DEFINE_string(
    'record_dir', '', 'With --tflite_int8: records whose images calibrate the '
    'quantisation.')
_SPLIT = flags.DEFINE_string(
    'split', 'train', 'With --tflite_int8: the split of --record_dir to draw '
    'the calibration images from.')
_NUM_REPRESENTATIVE = flags.DEFINE_integer(
    'num_representative', 32, 'With --tflite_int8: calibration images (the '
    'first of --split, resized to --input_size).')


def main(argv):
  del argv
  # Every flag is checked before the run is read or its model built.
  size = flags_lib.checked(_INPUT_SIZE, flags_lib.SIZE_OR_EMPTY,
                           item=int) or None
  checkpoint = flags_lib.checked_checkpoint(_CHECKPOINT)
  num_representative = flags_lib.checked(_NUM_REPRESENTATIVE,
                                         config_lib.in_range(1))
  for holder in (_TFLITE, _TFLITE_INT8):
    if holder.value and not size:
      raise flags_lib.usage_error(
          '--%s needs --input_size=HEIGHT,WIDTH: a TFLite model runs at a '
          'fixed size.' % holder.name)
  if _TFLITE_INT8.value and not _RECORD_DIR.value:
    raise flags_lib.usage_error(
        '--tflite_int8 needs --record_dir (and --split): its images calibrate '
        'the int8 quantisation.')
  # Imported once the flags are checked: a mistyped flag fails at once, not
  # after TensorFlow's start-up.
  # pylint: disable=g-import-not-at-top
  from cli import predict_lib
  from core.serving import export
  from core.training import run_dir
  # pylint: enable=g-import-not-at-top
  if _TFLITE_INT8.value:
    predict_lib.check_split(_RECORD_DIR.value, _SPLIT.value)
  model, _, _, path = run_dir.load_trained_model(
      _MODEL_DIR.value, checkpoint, _WEIGHTS.value)
  export.export_saved_model(model, _EXPORT_DIR.value, size)
  logging.info('Exported %s to %s.', path, _EXPORT_DIR.value)
  print('SavedModel written to %s' % _EXPORT_DIR.value)
  if _TFLITE.value:
    tflite_path = export.export_tflite(
        model, os.path.join(_EXPORT_DIR.value, 'model.tflite'), size)
    print('TFLite model (float32, %dx%d) written to %s' % (
        size[0], size[1], tflite_path))
  if _TFLITE_INT8.value:
    images = predict_lib.representative_images(
        _RECORD_DIR.value, _SPLIT.value, size, num_representative)
    tflite_path = export.export_tflite(
        model, os.path.join(_EXPORT_DIR.value, 'model_int8.tflite'), size,
        representative_images=images)
    print('TFLite model (int8, %dx%d, calibrated on %d images of %s) written '
          'to %s' % (size[0], size[1], len(images), _SPLIT.value, tflite_path))


if __name__ == '__main__':
  launch_app.run(main)
