"""Tests for core/distribution_alignment.py: hand-computed marginals and
re-weighting, batches that carry nothing, the fusion hook and the training step.
Replica independence: tests/distributed_test.py."""

import numpy as np
import tensorflow as tf

from core.pseudoseg import distribution_alignment
from core.pseudoseg import fusion
from tests import train_steps_test as steps_fixtures

# 1 image, 1x3 pixels, 2 classes; the third pixel is not valid.
_PROB = np.array([[[[0.8, 0.2], [0.6, 0.4], [0.0, 1.0]]]], np.float32)
_VALID = np.array([[[1.0, 1.0, 0.0]]], np.float32)
# Labeled pixels: two of class 0, one of class 1, one ignored.
_LABEL = np.array([[[[0], [0], [1], [255]]]], np.int32)


class DistributionAlignmentTest(tf.test.TestCase):

  def test_hand_computed_update_and_alignment(self):
    da = distribution_alignment.DistributionAlignment(2, momentum=0.5)
    da.update(_PROB, _VALID, _LABEL)
    # Prediction: 0.5 * [0.5, 0.5] + 0.5 * mean([0.8, 0.2], [0.6, 0.4]) = [0.6, 0.4].
    self.assertAllClose(da.prediction_marginal, [0.6, 0.4])
    # Labels: 0.5 * [0.5, 0.5] + 0.5 * [2/3, 1/3] = [7/12, 5/12].
    self.assertAllClose(da.label_marginal, [7 / 12, 5 / 12])
    # [0.8, 0.2] * [7/12 / 0.6, 5/12 / 0.4] = [0.7778, 0.2083], over 0.9861.
    aligned = da.align(_PROB).numpy()
    self.assertAllClose(aligned[0, 0, 0], [0.78873, 0.21127], atol=1e-5)
    self.assertAllClose(aligned.sum(-1), np.ones([1, 1, 3]), atol=1e-6)

  def test_empty_batch_keeps_the_marginals(self):
    da = distribution_alignment.DistributionAlignment(2, momentum=0.5)
    da.update(_PROB, _VALID, _LABEL)
    before = (da.prediction_marginal.numpy(), da.label_marginal.numpy())
    da.update(_PROB, np.zeros_like(_VALID), np.full_like(_LABEL, 255))
    self.assertAllClose(da.prediction_marginal, before[0])
    self.assertAllClose(da.label_marginal, before[1])

  def test_momentum_out_of_range_is_refused(self):
    for momentum in (0.0, 1.0, -0.5):
      with self.assertRaisesRegex(ValueError, 'momentum must be in'):
        distribution_alignment.DistributionAlignment(3, momentum)

  def test_fusion_aligns_before_threshold_and_sharpening(self):
    logits = tf.constant([[[[4.0, 0.0, 0.0]]]])
    uniform = lambda prob: tf.ones_like(prob) / 3.0
    label, weight = fusion.calibrated_fusion(
        logits, logits, pseudo_src='dec', confidence_threshold=0.5,
        align=uniform)
    # Sharpening a uniform distribution leaves it uniform; 1/3 < 0.5 drops it.
    self.assertAllClose(label, np.full([1, 1, 1, 3], 1 / 3))
    self.assertAllEqual(weight, [[[0.0]]])

  def test_step_moves_the_label_marginal_to_the_labeled_pixels(self):
    model, optimizer = steps_fixtures._build()
    lab = steps_fixtures._labeled_batch()
    batch = {'labeled': lab, 'unlabeled': steps_fixtures._unlabeled_batch()}
    task = steps_fixtures._pseudoseg_task(
        model, steps_fixtures._settings(distribution_alignment=0.9))
    da = task.checkpoint_items()['distribution_alignment']
    self.assertAllClose(da.label_marginal, np.full([5], 0.2))
    out = task.train_step(model, optimizer, batch)
    self.assertTrue(np.isfinite(out['unsup_loss'].numpy()))
    ids = lab['label'].numpy().ravel()
    share = np.bincount(ids[ids != 255], minlength=5) / np.sum(ids != 255)
    self.assertAllClose(da.label_marginal, 0.9 * 0.2 + 0.1 * share, atol=1e-6)
    # The teacher's marginal moved off uniform and is still a distribution.
    self.assertNotAllClose(da.prediction_marginal, np.full([5], 0.2))
    self.assertAllClose(np.sum(da.prediction_marginal.numpy()), 1.0, atol=1e-5)


if __name__ == '__main__':
  tf.test.main()
