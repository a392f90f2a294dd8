r"""Prints the ablation table of scripts/ablation_table.sh from its runs.

Usage:
  python scripts/summarize_ablation.py --root=runs/ablation/unlabeled --seeds=0,1,2 \
      --rows=supervised,fusion,dec,att,hard,uncalibrated,t1,no_strong

Reads ROOT/seedS/ROW/eval/results-STEP.json (the last checkpoint's val mIoU) and, for
the PseudoSeg rows, the teacher's score of the pseudo label it trained on (the mean of
the last logged metrics/pseudo_miou, as scripts/run_results.py reads it). Prints
one row per ablation (each seed, mean ± std), then the paper's orderings as measured
here: the mean difference and on how many seeds it holds. Writes ablation.md and
ablation.json to ROOT.
"""

import json
import os

from absl import app
from absl import flags
import numpy as np

import run_results

_ROOT = flags.DEFINE_string('root', None, 'The ablation runs.', required=True)
_SEEDS = flags.DEFINE_list('seeds', None, 'Seeds run.', required=True)
_ROWS = flags.DEFINE_list('rows', None, 'Rows run, in table order.',
                          required=True)
_MODE = flags.DEFINE_string('mode', 'unlabeled', 'unlabeled | image_labels.')

TITLES = {
    'supervised': 'supervised only (labeled images)',
    'fusion': 'fusion: calibrated, soft, T 0.5 (official)',
    'dec': 'decoder alone',
    'att': 'SGC (self-attention CAM) alone',
    'hard': 'hard labels (one-hot of the fusion)',
    'uncalibrated': 'uncalibrated logits (--logit_norm=none)',
    't1': 'no sharpening (T 1)',
    'no_strong': 'no strong augmentation',
}
# (row, row it should beat, the paper's claim).
ORDERINGS = (
    ('fusion', 'dec', 'fusion > decoder alone'),
    ('fusion', 'att', 'fusion > CAM (SGC) alone'),
    ('dec', 'att', 'decoder alone > CAM (SGC) alone'),
    ('fusion', 'hard', 'soft > hard'),
    ('fusion', 'uncalibrated', 'calibrated > uncalibrated'),
    ('fusion', 't1', 'sharpened (T 0.5) > T 1'),
    ('fusion', 'no_strong', 'strong augmentation > none'),
    ('fusion', 'supervised', 'PseudoSeg > supervised only'),
)


def last_miou(run_dir):
  scores = run_results.last_and_best(
      run_results.read_results(run_dir))
  return scores[0] if scores else None


def orderings(miou):
  """[(claim, mean difference, seeds where it holds, seeds)] of the ORDERINGS
  whose two rows were both scored on the same seeds."""
  out = []
  for better, worse, claim in ORDERINGS:
    a, b = miou.get(better, []), miou.get(worse, [])
    if not a or len(a) != len(b) or None in a + b:
      continue
    diff = np.array(a) - np.array(b)
    out.append((claim, float(np.mean(diff)), int(np.sum(diff > 0)), len(diff)))
  return out


def main(argv):
  del argv
  root, rows = _ROOT.value, _ROWS.value
  unknown = [r for r in rows if r not in TITLES]
  if unknown:
    raise app.UsageError('--rows: no row %s (rows: %s).' % (
        ', '.join(unknown), ', '.join(TITLES)))
  miou, pseudo = {}, {}
  for row in rows:
    miou[row], pseudo[row] = [], []
    for seed in _SEEDS.value:
      run_dir = os.path.join(root, 'seed%s' % seed, row)
      miou[row].append(last_miou(run_dir))
      if row != 'supervised':
        score = run_results.read_pseudo_label_scores(run_dir).get(
            'pseudo_miou')
        if score is not None:
          pseudo[row].append(score)
  seeds = ['seed %s' % s for s in _SEEDS.value]
  lines = ['val mIoU of the last checkpoint, PseudoSeg %s, %d seed%s (%s)' % (
      'with image labels' if _MODE.value == 'image_labels' else 'unlabeled',
      len(seeds), 's' if len(seeds) > 1 else '', root), '',
           '| pseudo label | ' + ' | '.join(seeds) +
           ' | mean ± std | pseudo label mIoU (teacher) |',
           '|' + '---|' * (len(seeds) + 3)]
  for row in rows:
    scored = [v for v in miou[row] if v is not None]
    lines.append('| %s | %s | %s | %s |' % (
        TITLES[row], ' | '.join('n/a' if v is None else '%.3f' % v
                                for v in miou[row]),
        run_results.cell(scored), run_results.cell(pseudo[row])))
  found = orderings(miou)
  if found:
    lines += ['', 'The paper\'s orderings, here (mean difference of mIoU; seeds '
              'where it holds):']
    for claim, diff, holds, n in found:
      lines.append('  %-36s %+.3f  (%d of %d seeds)' % (claim + ':', diff,
                                                         holds, n))
  text = '\n'.join(lines)
  print(text)
  with open(os.path.join(root, 'ablation.md'), 'w') as f:
    f.write(text + '\n')
  with open(os.path.join(root, 'ablation.json'), 'w') as f:
    json.dump({'mode': _MODE.value, 'seeds': _SEEDS.value, 'miou': miou,
               'pseudo_label_miou': pseudo,
               'orderings': [dict(claim=c, mean_difference=d, holds_on=h,
                                  seeds=n) for c, d, h, n in found]},
              f, indent=2)


if __name__ == '__main__':
  app.run(main)
