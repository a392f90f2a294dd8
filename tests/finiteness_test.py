"""Tests for core/training/finiteness.py against a numpy reference."""

import numpy as np
import tensorflow as tf

from core.training import finiteness


def _reference(named_variables):
  return [name for name, v in named_variables
          if not np.all(np.isfinite(v.numpy()))]


def _bn_model():
  model = tf.keras.Sequential([tf.keras.layers.Dense(3),
                               tf.keras.layers.BatchNormalization()])
  model.build([None, 2])
  return model


class FinitenessTest(tf.test.TestCase):

  def test_nan_and_inf_in_trainable_and_non_trainable_variables(self):
    cases = {
        'finite': (tf.Variable([1.0, -2.0]), True),
        'nan_trainable': (tf.Variable([1.0, np.nan]), True),
        'inf_non_trainable': (tf.Variable([[np.inf, 0.0]], trainable=False),
                              False),
        'minus_inf_scalar': (tf.Variable(-np.inf, trainable=False), False),
        'half_inf': (tf.Variable([1.0, np.inf], dtype=tf.float16), True),
        'float64_nan': (tf.Variable([np.nan], dtype=tf.float64), True),
    }
    named = [(name, v) for name, (v, _) in cases.items()]
    self.assertEqual(finiteness.non_finite(named), _reference(named))
    self.assertEqual(finiteness.non_finite(named), [
        'nan_trainable', 'inf_non_trainable', 'minus_inf_scalar', 'half_inf',
        'float64_nan'])
    self.assertEqual(finiteness.non_finite(named[:1]), [])
    self.assertEqual(finiteness.non_finite([]), [])
    # Other variables of the same shapes: the answer is theirs, not a cached one.
    other = [(name, tf.Variable(tf.zeros_like(v))) for name, v in named]
    self.assertEqual(finiteness.non_finite(other), [])

  def test_every_saved_variable_of_model_optimizer_and_teacher(self):
    model, teacher = _bn_model(), _bn_model()
    optimizer = tf.keras.optimizers.SGD(0.1, momentum=0.9)
    optimizer.build(model.trainable_variables)
    step = tf.Variable(3, dtype=tf.int64)  # Not floating point: not checked.
    items = {'model': model, 'optimizer': optimizer, 'teacher': teacher,
             'counter': tf.Module()}
    items['counter'].step = step
    named = finiteness.saved_variables(items)
    names = [n for n, _ in named]
    self.assertLen(set(names), len(names))
    self.assertLen(named, len(set(id(v) for _, v in named)))
    expected = (['model/' + v.name for v in model.variables] +
                ['teacher/' + v.name for v in teacher.variables])
    self.assertContainsSubset(expected, names)
    self.assertContainsSubset(['model/batch_normalization/moving_variance:0'],
                              names)
    slots = [n for n in names if n.startswith('optimizer/m/')]
    self.assertLen(slots, len(model.trainable_variables))
    self.assertFalse([n for n in names if n.startswith('counter/')])
    self.assertEqual(finiteness.non_finite(named), [])

    bn = model.layers[1]
    bn.moving_variance.assign([1.0, np.inf, 1.0])  # Non-trainable.
    teacher.layers[0].kernel.assign(tf.fill([2, 3], np.nan))  # Trainable.
    optimizer.variables[-1].assign(tf.fill(optimizer.variables[-1].shape,
                                           -np.inf))  # A slot.
    bad = finiteness.non_finite(named)
    self.assertEqual(bad, _reference(named))
    self.assertContainsSubset([bn.moving_variance.name], [
        n[len('model/'):] for n in bad])
    self.assertLen(bad, 3)
    self.assertEqual([n.split('/')[0] for n in bad],
                     ['model', 'optimizer', 'teacher'])

  def test_a_variable_shared_by_two_items_is_named_once(self):
    model = _bn_model()
    named = finiteness.saved_variables({'model': model, 'same': model})
    self.assertLen(named, len(model.variables))

  def test_describe(self):
    self.assertEqual(finiteness.describe(['a']), 'a')
    self.assertEqual(finiteness.describe(list('abcde')), 'a, b, c and 2 more')


if __name__ == '__main__':
  tf.test.main()
