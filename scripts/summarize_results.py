r"""Prints the main job's results table from the runs' evaluation files.

Usage:
  python scripts/summarize_results.py --runs_dirs=runs/main/seed0 --num_labeled=20
  python scripts/summarize_results.py --runs_dirs=runs/main/seed0,runs/main/seed1,runs/main/seed2 \
      --num_labeled=20 --output_dir=runs/main

For each run (sup_few, pseudoseg, pseudoseg_image_labels, sup_full) it reads
RUN/eval/results-STEP.json (written by train_sup_eval.py): 'last' is the final
checkpoint's mIoU, 'best' the best of the scored checkpoints. With several run
directories (seeds) it adds mean ± standard deviation. For the PseudoSeg runs
trained with --score_pseudo_labels it also reports how good the teacher's pseudo
labels were on the unlabeled crops at the end of training (the mean of the last
few logged values of metrics/decoder_miou, sgc_miou, pseudo_miou in RUN/train).
Then the last checkpoint's IoU per class, mean over the seeds: where a run loses a
class (as self-training can), it shows there.
Writes results.md and results.json to --output_dir (default: the single runs dir).
"""

import json
import os

from absl import app
from absl import flags
import numpy as np

import run_results

SCORES = run_results.PSEUDO_LABEL_SCORES

_RUNS_DIRS = flags.DEFINE_list('runs_dirs', None, 'Run directories (seeds).',
                               required=True)
_NUM_LABELED = flags.DEFINE_integer('num_labeled', None, 'Labeled images used.',
                                    required=True)
_OUTPUT_DIR = flags.DEFINE_string('output_dir', '', 'Where to write the table.')

COLUMNS = (('sup_few', 'supervised'), ('pseudoseg', 'PseudoSeg'),
           ('pseudoseg_image_labels', 'PseudoSeg + image labels'),
           ('sup_full', 'fully supervised (all labels)'))


def last_per_class(results):
  """(class names, per-class IoU) of a run's last checkpoint, or None.

  None also when the results file predates per-class scores.
  """
  if not results:
    return None
  last = results[max(results)]
  if 'per_class_iou' not in last or 'class_names' not in last:
    return None
  return list(last['class_names']), list(last['per_class_iou'])


def per_class_table(runs_dirs, results):
  """Markdown lines: last checkpoint's IoU per class, mean over the seeds.

  A class that a run stops predicting shows here long before it moves the mIoU
  much. `results` maps (runs_dir, run) to the run's `read_results`. Returns
  ([], {}) when no run has per-class scores.
  """
  names, per_run = None, {}
  for run, _ in COLUMNS:
    for runs_dir in runs_dirs:
      found = last_per_class(results[(runs_dir, run)])
      if found is None:
        continue
      if names is not None and found[0] != names:
        raise ValueError('%s: classes %s differ from %s.' %
                         (os.path.join(runs_dir, run), found[0], names))
      names = found[0]
      per_run.setdefault(run, []).append(found[1])
  if names is None:
    return [], {}
  over = ' (mean over the seeds)' if len(runs_dirs) > 1 else ''
  lines = ['', 'IoU per class, last checkpoint%s:' % over,
           '| run | seeds | ' + ' | '.join(names) + ' |',
           '|' + '---|' * (len(names) + 2)]
  for run, title in COLUMNS:
    if run in per_run:
      mean = np.mean(per_run[run], axis=0)
      lines.append('| %s | %d | ' % (title, len(per_run[run])) +
                   ' | '.join('%.3f' % v for v in mean) + ' |')
  return lines, per_run


def main(argv):
  del argv
  table = {run: {'last': [], 'best': []} for run, _ in COLUMNS}
  # Each run's evaluation files, read once for both tables.
  results = {(runs_dir, run):
             run_results.read_results(os.path.join(runs_dir, run))
             for runs_dir in _RUNS_DIRS.value for run, _ in COLUMNS}
  for runs_dir in _RUNS_DIRS.value:
    for run, _ in COLUMNS:
      scores = run_results.last_and_best(results[(runs_dir, run)])
      if scores:
        table[run]['last'].append(scores[0])
        table[run]['best'].append(scores[1])
  lines = ['| labeled images | checkpoint | ' +
           ' | '.join(t for _, t in COLUMNS) + ' |',
           '|' + '---|' * (len(COLUMNS) + 2)]
  for which in ('last', 'best'):
    lines.append('| %d | %s | ' % (_NUM_LABELED.value, which) + ' | '.join(
        run_results.cell(table[run][which]) for run, _ in COLUMNS) + ' |')
  text = '\n'.join(lines)
  seeds = len(_RUNS_DIRS.value)
  print('\nval mIoU, %d seed%s (%s)\n%s' % (seeds, 's' if seeds > 1 else '',
                                          ', '.join(_RUNS_DIRS.value), text))
  scores = {run: {name: [] for name, _ in SCORES}
            for run in ('pseudoseg', 'pseudoseg_image_labels')}
  for runs_dir in _RUNS_DIRS.value:
    for run, per_score in scores.items():
      for name, value in run_results.read_pseudo_label_scores(
          os.path.join(runs_dir, run)).items():
        per_score[name].append(value)
  if any(v for per_score in scores.values() for v in per_score.values()):
    score_lines = ['', 'Teacher on the unlabeled crops at the end of training '
                   '(mIoU vs. their hidden masks):',
                   '| run | ' + ' | '.join(t for _, t in SCORES) +
                   ' |', '|' + '---|' * (len(SCORES) + 1)]
    for run, per_score in scores.items():
      score_lines.append('| %s | ' % dict(COLUMNS)[run] + ' | '.join(
          run_results.cell(per_score[name]) for name, _ in SCORES) + ' |')
    score_text = '\n'.join(score_lines)
    print(score_text)
    text += '\n' + score_text
  class_lines, per_class = per_class_table(_RUNS_DIRS.value, results)
  if class_lines:
    class_text = '\n'.join(class_lines)
    print(class_text)
    text += '\n' + class_text
  sup = table['sup_few']['last']
  for run, title in (('pseudoseg', 'PseudoSeg'),
                     ('pseudoseg_image_labels', 'PseudoSeg + image labels')):
    wss = table[run]['last']
    if sup and len(sup) == len(wss):
      gains = np.array(wss) - np.array(sup)
      print('%s - supervised (last checkpoint), per seed: %s' %
            (title, ', '.join('%+.3f' % g for g in gains)))
  out = _OUTPUT_DIR.value or _RUNS_DIRS.value[0]
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, 'results.md'), 'w') as f:
    f.write(text + '\n')
  with open(os.path.join(out, 'results.json'), 'w') as f:
    json.dump({'num_labeled': _NUM_LABELED.value, 'runs_dirs': _RUNS_DIRS.value,
               'miou': table, 'pseudo_label_miou': scores,
               'per_class_iou_last': per_class}, f, indent=2)


if __name__ == '__main__':
  app.run(main)
