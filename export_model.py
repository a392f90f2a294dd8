r"""Exports a trained run as a SavedModel for serving.

Usage:
  python export_model.py --model_dir=runs/main/seed0/pseudoseg \
      --export_dir=exported/pseudoseg [--input_size=96,96]

The signature 'serving_default' takes 'image_bytes', encoded JPEG/PNG images of
any size, and returns 'predictions' (int32 class ids) and 'probabilities' at each
image's own size, and 'image_sizes'; 'serving_images' takes uint8 arrays [batch,
height, width, 3] (core/serving/export.py says more).
Check it with: saved_model_cli show --dir exported/pseudoseg --all
"""

# First: keeps TensorFlow's start-up noise off the screen (launch/quiet_start.py).
from launch import quiet_start  # pylint: disable=unused-import,g-bad-import-order

from absl import flags
from absl import logging

from cli import flags as flags_lib
from core.serving import export
from core.training import run_dir
from launch import app as launch_app

_MODEL_DIR = flags.DEFINE_string('model_dir', None, 'Training run directory.',
                                 required=True)
_CHECKPOINT = flags_lib.define_checkpoint_flag()
_EXPORT_DIR = flags.DEFINE_string('export_dir', None, 'Output directory.',
                                  required=True)
_WEIGHTS = flags_lib.define_weights_flag()
_INPUT_SIZE = flags.DEFINE_list('input_size', [],
                                'Fixed "height,width"; default: any size.')


def main(argv):
  del argv
  # Every flag is checked before the run is read or its model built.
  size = flags_lib.checked(_INPUT_SIZE, flags_lib.SIZE_OR_EMPTY,
                           item=int) or None
  checkpoint = flags_lib.checked_checkpoint(_CHECKPOINT)
  model, _, _, path = run_dir.load_trained_model(
      _MODEL_DIR.value, checkpoint, _WEIGHTS.value)
  export.export_saved_model(model, _EXPORT_DIR.value, size)
  logging.info('Exported %s to %s.', path, _EXPORT_DIR.value)
  print('SavedModel written to %s' % _EXPORT_DIR.value)


if __name__ == '__main__':
  launch_app.run(main)
