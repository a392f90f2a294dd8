r"""Exports a run's backbone, alone, as a pretrained backbone for --init_checkpoint.

Usage:
  python export_backbone.py --model_dir=runs/source_pretrain_cls \
      --output_dir=pretrained/my_backbone [--checkpoint=PREFIX] [--weights=model]

Writes OUTPUT_DIR/backbone-1.{index,data-*} and its `checkpoint` file, in Model
Garden's layout for pretrained backbones (`tf.train.Checkpoint(backbone=...)`:
no heads, no optimizer slots, a third of a training checkpoint), and
OUTPUT_DIR/backbone.json: the model flags it fits, the run and checkpoint it came
from, and that run's own evaluation when it has one (eval.json). An OUTPUT_DIR
that already holds a checkpoint is an error; nothing is overwritten.
scripts/build_pretrained_backbone.sh builds the one the main job starts from.
"""

# First: keeps TensorFlow's start-up noise off the screen (launch/quiet_start.py).
from launch import quiet_start  # pylint: disable=unused-import,g-bad-import-order

import json
import os

from absl import flags
from absl import logging
import tensorflow as tf

from cli import flags as flags_lib
from core.modeling import model as model_lib
from core.training import run_dir
from launch import app as launch_app

_MODEL_DIR = flags.DEFINE_string('model_dir', None, 'Training run directory.',
                                 required=True)
_CHECKPOINT = flags.DEFINE_string('checkpoint', '',
                                  'Checkpoint path; default: the latest.')
_OUTPUT_DIR = flags.DEFINE_string('output_dir', None,
                                  'Where to write the backbone (new or empty).',
                                  required=True)
_WEIGHTS = flags_lib.define_weights_flag()

# The model flags a backbone checkpoint must match to restore.
_BACKBONE_FIELDS = ('backbone', 'width_multiplier', 'output_stride')


def main(argv):
  del argv
  model, cfg, _, path = run_dir.load_trained_model(
      _MODEL_DIR.value, _CHECKPOINT.value, _WEIGHTS.value)
  written = model_lib.save_backbone(model, _OUTPUT_DIR.value)
  record = {
      'fits': {name: getattr(cfg.model, name) for name in _BACKBONE_FIELDS},
      'source_run': _MODEL_DIR.value,
      'source_checkpoint': os.path.basename(path),
      'weights': _WEIGHTS.value,
      'source_record_dir': cfg.data.record_dir,
  }
  eval_path = os.path.join(_MODEL_DIR.value, 'eval.json')
  if tf.io.gfile.exists(eval_path):
    with tf.io.gfile.GFile(eval_path) as f:
      record['source_eval'] = json.load(f)
  with tf.io.gfile.GFile(os.path.join(_OUTPUT_DIR.value, 'backbone.json'),
                         'w') as f:
    json.dump(record, f, indent=2, sort_keys=True)
  logging.info('Exported the backbone of %s to %s.', path, written)
  print('Backbone for --init_checkpoint: %s' % _OUTPUT_DIR.value)


if __name__ == '__main__':
  launch_app.run(main)
