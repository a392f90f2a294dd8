"""Tests for core/feature_probe.py (hand-made masks and features, tiny model)."""

import numpy as np
import tensorflow as tf

from core import config
from core import feature_probe
from core import model as model_lib


class CellLabelsTest(tf.test.TestCase):

  def test_hand_cells(self):
    label = np.array([[1, 1, 2, 0],
                      [1, 1, 0, 2],
                      [3, 3, 255, 0],
                      [3, 255, 255, 0]])[np.newaxis]
    cells = feature_probe.cell_labels(label, (2, 2), purity=0.75)
    # Top left all 1; top right 2/2 split; bottom left 3 of 4 are class 3 (the
    # ignored pixel counts against it); bottom right half ignored.
    self.assertAllEqual(cells[0], [[1, -1], [3, -1]])
    self.assertAllEqual(feature_probe.cell_labels(label, (2, 2), purity=0.5)[0],
                        [[1, 0], [3, 0]])

  def test_uneven_grid(self):
    label = np.zeros((1, 5, 5), np.int64)
    label[0, 2:, :] = 4  # Rows [2, 5) are the second row of cells.
    cells = feature_probe.cell_labels(label, (2, 3))
    self.assertAllEqual(cells[0], [[0, 0, 0], [4, 4, 4]])


class LinearProbeTest(tf.test.TestCase):

  def _data(self, informative, n=300, num_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, num_classes, n)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    if informative:
      x[np.arange(n), y] += 4.0  # Class c lifts feature c.
    return x, y

  def test_separable_features(self):
    x, y = self._data(True)
    tx, ty = self._data(True, seed=1)
    result = feature_probe.linear_probe(x, y, tx, ty, 3)
    self.assertGreater(result['accuracy'], 0.95)
    self.assertGreater(result['foreground_accuracy'], 0.95)
    self.assertAllClose(result['background_share'], np.mean(ty == 0))
    self.assertEqual((result['num_train'], result['num_test']), (300, 300))

  def test_uninformative_features_stay_near_chance(self):
    x, y = self._data(False)
    tx, ty = self._data(False, seed=1)
    result = feature_probe.linear_probe(x, y, tx, ty, 3)
    # Two foreground classes: chance is 1/2.
    self.assertBetween(result['foreground_accuracy'], 0.3, 0.7)

  def test_empty_sets_raise(self):
    x, y = self._data(True)
    with self.assertRaisesRegex(ValueError, 'cells to fit and to score'):
      feature_probe.linear_probe(x[:0], y[:0], x, y, 3)


class ClassIdentityProbeTest(tf.test.TestCase):

  def test_every_level_reported(self):
    model = model_lib.build_model(config.smoke().model, 3, (64, 64))
    labels = np.zeros((4, 64, 64, 1), np.int32)
    labels[:, :32] = 1
    labels[1::2, 32:, :32] = 2
    data = {'image': tf.random.stateless_uniform([4, 64, 64, 3], [1, 2]),
            'label': tf.constant(labels)}
    dataset = tf.data.Dataset.from_tensor_slices(data).batch(2)
    report = feature_probe.class_identity_probe(model, dataset, 3, steps=20)
    endpoints = model.backbone_endpoints(data['image'][:1])
    self.assertEqual(set(report), set(endpoints))
    for key, result in report.items():
      size = endpoints[key].shape[1]
      self.assertEqual(result['stride'], round(64 / size), msg=key)
      self.assertEqual(result['depth'], endpoints[key].shape[-1], msg=key)
      self.assertGreater(result['num_test'], 0, msg=key)
      self.assertEqual(result['num_images'], 4, msg=key)
      self.assertBetween(result['accuracy'], 0.0, 1.0, msg=key)

  def test_empty_dataset_raises(self):
    model = model_lib.build_model(config.smoke().model, 3, (32, 32))
    data = {'image': tf.zeros([0, 32, 32, 3]),
            'label': tf.zeros([0, 32, 32, 1], tf.int32)}
    with self.assertRaisesRegex(ValueError, 'empty'):
      feature_probe.class_identity_probe(
          model, tf.data.Dataset.from_tensor_slices(data).batch(2), 3)


if __name__ == '__main__':
  tf.test.main()
