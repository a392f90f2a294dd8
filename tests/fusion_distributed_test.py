"""Tests that the 'global' logit norm of core.fusion is independent of the replicas.

Two logical CPU devices must be configured before TensorFlow initialises its devices,
and pytest runs every test file in one process (where TF is long initialised), so
the check runs in a fresh interpreter: `_SCRIPT` below, launched with
`sys.executable`. It prints one JSON line that the test reads.
"""

import json
import os
import subprocess
import sys

import tensorflow as tf

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_SCRIPT = r'''
import json
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices('CPU')[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from core import fusion

strategy = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
rng = np.random.RandomState(0)
# The two halves of the batch have very different logit scales, so a per-replica
# RMS differs clearly from the global one.
dec = rng.randn(4, 6, 6, 3).astype(np.float32)
sgc = rng.randn(4, 3, 3, 3).astype(np.float32)
dec[2:] *= 5.0
sgc[2:] *= 4.0


def split(array):
  def value_fn(ctx):
    i = ctx.replica_id_in_sync_group
    return tf.constant(array[2 * i:2 * i + 2])
  return strategy.experimental_distribute_values_from_function(value_fn)


def distributed(logit_norm):
  @tf.function
  def step(d, s):
    return strategy.run(
        lambda a, b: fusion.calibrated_fusion(a, b, logit_norm=logit_norm),
        args=(d, s))
  label, weight = step(split(dec), split(sgc))
  gather = lambda v: np.concatenate(
      [t.numpy() for t in strategy.experimental_local_results(v)])
  return gather(label), gather(weight)


full, _ = fusion.calibrated_fusion(dec, sgc, logit_norm='global')
full = full.numpy()
global_label, global_weight = distributed('global')
replica_label, _ = distributed('replica')
# Cross-replica context (inside the scope, outside strategy.run): local, no error.
with strategy.scope():
  scoped, _ = fusion.calibrated_fusion(dec, sgc, logit_norm='global')
print(json.dumps({
    'replicas': strategy.num_replicas_in_sync,
    'global_err': float(np.abs(global_label - full).max()),
    'global_weight_ok': bool(global_weight.shape == (4, 6, 6)),
    'replica_err': float(np.abs(replica_label - full).max()),
    'scoped_err': float(np.abs(scoped.numpy() - full).max()),
}))
'''


class GlobalNormDistributedTest(tf.test.TestCase):

  def test_global_norm_matches_single_device_full_batch(self):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2',
               PYTHONPATH=_ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run([sys.executable, '-c', _SCRIPT], cwd=_ROOT, env=env,
                          capture_output=True, text=True, timeout=300,
                          check=False)
    self.assertEqual(proc.returncode, 0, msg=proc.stderr[-3000:])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    self.assertEqual(result['replicas'], 2)
    self.assertTrue(result['global_weight_ok'])
    # Global RMS over 2 replicas == one device holding the whole batch.
    self.assertLess(result['global_err'], 1e-5)
    # The official per-replica RMS does depend on the split: the test can tell.
    self.assertGreater(result['replica_err'], 1e-2)
    self.assertLess(result['scoped_err'], 1e-6)


if __name__ == '__main__':
  tf.test.main()
