r"""Prints the main job's results table from the runs' eval.json files.

Usage: python scripts/summarize_results.py --runs_dir=runs/main/seed0 --num_labeled=20
Writes RUNS_DIR/results.md and RUNS_DIR/results.json as well.
"""

import json
import os

from absl import app
from absl import flags

_RUNS_DIR = flags.DEFINE_string('runs_dir', None, 'Directory of the runs.',
                                required=True)
_NUM_LABELED = flags.DEFINE_integer('num_labeled', None, 'Labeled images used.',
                                    required=True)

COLUMNS = (('sup_few', 'supervised'), ('pseudoseg', 'PseudoSeg'),
           ('pseudoseg_image_labels', 'PseudoSeg + image labels'),
           ('sup_full', 'fully supervised'))


def main(argv):
  del argv
  results = {}
  for run, _ in COLUMNS:
    path = os.path.join(_RUNS_DIR.value, run, 'eval.json')
    if os.path.exists(path):
      with open(path) as f:
        results[run] = json.load(f)['miou']
  header = '| labels used | ' + ' | '.join(t for _, t in COLUMNS) + ' |'
  rule = '|' + '---|' * (len(COLUMNS) + 1)
  row = '| %d | ' % _NUM_LABELED.value + ' | '.join(
      '%.4f' % results[r] if r in results else 'n/a' for r, _ in COLUMNS) + ' |'
  table = '\n'.join([header, rule, row])
  print('\nmIoU on the val split (%s)\n%s' % (_RUNS_DIR.value, table))
  with open(os.path.join(_RUNS_DIR.value, 'results.md'), 'w') as f:
    f.write(table + '\n')
  with open(os.path.join(_RUNS_DIR.value, 'results.json'), 'w') as f:
    json.dump(dict(results, num_labeled=_NUM_LABELED.value), f, indent=2)


if __name__ == '__main__':
  app.run(main)
