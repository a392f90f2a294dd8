r"""Writes the predictions of a trained model for a folder of images or a record split.

Usage:
  python vis.py --model_dir=runs/pseudoseg92 --image_dir=my_photos \
      --output_dir=vis/my_photos [--scales=0.75,1,1.25 --flip]
  python vis.py --saved_model=exported/pseudoseg92 --record_dir=data/voc/tfrecord \
      --split=val --output_dir=vis/val

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

import os
import sys
import time

from absl import flags
import numpy as np
from PIL import Image
import tensorflow as tf

from cli import flags as flags_lib
from cli import predict_lib
from core import config as config_lib
from core import visualization
from core.training import run_dir
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

# Seconds between two progress lines.
_PROGRESS_EVERY = 5.0


def _check_flags():
  """The flags' values, checked before anything is read or built."""
  scales = flags_lib.checked(_SCALES, flags_lib.POSITIVE_NUMBERS, item=float)
  flags_lib.checked(_ALPHA, config_lib.in_range(0.0, 1.0))
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
  return scales, checkpoint


def _save_palette_png(path, class_ids, palette):
  image = Image.fromarray(class_ids.astype(np.uint8), mode='P')
  image.putpalette(palette.reshape(-1).tolist())
  image.save(path, format='PNG')


def _save_png(path, picture):
  """Writes a [h, w, 3] float picture in [0, 1] as an RGB PNG."""
  pixels = tf.cast(tf.clip_by_value(picture, 0.0, 1.0) * 255.0 + 0.5, tf.uint8)
  Image.fromarray(pixels.numpy()).save(path, format='PNG')


def _write_outputs(output_dir, name, image, class_ids, label, palette, alpha):
  """The PNGs of one image (module docstring)."""
  base = os.path.join(output_dir, name)
  _save_palette_png(base + '_prediction.png', class_ids, palette)
  picture = tf.constant(image, tf.float32)[None] / 255.0
  _save_png(base + '_overlay.png', visualization.overlay(
      picture, class_ids[None], palette, alpha)[0])
  if label is not None:
    grid = visualization.side_by_side(
        [picture, visualization.colorize(label[None], palette),
         visualization.colorize(class_ids[None], palette)], image.shape[:2])
    _save_png(base + '_grid.png', grid[0])


def _output_names(paths):
  """Output base name of each file: its stem, the extension too if shared."""
  stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
  return [os.path.basename(p).replace('.', '_') if stems.count(s) > 1 else s
          for p, s in zip(paths, stems)]


def _inputs():
  """(number of inputs or None, iterator of (output name, what, load)).

  `what` names the input in messages; load() returns (image, label or None)
  and raises on a bad input.
  """
  if _IMAGE_DIR.value:
    paths = predict_lib.image_files(_IMAGE_DIR.value)
    return len(paths), (
        (name, path, lambda p=path: (predict_lib.read_image_file(p), None))
        for path, name in zip(paths, _output_names(paths)))
  examples = predict_lib.record_examples(_RECORD_DIR.value, _SPLIT.value)
  return None, ((name.replace(os.sep, '_'), name,
                 lambda i=image, m=label: (i, m))
                for name, image, label in examples)


def main(argv):
  del argv
  scales, checkpoint = _check_flags()
  if _RECORD_DIR.value:
    predict_lib.check_split(_RECORD_DIR.value, _SPLIT.value)
  total, inputs = _inputs()
  if _SAVED_MODEL.value:
    predictor = predict_lib.SavedModelPredictor(_SAVED_MODEL.value)
    palette = predict_lib.palette_for(_RECORD_DIR.value)
    source = _SAVED_MODEL.value
  else:
    model, cfg, _, source = run_dir.load_trained_model(
        _MODEL_DIR.value, checkpoint, _WEIGHTS.value)
    predictor = predict_lib.ModelPredictor(model, scales, _FLIP.value)
    palette = predict_lib.palette_for(_RECORD_DIR.value or cfg.data.record_dir)
  tf.io.gfile.makedirs(_OUTPUT_DIR.value)
  print('Predicting with %s; writing to %s' % (source, _OUTPUT_DIR.value))
  failures = []
  done = 0
  start = last_report = time.time()

  def report():
    seen = done + len(failures)
    seconds = max(time.time() - start, 1e-6)
    print('%d%s images | %.2f img/s | %d failed' % (
        seen, '/%d' % total if total else '', seen / seconds, len(failures)))
    sys.stdout.flush()

  for name, what, load in inputs:
    try:
      image, label = load()
      class_ids, _ = predictor(image)
      _write_outputs(_OUTPUT_DIR.value, name, image, class_ids, label, palette,
                     _ALPHA.value)
    except launch_app.user_errors() as e:  # pylint: disable=catching-non-exception
      failures.append((what, launch_app.one_line(e)))
      print('Skipped %s: %s' % (what, failures[-1][1]))
      continue
    done += 1
    if time.time() - last_report >= _PROGRESS_EVERY:
      last_report = time.time()
      report()
  report()
  if failures:
    print('%d of %d images failed:' % (len(failures), done + len(failures)))
    for what, why in failures:
      print('  %s: %s' % (what, why))
    return 1
  return 0


if __name__ == '__main__':
  launch_app.run(main)
