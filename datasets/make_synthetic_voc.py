r"""Writes the embedded synthetic data set in the PASCAL VOC 2012 layout.

Run from the repository root:

  python datasets/make_synthetic_voc.py --output_root=/tmp/synthetic \
      --num_train=1000 --num_val=200 --image_size=128 --seed=0

Expected: OUTPUT_ROOT/VOCdevkit/VOC2012/ with JPEGImages/, SegmentationClass/ (palette
PNGs, 255 on class boundaries), ImageSets/Segmentation/{train,val,trainval}.txt and
dataset_info.json, in about 10 s for 1200 images at 128 px on one core. The same seed
writes byte-identical files. See datasets/synthetic.py for what the scenes contain;
--texture_set=source writes the pretraining set (other classes, same kind of scenes).
--class_hue_prob, --class_hue_spread and --class_shape_prob make the variants of the
calibration study of docs/experiments.md (defaults: the benchmark), e.g. hue and
outline on every object:

  python datasets/make_synthetic_voc.py --output_root=/tmp/cues_100 --seed=1234 \
      --class_hue_prob=1 --class_hue_spread=0.04 --class_shape_prob=1
"""

import os
import time

from absl import app
from absl import flags
from absl import logging

from datasets import synthetic

_OUTPUT_ROOT = flags.DEFINE_string(
    'output_root', None, 'Directory that receives VOCdevkit/VOC2012/.')
_NUM_TRAIN = flags.DEFINE_integer(
    'num_train', synthetic.DEFAULT_NUM_TRAIN, 'Images in the train split.')
_NUM_VAL = flags.DEFINE_integer(
    'num_val', synthetic.DEFAULT_NUM_VAL, 'Images in the val split.')
_IMAGE_SIZE = flags.DEFINE_integer(
    'image_size', synthetic.DEFAULT_IMAGE_SIZE, 'Side of the square images (px).')
_SEED = flags.DEFINE_integer('seed', 0, 'Base seed; same seed, same bytes.')
_TEXTURE_SET = flags.DEFINE_enum(
    'texture_set', 'target', sorted(synthetic.TEXTURE_SETS),
    "'target': the embedded benchmark; 'source': other texture families, for "
    'pretraining a backbone (scripts/pretrain_source.sh).')
_CLASS_HUE_PROB = flags.DEFINE_float(
    'class_hue_prob', synthetic.DEFAULT_CUES.hue_prob,
    "Probability that an object takes its class's hue (else any hue).")
_CLASS_HUE_SPREAD = flags.DEFINE_float(
    'class_hue_spread', synthetic.DEFAULT_CUES.hue_spread,
    "Half-width of the hue range around a class's hue.")
_CLASS_SHAPE_PROB = flags.DEFINE_float(
    'class_shape_prob', synthetic.DEFAULT_CUES.shape_prob,
    "Probability that an object takes its class's outline.")

flags.mark_flag_as_required('output_root')


def main(argv):
  del argv
  start = time.time()
  try:
    cues = synthetic.ClassCues(_CLASS_HUE_PROB.value, _CLASS_HUE_SPREAD.value,
                               _CLASS_SHAPE_PROB.value)
  except ValueError as e:
    raise app.UsageError(str(e)) from e
  voc_root, descriptor = synthetic.generate_voc_layout(
      _OUTPUT_ROOT.value, num_train=_NUM_TRAIN.value, num_val=_NUM_VAL.value,
      image_size=_IMAGE_SIZE.value, seed=_SEED.value,
      texture_set=_TEXTURE_SET.value, cues=cues)
  logging.info('Wrote %s (%s, %d classes) in %.1f s.', voc_root,
               descriptor.splits_to_sizes, descriptor.num_classes,
               time.time() - start)


if __name__ == '__main__':
  app.run(main)
