"""Reading a training run's results: its evaluation files and its TensorBoard
scalars. Used by summarize_results.py and summarize_ablation.py."""

import glob
import json
import os

import numpy as np
import tensorflow as tf
from tensorflow.core.util import event_pb2


def read_results(run_dir):
  """{step: results dict} of a run's RUN/eval/results-STEP.json files."""
  results = {}
  for path in glob.glob(os.path.join(run_dir, 'eval', 'results-*.json')):
    with open(path) as f:
      result = json.load(f)
    results[result['step']] = result
  return results


def last_and_best(results):
  """(last, best) mIoU of a run's `read_results`, or None if it was not evaluated."""
  scores = {step: r['miou'] for step, r in results.items()}
  if not scores:
    return None
  return scores[max(scores)], max(scores.values())


PSEUDO_LABEL_SCORES = (('decoder_miou', 'decoder'), ('sgc_miou', 'SGC'),
                       ('pseudo_miou', 'fused pseudo label'))
# Logged values averaged for the end-of-training pseudo-label scores.
_LAST_LOGGED = 4


def read_pseudo_label_scores(run_dir):
  """Returns {score: mean of its last logged values} from RUN/train events."""
  series = {}
  for path in sorted(glob.glob(os.path.join(run_dir, 'train', 'events.out.*'))):
    for record in tf.data.TFRecordDataset(path):
      event = event_pb2.Event.FromString(record.numpy())
      for value in event.summary.value:
        name = value.tag.split('/')[-1]
        if value.tag.startswith('metrics/') and name in dict(PSEUDO_LABEL_SCORES):
          series.setdefault(name, {})[event.step] = float(
              tf.make_ndarray(value.tensor))
  return {name: float(np.mean([v for _, v in sorted(points.items())][
      -_LAST_LOGGED:])) for name, points in series.items()}


def cell(values):
  """A table cell: the value, or mean ± standard deviation of several."""
  if not values:
    return 'n/a'
  if len(values) == 1:
    return '%.3f' % values[0]
  # Sample standard deviation (n - 1): a few seeds estimate the spread of all.
  return '%.3f ± %.3f' % (np.mean(values), np.std(values, ddof=1))
