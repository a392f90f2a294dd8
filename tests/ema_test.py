"""Tests for core/ema.py (the distributed update: tests/distributed_test.py)."""

import numpy as np
import tensorflow as tf

from core.pseudoseg import ema


class EmaTest(tf.test.TestCase):

  def test_decay_ramp_hand_computed(self):
    self.assertAllClose(ema.ema_decay(0.99, 0), 0.1)  # (1 + 0) / (10 + 0)
    self.assertAllClose(ema.ema_decay(0.99, 10), 11.0 / 20.0)
    self.assertAllClose(ema.ema_decay(0.99, 1000), 0.99)  # 1001/1010 > 0.99
    self.assertAllClose(ema.ema_decay(0.5, 3), 4.0 / 13.0)  # The ramp is lower.
    self.assertAllClose(ema.ema_decay(0.2, 3), 0.2)  # The decay is lower.

  def test_update_matches_numpy(self):
    teacher = [tf.Variable([1.0, -2.0]), tf.Variable([[4.0]])]
    student = [tf.Variable([3.0, 2.0]), tf.Variable([[0.0]])]
    ema.update(teacher, student, 0.25)
    # 0.25 * t + 0.75 * s
    self.assertAllClose(teacher[0], [2.5, 1.0])
    self.assertAllClose(teacher[1], [[1.0]])
    self.assertAllClose(student[0], [3.0, 2.0])  # The student is untouched.

  def test_update_inside_tf_function(self):
    teacher, student = tf.Variable(0.0), tf.Variable(10.0)
    step = tf.function(lambda d: ema.update([teacher], [student], d))
    for _ in range(3):
      step(tf.constant(0.5))
    self.assertAllClose(teacher, 10.0 * (1 - 0.5 ** 3))

  def test_copy_and_mismatch(self):
    teacher = [tf.Variable(np.zeros((2, 3), np.float32))]
    ema.copy_variables(teacher, [tf.Variable(np.ones((2, 3), np.float32))])
    self.assertAllEqual(teacher[0], np.ones((2, 3)))
    with self.assertRaisesRegex(ValueError, 'does not match'):
      ema.copy_variables(teacher, [tf.Variable(np.ones((3, 2), np.float32))])
    gamma, beta = tf.Variable([1.0], name='bn/gamma'), tf.Variable([0.0], name='bn/beta')
    with self.assertRaisesRegex(ValueError, 'does not match'):
      ema.check_pair([gamma, beta], [beta, gamma])
    ema.check_pair([tf.Variable([1.0], name='block_3/bn/gamma')],
                   [tf.Variable([2.0], name='block/bn/gamma')])
    with self.assertRaisesRegex(ValueError, '1 variables, the student 2'):
      ema.check_pair(teacher, teacher * 2)


if __name__ == '__main__':
  tf.test.main()
