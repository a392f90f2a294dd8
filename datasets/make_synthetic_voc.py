r"""Writes the embedded synthetic data set in the PASCAL VOC 2012 layout.

Run from the repository root:

  python datasets/make_synthetic_voc.py --output_root=/tmp/synthetic \
      --num_train=1000 --num_val=200 --image_size=128 --seed=0

Expected: OUTPUT_ROOT/VOCdevkit/VOC2012/ with JPEGImages/, SegmentationClass/ (palette
PNGs, 255 on class boundaries), ImageSets/Segmentation/{train,val,trainval}.txt and
dataset_info.json, in about 10 s for 1200 images at 128 px on one core. The same seed
writes byte-identical files. See datasets/synthetic.py for what the scenes contain;
--texture_set=source writes the pretraining set (other classes, same kind of scenes);
--texture_set=broad the classification pretraining superset (30 classes, the target's
among them; datasets/synthetic.py).
--class_hue_prob, --class_hue_spread and --class_shape_prob make the variants of the
calibration study of docs/experiments.md (defaults: the benchmark), e.g. hue and
outline on every object:

  python datasets/make_synthetic_voc.py --output_root=/tmp/cues_100 --seed=1234 \
      --class_hue_prob=1 --class_hue_spread=0.04 --class_shape_prob=1
"""

if __name__ == '__main__':
  # First, when run as a tool: keeps TensorFlow's start-up noise off the screen.
  from launch import quiet_start  # pylint: disable=g-import-not-at-top,unused-import

import functools
import os
import time
import types
from typing import Sequence

from absl import flags
from absl import logging

from datasets import synthetic
from launch import app as launch_app


def _define_flags() -> types.SimpleNamespace:
  """Defines this script's flags (only when run as a script).

  Returns:
    The flag holders, by flag name.
  """
  args = types.SimpleNamespace(
      output_root=flags.DEFINE_string(
          'output_root', None, 'Directory that receives VOCdevkit/VOC2012/.'),
      num_train=flags.DEFINE_integer(
          'num_train', synthetic.DEFAULT_NUM_TRAIN,
          'Images in the train split.', lower_bound=1),
      num_val=flags.DEFINE_integer(
          'num_val', synthetic.DEFAULT_NUM_VAL, 'Images in the val split.',
          lower_bound=1),
      image_size=flags.DEFINE_integer(
          'image_size', synthetic.DEFAULT_IMAGE_SIZE,
          'Side of the square images (px).',
          lower_bound=synthetic.MIN_IMAGE_SIZE),
      seed=flags.DEFINE_integer('seed', 0,
                                'Base seed; same seed, same bytes.'),
      texture_set=flags.DEFINE_enum(
          'texture_set', 'target', sorted(synthetic.TEXTURE_SETS),
          "'target': the embedded benchmark; 'source': other texture "
          'families, for pretraining a backbone (scripts/pretrain_source.sh); '
          "'broad': 30 textures, the target's among them, varied more, for "
          'pretraining by classification (scripts/build_broad_backbone.sh).'),
      class_hue_prob=flags.DEFINE_float(
          'class_hue_prob', synthetic.DEFAULT_CUES.hue_prob,
          "Probability that an object takes its class's hue (else any hue)."),
      class_hue_spread=flags.DEFINE_float(
          'class_hue_spread', synthetic.DEFAULT_CUES.hue_spread,
          "Half-width of the hue range around a class's hue."),
      class_shape_prob=flags.DEFINE_float(
          'class_shape_prob', synthetic.DEFAULT_CUES.shape_prob,
          "Probability that an object takes its class's outline."))
  flags.mark_flag_as_required('output_root')
  flags.register_multi_flags_validator(
      ['class_hue_prob', 'class_hue_spread', 'class_shape_prob'], _check_cues)
  return args


def _check_cues(values):
  """Flag validator: the class-cue flags make a valid `synthetic.ClassCues`."""
  try:
    synthetic.ClassCues(values['class_hue_prob'], values['class_hue_spread'],
                        values['class_shape_prob'])
  except ValueError as e:
    raise flags.ValidationError(str(e)) from e
  return True


def main(argv: Sequence[str], args: types.SimpleNamespace):
  """Writes the data set named by the flags.

  Args:
    argv: command line left after flag parsing (unused).
    args: the flag holders from `_define_flags()`.
  """
  del argv
  start = time.time()
  cues = synthetic.ClassCues(args.class_hue_prob.value,
                             args.class_hue_spread.value,
                             args.class_shape_prob.value)
  voc_root, descriptor = synthetic.generate_voc_layout(
      args.output_root.value, num_train=args.num_train.value,
      num_val=args.num_val.value, image_size=args.image_size.value,
      seed=args.seed.value, texture_set=args.texture_set.value, cues=cues)
  logging.info('Wrote %s (%s, %d classes) in %.1f s.', voc_root,
               descriptor.splits_to_sizes, descriptor.num_classes,
               time.time() - start)


if __name__ == '__main__':
  launch_app.run(functools.partial(main, args=_define_flags()))
