"""Tests for the multi-label scores (core/evaluation/multilabel.py)."""

import numpy as np
import tensorflow as tf

from core.evaluation import multilabel


def _reference_f1(scores, targets, threshold):
  """F1 per class from precision and recall, image by image."""
  out = []
  for k in range(scores.shape[1]):
    tp = fp = fn = 0
    for s, t in zip(scores[:, k], targets[:, k]):
      predicted, present = s >= threshold, t == 1
      tp += predicted and present
      fp += predicted and not present
      fn += present and not predicted
    if tp + fp + fn == 0:
      out.append(np.nan)
    elif tp == 0:
      out.append(0.0)
    else:
      precision, recall = tp / (tp + fp), tp / (tp + fn)
      out.append(2 * precision * recall / (precision + recall))
  return np.array(out)


def _reference_ap(scores, targets):
  """AP per class: the precision at every positive's rank, averaged; tied
  images all ranked at the tie."""
  out = []
  for k in range(scores.shape[1]):
    s, t = scores[:, k], targets[:, k]
    if not t.any():
      out.append(np.nan)
      continue
    precisions = []
    for i in np.flatnonzero(t):
      ranked = [j for j in range(len(s)) if s[j] >= s[i]]
      precisions.append(sum(t[j] for j in ranked) / len(ranked))
    out.append(np.mean(precisions))
  return np.array(out)


class MultilabelTest(tf.test.TestCase):

  def test_hand_computed(self):
    scores = np.array([[0.9, 0.2, 0.1],
                       [0.6, 0.7, 0.2],
                       [0.4, 0.8, 0.3],
                       [0.1, 0.3, 0.4]])
    targets = np.array([[1, 0, 0],
                        [0, 1, 0],
                        [1, 1, 0],
                        [0, 0, 0]])
    # Class 0: predicted on images 0, 1; present on 0, 2: TP 1, FP 1, FN 1.
    # Class 1: predicted on 1, 2, both present: F1 1. Class 2: no score.
    f1 = multilabel.f1_per_class(scores, targets, 0.5)
    self.assertAllClose(f1[:2], [0.5, 1.0])
    self.assertTrue(np.isnan(f1[2]))
    # Class 0 ranks 0.9 (+), 0.6 (-), 0.4 (+): AP = (1/1 + 2/3) / 2.
    ap = multilabel.average_precision_per_class(scores, targets)
    self.assertAllClose(ap[:2], [(1 + 2 / 3) / 2, 1.0])
    self.assertTrue(np.isnan(ap[2]))
    summary = multilabel.summarize(scores, targets, 0.5)
    self.assertAllClose(summary['mean_f1'], 0.75)
    self.assertAllClose(summary['map'], (5 / 6 + 1.0) / 2)
    self.assertIsNone(summary['per_class_f1'][2])
    self.assertIsNone(summary['per_class_ap'][2])

  def test_against_reference(self):
    rng = np.random.default_rng(3)
    for threshold in (0.3, 0.5, 0.8):
      # Scores rounded to one decimal: many ties.
      scores = np.round(rng.random((40, 5)), 1)
      targets = (rng.random((40, 5)) < 0.3).astype(np.int64)
      targets[:, 4] = 0
      self.assertAllClose(multilabel.f1_per_class(scores, targets, threshold),
                          _reference_f1(scores, targets, threshold))
      self.assertAllClose(
          multilabel.average_precision_per_class(scores, targets),
          _reference_ap(scores, targets))

  def test_ap_ranks_a_tie_together(self):
    scores = np.array([[0.5], [0.5], [0.5], [0.2]])
    targets = np.array([[1], [0], [0], [1]])
    # The tied positive is at precision 1/3 (3 images tied), the last at 2/4,
    # whatever the images' order.
    for order in ([0, 1, 2, 3], [2, 1, 0, 3], [3, 0, 2, 1]):
      self.assertAllClose(multilabel.average_precision_per_class(
          scores[order], targets[order]), [(1 / 3 + 2 / 4) / 2])

  def test_perfect_and_empty(self):
    targets = np.eye(4)
    summary = multilabel.summarize(targets * 0.9 + 0.05, targets)
    self.assertEqual(summary['mean_f1'], 1.0)
    self.assertEqual(summary['map'], 1.0)
    none = multilabel.summarize(np.zeros((3, 2)), np.zeros((3, 2)))
    self.assertEqual((none['mean_f1'], none['map']), (0.0, 0.0))


if __name__ == '__main__':
  tf.test.main()
