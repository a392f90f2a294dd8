"""Tests for core.schedules."""

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from core.training import schedules


def _np_schedule(step, base, decay_steps, end, power, warmup_steps,
                 warmup_start_factor):
  """numpy reference of PolynomialDecayWithWarmup."""
  def poly(s):
    frac = min(s, decay_steps) / decay_steps
    return (base - end) * (1.0 - frac) ** power + end
  if step < warmup_steps:
    start = base * warmup_start_factor
    return start + (poly(warmup_steps) - start) * step / warmup_steps
  return poly(step)


class SigmoidRampupTest(tf.test.TestCase):

  def test_hand_computed(self):
    # exp(-5 (1 - s/100)^2): e^-5 at 0, e^-1.25 halfway, e^-0.3125 at 3/4, then 1.
    for step, expected in [(0, 0.006737947), (50, 0.2865048), (75, 0.7316156),
                           (100, 1.0), (150, 1.0)]:
      self.assertAllClose(schedules.sigmoid_rampup(step, 100), expected,
                          atol=1e-7)

  def test_numpy_reference_and_tensor_steps(self):
    for step in range(0, 40, 3):
      expected = np.exp(-5.0 * (1.0 - min(step, 30) / 30.0) ** 2)
      self.assertAllClose(
          schedules.sigmoid_rampup(tf.constant(step, tf.int64), 30), expected)

  def test_no_rampup_is_one(self):
    for step in (0, 7, 10000):
      self.assertEqual(float(schedules.sigmoid_rampup(step, 0)), 1.0)


class PolynomialDecayWithWarmupTest(tf.test.TestCase, parameterized.TestCase):

  def test_hand_computed_linear(self):
    # power 1, base 0.01 -> 0 over 100 steps: halfway is 0.005, then clamped at 0.
    sched = schedules.PolynomialDecayWithWarmup(0.01, 100, power=1.0)
    for step, expected in [(0, 0.01), (50, 0.005), (100, 0.0), (150, 0.0)]:
      self.assertAllClose(sched(step), expected, atol=1e-7)

  def test_hand_computed_power_and_end(self):
    # (0.011 - 0.001) * (1 - 50/100)^2 + 0.001 = 0.01 * 0.25 + 0.001 = 0.0035.
    sched = schedules.PolynomialDecayWithWarmup(
        0.011, 100, end_learning_rate=0.001, power=2.0)
    self.assertAllClose(sched(50), 0.0035, atol=1e-7)
    self.assertAllClose(sched(1000), 0.001, atol=1e-7)
    # Official recipe, power 0.9 at half-way: 0.007 * 0.5^0.9 = 0.007 * 0.535887.
    sched = schedules.PolynomialDecayWithWarmup(0.007, 30000, power=0.9)
    self.assertAllClose(sched(15000), 0.007 * 0.535887, rtol=1e-5)

  def test_hand_computed_warmup(self):
    # Warm-up from 0.1 * 0.01 = 0.001 to poly(10) = 0.01 * (1 - 10/100) = 0.009:
    # step 5 is half-way, 0.001 + 0.5 * 0.008 = 0.005; step 20 is poly, 0.008.
    sched = schedules.PolynomialDecayWithWarmup(
        0.01, 100, power=1.0, warmup_steps=10, warmup_start_factor=0.1)
    for step, expected in [(0, 0.001), (5, 0.005), (10, 0.009), (20, 0.008)]:
      self.assertAllClose(sched(step), expected, atol=1e-7)
    # From 0: step 5 is 0.5 * 0.009 = 0.0045.
    sched = schedules.PolynomialDecayWithWarmup(
        0.01, 100, power=1.0, warmup_steps=10)
    self.assertAllClose(sched(5), 0.0045, atol=1e-7)

  @parameterized.parameters(
      (0.007, 300, 0.0, 0.9, 0, 0.0),
      (0.1, 50, 0.001, 0.9, 7, 0.1),
      (0.02, 80, 0.0, 1.5, 10, 0.0))
  def test_matches_numpy(self, base, decay, end, power, warmup, factor):
    sched = schedules.PolynomialDecayWithWarmup(
        base, decay, end_learning_rate=end, power=power, warmup_steps=warmup,
        warmup_start_factor=factor)
    steps = np.arange(0, decay + 20, 3)
    got = [float(sched(tf.constant(s, tf.int64))) for s in steps]
    want = [_np_schedule(s, base, decay, end, power, warmup, factor)
            for s in steps]
    self.assertAllClose(got, want, rtol=1e-5, atol=1e-8)

  def test_get_config_round_trip_and_optimizer(self):
    sched = schedules.PolynomialDecayWithWarmup(
        0.01, 100, end_learning_rate=0.001, warmup_steps=5,
        warmup_start_factor=0.1)
    clone = schedules.PolynomialDecayWithWarmup.from_config(sched.get_config())
    self.assertEqual(clone.get_config(), sched.get_config())
    self.assertAllClose(clone(3), sched(3))
    # Usable by an optimizer inside a graph.
    opt = tf.keras.optimizers.SGD(learning_rate=sched, momentum=0.9)
    var = tf.Variable(1.0)
    tf.function(lambda: opt.apply_gradients([(tf.constant(1.0), var)]))()
    self.assertAllClose(var, 1.0 - 0.001, atol=1e-7)  # Step 0: start of warm-up.


if __name__ == '__main__':
  tf.test.main()
