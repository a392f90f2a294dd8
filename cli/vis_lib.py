"""What vis.py does once its flags are checked: predict and write the pictures.

`write_predictions` runs a training run's model (or a SavedModel) on a folder of
images or a record split and writes, per image, a palette PNG of the class ids, a
colour overlay and, for records with a mask, an image | ground truth | prediction
grid; a file it cannot read is named and skipped. Plain values in, no flags read.
"""

import os
import sys
import time

from PIL import Image
import tensorflow as tf

from cli import predict_lib
from core import visualization
from core.training import run_dir
from datasets import descriptors
from launch import app as launch_app

# Seconds between two progress lines.
_PROGRESS_EVERY = 5.0


def _save_png(path, picture):
  """Writes a [h, w, 3] float picture in [0, 1] as an RGB PNG."""
  pixels = tf.cast(tf.clip_by_value(picture, 0.0, 1.0) * 255.0 + 0.5, tf.uint8)
  Image.fromarray(pixels.numpy()).save(path, format='PNG')


def _write_outputs(output_dir, name, image, class_ids, label, palette, alpha):
  """The PNGs of one image (module docstring)."""
  base = os.path.join(output_dir, name)
  descriptors.write_palette_png(base + '_prediction.png', class_ids, palette)
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


def _inputs(image_dir, record_dir, split):
  """(number of inputs or None, iterator of (output name, what, load)).

  `what` names the input in messages; load() returns (image, label or None)
  and raises on a bad input.
  """
  if image_dir:
    paths = predict_lib.image_files(image_dir)
    return len(paths), (
        (name, path, lambda p=path: (predict_lib.read_image_file(p), None))
        for path, name in zip(paths, _output_names(paths)))
  examples = predict_lib.record_examples(record_dir, split)
  return None, ((name.replace(os.sep, '_'), name,
                 lambda i=image, m=label: (i, m))
                for name, image, label in examples)


def write_predictions(output_dir, model_dir='', checkpoint='', weights='model',
                      saved_model='', image_dir='', record_dir='', split='val',
                      scales=(1.0,), flip=False, alpha=0.5, window=None,
                      window_overlap=1.0 / 3.0):
  """Writes the PNGs of every image (vis.py's docstring), a bad one skipped.

  Args:
    output_dir: where the PNGs go.
    model_dir: a training run (or give `saved_model`).
    checkpoint: with `model_dir`, a checkpoint prefix; '' = the latest.
    weights: with `model_dir`, 'model' or 'teacher'.
    saved_model: an export_model.py SavedModel.
    image_dir: a folder of images (or give `record_dir` and `split`).
    record_dir: records to predict on.
    split: with `record_dir`, the split.
    scales: inference scales (`model_dir` only).
    flip: add flipped inference (`model_dir` only).
    alpha: weight of the class colours in the overlay.
    window: (height, width): predict window by window, `window_overlap` of a
      window overlapping the next; None: each image whole.
    window_overlap: in [0, 1).

  Returns:
    The exit status: 0, or 1 if an image failed (each is named).
  """
  if record_dir:
    predict_lib.check_split(record_dir, split)
  total, inputs = _inputs(image_dir, record_dir, split)
  if saved_model:
    predictor = predict_lib.SavedModelPredictor(saved_model)
    palette = predict_lib.palette_for(record_dir)
    source = saved_model
  else:
    model, cfg, _, source = run_dir.load_trained_model(
        model_dir, checkpoint, weights)
    predictor = predict_lib.ModelPredictor(model, scales, flip)
    palette = predict_lib.palette_for(record_dir or cfg.data.record_dir)
  if window:
    predictor = predict_lib.TiledPredictor(predictor, window, window_overlap)
  tf.io.gfile.makedirs(output_dir)
  print('Predicting with %s; writing to %s' % (source, output_dir))
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
      _write_outputs(output_dir, name, image, class_ids, label, palette, alpha)
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


