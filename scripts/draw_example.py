r"""Draws image | ground truth | pseudo label | prediction for a few images of a run.

The picture at the top of the README comes from the embedded benchmark's PseudoSeg run
with image labels:

  python scripts/draw_example.py \
      --model_dir=runs/main/seed0/pseudoseg_image_labels \
      --output=docs/images/embedded_example.png

The pseudo label is what the run's teacher makes of the image (its calibrated fusion of
decoder and SGC, inference mode, the image's own classes when the run had image labels);
the prediction is the decoder's. Writes one PNG, a row per image.
"""

# First: keeps TensorFlow's start-up noise off the screen (launch/quiet_start.py).
from launch import quiet_start  # pylint: disable=unused-import,g-bad-import-order

import os

from absl import app
from absl import flags
from absl import logging
import tensorflow as tf

from cli import experiment_lib
from core import visualization
from core.tasks import pseudoseg as pseudoseg_task
from core.tasks.options import base as options_lib
from core.training import run_dir
from datasets import input_pipeline
from launch import app as launch_app

_MODEL_DIR = flags.DEFINE_string('model_dir', None, 'A train_wss.py run.',
                                 required=True)
_OUTPUT = flags.DEFINE_string('output', None, 'PNG file to write.',
                              required=True)
_SPLIT = flags.DEFINE_string('split', 'val', 'Split whose images to draw.')
_NUM_IMAGES = flags.DEFINE_integer('num_images', 4, 'Rows of the picture.')
_SCALE = flags.DEFINE_integer('scale', 2, 'Each picture enlarged this much.')


def main(argv):
  del argv
  model, cfg, num_classes, path = run_dir.load_trained_model(_MODEL_DIR.value)
  if not cfg.model.pseudoseg_heads:
    raise app.UsageError('%s is not a train_wss.py run.' % _MODEL_DIR.value)
  descriptor, files = experiment_lib.eval_records(cfg, num_classes, '',
                                                  _SPLIT.value, _MODEL_DIR.value)
  rows = []
  task = pseudoseg_task.PseudoSegTask(cfg, num_classes, descriptor.ignore_label,
                                      descriptor.palette, options=[])
  for batch in experiment_lib.eval_dataset(files, None, 1).take(
      _NUM_IMAGES.value):
    image = batch['image']
    classes = input_pipeline.batch_class_multi_hot(batch['label'], num_classes)
    ctx = options_lib.StepContext(None, None, None, {
        'weak_image': image, 'weak_valid': batch['valid'],
        'class_labels': classes})
    _, pseudo, _ = task.teacher_pass(model, ctx, training=False, update=False)
    prediction = model(image, training=False)['logits']
    size = tf.shape(image)[1:3] * _SCALE.value
    rows.append(visualization.side_by_side([
        tf.image.resize(image, size),
        visualization.colorize(batch['label'], descriptor.palette),
        visualization.colorize(tf.argmax(pseudo, -1), descriptor.palette),
        visualization.colorize(tf.argmax(prediction, -1), descriptor.palette)],
        size)[0])
  picture = tf.cast(tf.concat(rows, 0) * 255.0 + 0.5, tf.uint8)
  tf.io.gfile.makedirs(os.path.dirname(_OUTPUT.value) or '.')
  tf.io.write_file(_OUTPUT.value, tf.io.encode_png(picture))
  logging.info('Wrote %s (%s, %s, %d images).', _OUTPUT.value, path,
               _SPLIT.value, len(rows))


if __name__ == '__main__':
  launch_app.run(main)
