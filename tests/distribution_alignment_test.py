"""Tests for core/distribution_alignment.py: hand-computed marginals and
re-weighting, batches that carry nothing, the fusion hook, the training step, and
replica independence (two logical CPU devices, in a fresh interpreter)."""

import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

from core import distribution_alignment
from core import fusion
from core import train_steps
from tests import train_steps_test as steps_fixtures

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

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
    da = distribution_alignment.DistributionAlignment(
        steps_fixtures._NUM_CLASSES, momentum=0.9)
    out = train_steps.pseudoseg_step(model, optimizer, batch,
                                     steps_fixtures._settings(), alignment=da)
    self.assertTrue(np.isfinite(out['unsup_loss'].numpy()))
    ids = lab['label'].numpy().ravel()
    share = np.bincount(ids[ids != 255], minlength=5) / np.sum(ids != 255)
    self.assertAllClose(da.label_marginal, 0.9 * 0.2 + 0.1 * share, atol=1e-6)
    # The teacher's marginal moved off uniform and is still a distribution.
    self.assertNotAllClose(da.prediction_marginal, np.full([5], 0.2))
    self.assertAllClose(np.sum(da.prediction_marginal.numpy()), 1.0, atol=1e-5)


_SCRIPT = r'''
import json
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices('CPU')[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from core import distribution_alignment

rng = np.random.RandomState(0)
prob = rng.dirichlet(np.ones(4), size=(4, 3, 3)).astype(np.float32)
# The halves differ: replica 1 has fewer valid pixels and other labels.
valid = np.ones([4, 3, 3], np.float32)
valid[2:, 0] = 0.0
label = rng.randint(0, 4, size=(4, 5, 5, 1)).astype(np.int32)
label[2:] = np.where(label[2:] == 3, 255, label[2:])

single = distribution_alignment.DistributionAlignment(4, 0.5)
single.update(prob, valid, label)
expected = single.align(prob).numpy()

strategy = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
with strategy.scope():
  da = distribution_alignment.DistributionAlignment(4, 0.5)


def split(array):
  def value_fn(ctx):
    i = ctx.replica_id_in_sync_group
    return tf.constant(array[2 * i:2 * i + 2])
  return strategy.experimental_distribute_values_from_function(value_fn)


@tf.function
def step(p, v, l):
  def fn(p, v, l):
    da.update(p, v, l)
    return da.align(p)
  return strategy.run(fn, args=(p, v, l))


aligned = step(split(prob), split(valid), split(label))
aligned = np.concatenate([t.numpy() for t in
                          strategy.experimental_local_results(aligned)])
print(json.dumps({
    'replicas': strategy.num_replicas_in_sync,
    'prediction_err': float(np.abs(da.prediction_marginal.numpy() -
                                   single.prediction_marginal.numpy()).max()),
    'label_err': float(np.abs(da.label_marginal.numpy() -
                              single.label_marginal.numpy()).max()),
    'aligned_err': float(np.abs(aligned - expected).max()),
}))
'''


class DistributedTest(tf.test.TestCase):

  def test_two_replicas_match_one_device_on_the_whole_batch(self):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2',
               PYTHONPATH=_ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run([sys.executable, '-c', _SCRIPT], cwd=_ROOT, env=env,
                          capture_output=True, text=True, timeout=300,
                          check=False)
    self.assertEqual(proc.returncode, 0, proc.stderr[-4000:])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    self.assertEqual(result['replicas'], 2)
    self.assertLess(result['prediction_err'], 1e-6)
    self.assertLess(result['label_err'], 1e-6)
    self.assertLess(result['aligned_err'], 1e-5)


if __name__ == '__main__':
  tf.test.main()
