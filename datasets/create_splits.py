r"""Draws a labeled subset of a split and writes the labeled / unlabeled id lists.

Run from the repository root:

  python datasets/create_splits.py --record_dir=data/voc_records --split=train \
    --num_labeled=92 --seed=0 --output_dir=data/voc_records/lists

Expected result: `labeled_92_seed0.txt` (92 ids) and `unlabeled_92_seed0.txt`
(the other 1372 ids of VOC train), one id a line. The ids come from the records'
`image/filename`, or from --id_list (either list format) when given.
"""

import os

from absl import app
from absl import flags
from absl import logging

from datasets import splits as splits_lib

# Flags whose names other scripts also use allow override: tests import several
# scripts into one process (a script run still defines each flag once).
_RECORD_DIR = flags.DEFINE_string('record_dir', None,
                                  'Record directory to read ids from.')
_SPLIT = flags.DEFINE_string('split', 'train', 'Split to draw from.')
_ID_LIST = flags.DEFINE_string(
    'id_list', None, 'Read the ids from this list instead of the records.')
_NUM_LABELED = flags.DEFINE_integer('num_labeled', None,
                                    'Number of labeled images.')
_FRACTION = flags.DEFINE_float('fraction', None,
                               'Share of labeled images (instead of a number).')
_SEED = flags.DEFINE_integer('seed', 0, 'Random seed of the draw.',
                             allow_override=True)
_OUTPUT_DIR = flags.DEFINE_string('output_dir', None,
                                  'Where the two lists are written.',
                                  allow_override=True)


def main(argv):
  del argv
  if _ID_LIST.value:
    ids = splits_lib.read_id_list(_ID_LIST.value)
  elif _RECORD_DIR.value:
    ids = splits_lib.ids_from_records(_RECORD_DIR.value, _SPLIT.value)
  else:
    raise app.UsageError('Give --record_dir or --id_list.')
  labeled, unlabeled = splits_lib.partition(
      ids, num_labeled=_NUM_LABELED.value, fraction=_FRACTION.value,
      seed=_SEED.value)
  names = splits_lib.subset_filenames(len(labeled), _SEED.value)
  for name, subset in zip(names, (labeled, unlabeled)):
    path = os.path.join(_OUTPUT_DIR.value, name)
    splits_lib.write_id_list(path, subset)
    logging.info('Wrote %d ids to %s.', len(subset), path)


if __name__ == '__main__':
  flags.mark_flags_as_required(['output_dir'])
  app.run(main)
