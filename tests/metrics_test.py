"""Tests for core.metrics."""

import numpy as np
import tensorflow as tf

from core.evaluation import metrics


def _np_confusion(labels, preds, num_classes, ignore_label=255):
  """Loop-based numpy reference."""
  cm = np.zeros((num_classes, num_classes), np.int64)
  for gt, pr in zip(np.ravel(labels), np.ravel(preds)):
    if gt == ignore_label or not 0 <= gt < num_classes:
      continue
    if not 0 <= pr < num_classes:
      continue
    cm[gt, pr] += 1
  return cm


class ConfusionMatrixTest(tf.test.TestCase):

  def test_hand_computed(self):
    # gt 0 -> pred 0, gt 0 -> pred 1, gt 1 -> pred 1 (twice), gt 255 ignored.
    labels = tf.constant([[[0], [0]], [[1], [1]], [[255], [1]]])
    preds = tf.constant([[0, 1], [1, 1], [0, 1]])
    cm = metrics.confusion_matrix(tf.reshape(labels, [-1]),
                                  tf.reshape(preds, [-1]), 2)
    self.assertEqual(cm.dtype, tf.int64)
    self.assertAllEqual(cm, [[1, 1], [0, 3]])
    miou, per_class = metrics.iou_from_confusion(cm)
    # IoU_0 = 1 / (2 + 1 - 1) = 1/2; IoU_1 = 3 / (3 + 4 - 3) = 3/4; mean = 5/8.
    self.assertAllClose(per_class, [0.5, 0.75])
    self.assertAllClose(miou, 0.625)
    # Pixel accuracy: 4 correct of 5 counted.
    self.assertAllClose(metrics.pixel_accuracy(cm), 0.8)

  def test_mean_iou_in_tf_matches_hand_values(self):
    # Same matrix as above: IoUs 1/2 and 3/4, mean 5/8.
    self.assertAllClose(metrics.mean_iou(tf.constant([[1, 1], [0, 3]])), 0.625)
    # Class 2 absent from ground truth and predictions: left out of the mean.
    cm = tf.constant([[2, 0, 0], [1, 1, 0], [0, 0, 0]], tf.int64)
    # IoU_0 = 2 / (2 + 3 - 2) = 2/3, IoU_1 = 1 / (2 + 1 - 1) = 1/2.
    self.assertAllClose(metrics.mean_iou(cm), (2 / 3 + 1 / 2) / 2)
    self.assertAllClose(metrics.mean_iou(cm), metrics.iou_from_confusion(cm)[0])
    # No counted pixel: 0, not NaN.
    self.assertAllClose(metrics.mean_iou(tf.zeros([3, 3], tf.int64)), 0.0)

  def test_matches_numpy_and_in_tf_function(self):
    rng = np.random.RandomState(0)
    labels = rng.randint(0, 5, size=(2, 7, 9, 1))
    labels[rng.rand(*labels.shape) < 0.2] = 255
    preds = rng.randint(0, 5, size=(2, 7, 9))
    want = _np_confusion(labels, preds, 5)
    self.assertAllEqual(metrics.confusion_matrix(labels, preds, 5), want)
    fn = tf.function(lambda l, p: metrics.confusion_matrix(l, p, 5))
    self.assertAllEqual(fn(tf.constant(labels), tf.constant(preds)), want)

  def test_out_of_range_ids_do_not_spill(self):
    # Label 2 >= num_classes and prediction 2 would land in the next row's cell.
    cm = metrics.confusion_matrix([0, 2, 1, 0], [2, 0, 1, 0], 2)
    self.assertAllEqual(cm, [[1, 0], [0, 1]])

  def test_absent_classes_are_excluded(self):
    # Class 2 appears nowhere: NaN, out of the mean. Class 1 is only predicted:
    # IoU 0 and in the mean. IoU_0 = 2 / (3 + 2 - 2) = 2/3; mean = (2/3 + 0) / 2.
    cm = np.array([[2, 1, 0], [0, 0, 0], [0, 0, 0]])
    miou, per_class = metrics.iou_from_confusion(cm)
    self.assertAllClose(per_class[:2], [2 / 3, 0.0])
    self.assertTrue(np.isnan(per_class[2]))
    self.assertAllClose(miou, 1 / 3)

  def test_empty_matrix(self):
    miou, per_class = metrics.iou_from_confusion(np.zeros((3, 3)))
    self.assertTrue(np.isnan(miou))
    self.assertTrue(np.all(np.isnan(per_class)))
    self.assertTrue(np.isnan(metrics.pixel_accuracy(np.zeros((3, 3)))))


if __name__ == '__main__':
  tf.test.main()
