r"""Writes the predictions of a trained model for a folder of images or a record split.

Usage:
  python vis.py --model_dir=runs/pseudoseg92 --image_dir=my_photos \
      --output_dir=vis/my_photos [--scales=0.75,1,1.25 --flip]
  python vis.py --saved_model=exported/pseudoseg92 --record_dir=data/voc/tfrecord \
      --split=val --output_dir=vis/val
  python vis.py --model_dir=runs/pseudoseg92 --image_dir=large_photos \
      --output_dir=vis/large --window=513,513     # window by window

For each image NAME it writes, at the image's size:
  NAME_prediction.png  palette PNG of the class ids (pixel value = class id; the
                       data set's colours: "colors" of the record folder's
                       dataset_info.json, else VOC's),
  NAME_overlay.png     the image with the prediction's colours blended in,
  NAME_grid.png        image | ground truth | prediction (records with a mask).
Folders: .jpg .jpeg .png .bmp of any size and mode (grey, palette, RGBA, CMYK,
16-bit); a JPEG's EXIF orientation is applied, so the outputs are upright. It
prints a progress line (images done, images/s). A file it cannot read (truncated,
not an image) is named and skipped; the run then ends with the list of failures
and exit status 1.
"""

# First: keeps TensorFlow's start-up noise off the screen (launch/quiet_start.py).
from launch import quiet_start  # pylint: disable=unused-import,g-bad-import-order

from absl import flags

from cli import flags as flags_lib
from core import config as config_lib
from launch import app as launch_app

_MODEL_DIR = flags.DEFINE_string(
    'model_dir', '', 'Training run directory (or give --saved_model).')
_CHECKPOINT = flags_lib.define_checkpoint_flag()
_WEIGHTS = flags_lib.define_weights_flag()
_SAVED_MODEL = flags.DEFINE_string(
    'saved_model', '', 'An export_model.py SavedModel (instead of --model_dir).')
_IMAGE_DIR = flags.DEFINE_string(
    'image_dir', '', 'Folder of images (or give --record_dir and --split).')
_RECORD_DIR = flags.DEFINE_string('record_dir', '', 'Records to predict on.')
_SPLIT = flags.DEFINE_string('split', 'val', 'With --record_dir: the split.')
_OUTPUT_DIR = flags.DEFINE_string('output_dir', None, 'Where the PNGs go.',
                                  required=True)
_SCALES = flags.DEFINE_list(
    'scales', ['1.0'], 'Inference scales, as in evaluation (--model_dir only).')
_FLIP = flags.DEFINE_bool(
    'flip', False, 'Add horizontally flipped inference (--model_dir only).')
_ALPHA = flags.DEFINE_float('overlay_alpha', 0.5,
                            'Weight of the class colours in the overlay.')
_WINDOW = flags.DEFINE_list(
    'window', [], '"height,width": predict a large image window by window '
    '(e.g. the training crop, or a SavedModel\'s --input_size); default: each '
    'image whole.')
_WINDOW_OVERLAP = flags.DEFINE_float(
    'window_overlap', 1.0 / 3.0, 'With --window: the share of a window that the '
    'next one overlaps, in [0, 1); each pixel averages its windows.')


def _check_flags():
  """The flags' values, checked before anything is read or built."""
  scales = flags_lib.checked(_SCALES, flags_lib.POSITIVE_NUMBERS, item=float)
  flags_lib.checked(_ALPHA, config_lib.in_range(0.0, 1.0))
  window = flags_lib.checked(_WINDOW, flags_lib.SIZE_OR_EMPTY, item=int) or None
  flags_lib.checked(_WINDOW_OVERLAP, config_lib.in_range(0.0, 1.0,
                                                         high_open=True))
  checkpoint = flags_lib.checked_checkpoint(_CHECKPOINT)
  if bool(_MODEL_DIR.value) == bool(_SAVED_MODEL.value):
    raise flags_lib.usage_error('give one of --model_dir and --saved_model.')
  if bool(_IMAGE_DIR.value) == bool(_RECORD_DIR.value):
    raise flags_lib.usage_error('give one of --image_dir and --record_dir.')
  if _SAVED_MODEL.value and (_FLIP.value or scales != (1.0,)):
    raise flags_lib.usage_error(
        '--scales and --flip need --model_dir: a SavedModel serves one scale.')
  if _SAVED_MODEL.value and (_CHECKPOINT.value or _WEIGHTS.value != 'model'):
    raise flags_lib.usage_error(
        '--checkpoint and --weights need --model_dir: a SavedModel holds one '
        'set of weights.')
  return scales, checkpoint, window


def main(argv):
  del argv
  scales, checkpoint, window = _check_flags()
  # Imported once the flags are checked: a mistyped flag fails at once, not
  # after TensorFlow's start-up.
  from cli import vis_lib  # pylint: disable=g-import-not-at-top
  return vis_lib.write_predictions(
      _OUTPUT_DIR.value, model_dir=_MODEL_DIR.value, checkpoint=checkpoint,
      weights=_WEIGHTS.value, saved_model=_SAVED_MODEL.value,
      image_dir=_IMAGE_DIR.value, record_dir=_RECORD_DIR.value,
      split=_SPLIT.value, scales=scales, flip=_FLIP.value, alpha=_ALPHA.value,
      window=window, window_overlap=_WINDOW_OVERLAP.value)


if __name__ == '__main__':
  launch_app.run(main)
