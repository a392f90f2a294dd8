"""Segmentation metrics: confusion matrix, IoU, pixel accuracy.

Rows of every confusion matrix are the ground truth, columns the prediction:
`cm[i, j]` counts pixels of true class i predicted as j.

`confusion_matrix` and `mean_iou` are TF functions (usable inside `tf.function` /
`strategy.run`); `iou_from_confusion` and `pixel_accuracy` turn a matrix (summed in
numpy across evaluation batches) into numbers.
"""

import numpy as np
import tensorflow as tf


def confusion_matrix(labels, predictions, num_classes, ignore_label=255):
  """Counts (ground truth, prediction) pairs over the non-ignored pixels.

  Pixels whose label is `ignore_label`, or whose label or prediction lies outside
  [0, num_classes), are not counted (so a stray id can never spill into a
  neighbouring cell of the flattened matrix).

  Args:
    labels: integer tensor of any shape (e.g. [batch, H, W] or [batch, H, W, 1]).
    predictions: integer tensor with the same number of elements as `labels`.
    num_classes: int, C.
    ignore_label: int.

  Returns:
    [C, C] int64 tensor, rows = ground truth.
  """
  labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
  predictions = tf.reshape(tf.cast(predictions, tf.int32), [-1])
  valid = ((labels != ignore_label) & (labels >= 0) & (labels < num_classes) &
           (predictions >= 0) & (predictions < num_classes))
  # Uncounted pixels go to one extra bin, dropped after counting (cheaper than
  # gathering the counted ones first).
  cells = num_classes * num_classes
  index = tf.where(valid, labels * num_classes + predictions, cells)
  counts = tf.math.bincount(index, minlength=cells + 1, maxlength=cells + 1,
                            dtype=tf.int64)
  return tf.reshape(counts[:cells], [num_classes, num_classes])


def iou_from_confusion(cm):
  """Intersection over union per class and its mean.

  IoU_c = cm[c, c] / (Σ_j cm[c, j] + Σ_i cm[i, c] − cm[c, c]). A class that appears in
  neither the ground truth nor the predictions has an undefined IoU: it is NaN in
  `per_class_iou` and left out of the mean (as DeepLab's `mean_iou` does), so the mean
  does not depend on which classes an evaluation subset happens to contain. A class
  that is only predicted (false positives) counts, with IoU 0.

  Args:
    cm: [C, C] confusion matrix (numpy or tf), rows = ground truth.

  Returns:
    miou: float, the mean over defined classes (NaN if no class is defined, i.e. the
      matrix is empty).
    per_class_iou: [C] float64 numpy array.
  """
  cm = np.asarray(cm, dtype=np.float64)
  intersection = np.diag(cm)
  union = cm.sum(axis=0) + cm.sum(axis=1) - intersection
  per_class_iou = np.full(cm.shape[0], np.nan)
  defined = union > 0
  per_class_iou[defined] = intersection[defined] / union[defined]
  miou = float(per_class_iou[defined].mean()) if defined.any() else float('nan')
  return miou, per_class_iou


def mean_iou(cm):
  """TF twin of `iou_from_confusion`'s mean, for in-graph diagnostics.

  Classes absent from both the ground truth and the predictions are left out; a
  matrix with no counted pixel gives 0 (not NaN, so that a running mean over steps
  stays finite).

  Args:
    cm: [C, C] integer tensor, rows = ground truth.

  Returns:
    float32 scalar.
  """
  cm = tf.cast(cm, tf.float32)
  intersection = tf.linalg.diag_part(cm)
  union = tf.reduce_sum(cm, 0) + tf.reduce_sum(cm, 1) - intersection
  defined = tf.cast(union > 0, tf.float32)
  iou = tf.math.divide_no_nan(intersection, union)
  return tf.math.divide_no_nan(tf.reduce_sum(iou * defined),
                               tf.reduce_sum(defined))


def pixel_accuracy(cm):
  """Fraction of counted pixels predicted correctly: trace / sum (NaN if empty)."""
  cm = np.asarray(cm, dtype=np.float64)
  total = cm.sum()
  return float(np.trace(cm) / total) if total > 0 else float('nan')
