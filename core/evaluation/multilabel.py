"""Multi-label classification scores: per-class F1 and average precision.

Pure numpy functions of scores and multi-hot targets, [num_images, num_labels] each,
and `predict_scores`, which runs a model's classifier over a dataset to get them. A
class that no image has (and, for F1, that is never predicted) has no score: it is NaN
per class and left out of the means.
"""

import numpy as np
import tensorflow as tf


def f1_per_class(scores, targets, threshold=0.5):
  """F1 of each class at a score threshold.

  F1 = 2 TP / (2 TP + FP + FN); a class is predicted where score >= threshold.

  Args:
    scores: [num_images, num_labels] probabilities.
    targets: [num_images, num_labels] multi-hot in {0, 1}.
    threshold: score from which a class is predicted.

  Returns:
    [num_labels] float64; NaN for a class neither present nor predicted.
  """
  predicted = np.asarray(scores) >= threshold
  present = np.asarray(targets) > 0.5
  tp = np.sum(predicted & present, axis=0)
  fp = np.sum(predicted & ~present, axis=0)
  fn = np.sum(~predicted & present, axis=0)
  denominator = 2 * tp + fp + fn
  with np.errstate(invalid='ignore', divide='ignore'):
    return np.where(denominator > 0, 2.0 * tp / denominator, np.nan)


def average_precision_per_class(scores, targets):
  """Average precision of each class: the mean, over the images that have the
  class, of the precision among the images scored at least as high.

  Ties count as ranked together (every tied image is counted at the tie's
  precision), so the result does not depend on the images' order.

  Args:
    scores: [num_images, num_labels] scores.
    targets: [num_images, num_labels] multi-hot in {0, 1}.

  Returns:
    [num_labels] float64; NaN for a class no image has.
  """
  scores = np.asarray(scores, np.float64)
  present = np.asarray(targets) > 0.5
  out = np.full(scores.shape[1], np.nan)
  for k in range(scores.shape[1]):
    positives = present[:, k]
    if not positives.any():
      continue
    s = scores[:, k]
    # For each positive: images scored >= it, and positives among them.
    at_least = s[None, :] >= s[positives][:, None]
    ranked = at_least.sum(axis=1)
    hits = (at_least & positives[None, :]).sum(axis=1)
    out[k] = np.mean(hits / ranked)
  return out


def summarize(scores, targets, threshold=0.5):
  """{'mean_f1', 'map', 'per_class_f1', 'per_class_ap'}: means over the classes
  that have a score, and the per-class lists (None where NaN)."""
  f1 = f1_per_class(scores, targets, threshold)
  ap = average_precision_per_class(scores, targets)

  def listed(values):
    return [None if np.isnan(v) else float(v) for v in values]

  return {
      'mean_f1': float(np.nanmean(f1)) if np.any(~np.isnan(f1)) else 0.0,
      'map': float(np.nanmean(ap)) if np.any(~np.isnan(ap)) else 0.0,
      'per_class_f1': listed(f1),
      'per_class_ap': listed(ap),
  }


def predict_scores(model, dataset):
  """Sigmoid scores of `model.classify` on every batch of `dataset`.

  Args:
    model: a model with `classify(images) -> [batch, K] logits`.
    dataset: batches of {'image': [batch, H, W, 3], 'class_labels': [batch, K]}.

  Returns:
    (scores, targets): [num_images, K] float32 numpy arrays.
  """
  predict = tf.function(lambda images: tf.sigmoid(model.classify(images)),
                        reduce_retracing=True)
  scores, targets = [], []
  for batch in dataset:
    scores.append(predict(batch['image']).numpy())
    targets.append(batch['class_labels'].numpy())
  return np.concatenate(scores), np.concatenate(targets)
