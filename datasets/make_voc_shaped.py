r"""Writes a stand-in for PASCAL VOC 2012 + SBD at VOC's shapes (datasets/voc_shaped.py).

Run from the repository root:

  python datasets/make_voc_shaped.py --output_root=data/voc_shaped --num_val=8 \
      --num_sbd=200

Expected: OUTPUT_ROOT/VOCdevkit/VOC2012 (train: the ids of --train_ids, by default the
shipped 1464 of VOC train, so that the paper recipes' labeled lists find them; val:
--num_val images) and OUTPUT_ROOT/benchmark_RELEASE/dataset (--num_sbd more images),
500 x 375, 21 classes, about 30 images a second on one core. Convert it as VOC itself:

  python datasets/build_voc2012_data.py --voc_root=data/voc_shaped/VOCdevkit/VOC2012 \
      --sbd_root=data/voc_shaped/benchmark_RELEASE/dataset --output_dir=data/voc_shaped/tfrecord
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

from datasets import splits
from datasets import voc_shaped
from launch import app as launch_app

_DEFAULT_TRAIN_IDS = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), 'split_lists', 'voc',
    'classic_1464.txt')


def _define_flags() -> types.SimpleNamespace:
  """Defines this script's flags (only when run as a script)."""
  args = types.SimpleNamespace(
      output_root=flags.DEFINE_string(
          'output_root', None, 'Directory that receives VOCdevkit/ and '
          'benchmark_RELEASE/.'),
      train_ids=flags.DEFINE_string(
          'train_ids', _DEFAULT_TRAIN_IDS, 'Ids of the train split, one a '
          'line (default: the shipped list of VOC 2012 train).'),
      num_val=flags.DEFINE_integer('num_val', 8, 'Images in the val split.',
                                   lower_bound=1),
      num_sbd=flags.DEFINE_integer(
          'num_sbd', 0, 'SBD-only images (train_aug = train + these).',
          lower_bound=0),
      width=flags.DEFINE_integer('width', 500, 'Image width (px).',
                                 lower_bound=16),
      height=flags.DEFINE_integer('height', 375, 'Image height (px).',
                                  lower_bound=16),
      seed=flags.DEFINE_integer('seed', 0, 'Seed; same seed, same bytes.'))
  flags.mark_flag_as_required('output_root')
  return args


def main(argv: Sequence[str], args: types.SimpleNamespace):
  del argv
  start = time.time()
  train_ids = splits.read_id_list(args.train_ids.value)
  val_ids = [voc_shaped.VAL_ID_FORMAT % i for i in range(args.num_val.value)]
  voc_root, sbd_root = voc_shaped.write_voc_shaped(
      args.output_root.value, train_ids, val_ids, num_sbd=args.num_sbd.value,
      width=args.width.value, height=args.height.value, seed=args.seed.value)
  logging.info('Wrote %s (%d train, %d val) and %s (%d) in %.1f s.', voc_root,
               len(train_ids), len(val_ids), sbd_root, args.num_sbd.value,
               time.time() - start)


if __name__ == '__main__':
  launch_app.run(functools.partial(main, args=_define_flags()))
