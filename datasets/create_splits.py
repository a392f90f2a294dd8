r"""Draws a labeled subset of a split and writes the labeled / unlabeled id lists.

Run from the repository root:

  python datasets/create_splits.py --record_dir=data/voc_records --split=train \
    --num_labeled=92 --seed=0 --output_dir=data/voc_records/lists

Expected result: `labeled_92_seed0.txt` (92 ids) and `unlabeled_92_seed0.txt`
(the other 1372 ids of VOC train), one id a line. The ids come from the records'
`image/filename`, or from --id_list (either list format) when given. Only records
with a mask can be drawn as labeled; image-only records all go to the unlabeled
list (the log says how many).
"""

if __name__ == '__main__':
  # First, when run as a tool: keeps TensorFlow's start-up noise off the screen.
  from launch import quiet_start  # pylint: disable=g-import-not-at-top,unused-import

import functools
import os
import types
from typing import Sequence

from absl import app
from absl import flags
from absl import logging

from datasets import convert_utils
from datasets import splits as splits_lib
from launch import app as launch_app


def _define_flags() -> types.SimpleNamespace:
  """Defines this script's flags (only when run as a script).

  Returns:
    The flag holders, by flag name.
  """
  args = types.SimpleNamespace(
      record_dir=flags.DEFINE_string('record_dir', None,
                                     'Record directory to read ids from.'),
      split=flags.DEFINE_string('split', 'train', 'Split to draw from.'),
      id_list=flags.DEFINE_string(
          'id_list', None,
          'Read the ids from this list instead of the records.'),
      num_labeled=flags.DEFINE_integer('num_labeled', None,
                                       'Number of labeled images.',
                                       lower_bound=0),
      fraction=flags.DEFINE_float(
          'fraction', None,
          'Share of labeled images, in (0, 1] (instead of a number).'),
      seed=flags.DEFINE_integer('seed', 0, 'Random seed of the draw.'),
      output_dir=flags.DEFINE_string('output_dir', None,
                                     'Where the two lists are written.'))
  flags.mark_flags_as_required(['output_dir'])
  flags.mark_flags_as_mutual_exclusive(['num_labeled', 'fraction'],
                                       required=True)
  flags.register_validator('fraction', lambda v: v is None or 0.0 < v <= 1.0,
                           message='--fraction must be in (0, 1]')
  return args


def main(argv: Sequence[str], args: types.SimpleNamespace):
  """Draws the subset and writes the two lists.

  Args:
    argv: command line left after flag parsing (unused).
    args: the flag holders from `_define_flags()`.

  Raises:
    app.UsageError: neither --record_dir nor --id_list given.
  """
  del argv
  convert_utils.require_output_dir(args.output_dir.value)
  if args.id_list.value:
    ids = splits_lib.read_id_list(args.id_list.value)
    has_mask = [True] * len(ids)
  elif args.record_dir.value:
    ids, has_mask = splits_lib.records_ids_and_masks(args.record_dir.value,
                                                     args.split.value)
    if not all(has_mask):
      logging.info('%d of the %d records of split %s have no mask: they all go '
                   'to the unlabeled list, the labeled ids are drawn from the '
                   'other %d.', has_mask.count(False), len(ids),
                   args.split.value, has_mask.count(True))
  else:
    raise app.UsageError('Give --record_dir or --id_list.')
  labeled, unlabeled = splits_lib.partition_masked(
      ids, has_mask, num_labeled=args.num_labeled.value,
      fraction=args.fraction.value, seed=args.seed.value)
  names = splits_lib.subset_filenames(len(labeled), args.seed.value)
  for name, subset in zip(names, (labeled, unlabeled)):
    path = os.path.join(args.output_dir.value, name)
    splits_lib.write_id_list(path, subset)
    logging.info('Wrote %d ids to %s.', len(subset), path)


if __name__ == '__main__':
  launch_app.run(functools.partial(main, args=_define_flags()))
