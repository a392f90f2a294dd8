"""Tests for core/feature_probe.py (hand-made masks and features, tiny model)."""

import numpy as np
import tensorflow as tf

from core import config
from core.modeling import model as model_lib
from research import feature_probe


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


class MultilabelProbeTest(tf.test.TestCase):

  def test_folded_standardisation_separates_in_raw_space(self):
    rng = np.random.default_rng(0)
    y = (rng.random((200, 3)) < 0.4).astype(np.float32)
    # Far from zero mean and unit scale, so the folding matters.
    x = 50.0 + 5.0 * rng.normal(size=(200, 6)).astype(np.float32)
    x[:, :3] += 100.0 * y
    kernel, bias = feature_probe.multilabel_probe(x, y, steps=200)
    self.assertEqual(kernel.shape, (6, 3))
    self.assertAllEqual((x @ kernel + bias) > 0, y > 0)

  def test_no_images_raise(self):
    with self.assertRaisesRegex(ValueError, 'images to fit'):
      feature_probe.multilabel_probe(np.zeros((0, 4)), np.zeros((0, 2)))


class _MaskReadingModel:
  """Stands in for a PseudoSegModel: image channels 0 / 1 are the masks of
  classes 1 / 2. Level '2' (stride 4) pools them; level '3' (stride 8) is a
  constant that knows nothing; the decoder calls everything background."""

  def backbone_endpoints(self, images, training=False):
    del training
    masks = tf.nn.avg_pool2d(images[..., :2], 4, 4, 'VALID')
    return {'2': masks, '3': tf.ones_like(masks[:, ::2, ::2])}

  def __call__(self, images, training=False):
    del training
    shape = tf.shape(images)
    logits = tf.one_hot(tf.zeros([shape[0], shape[1] // 4, shape[2] // 4],
                                 tf.int32), 3)
    return {'logits': logits}


class CamLevelProbeTest(tf.test.TestCase):

  def _dataset(self, n=40, size=32, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.zeros((n, size, size), np.int32)
    for i in range(n):
      for c in (1, 2):
        if rng.random() < 0.5:
          r, q = rng.integers(0, size - 8, 2) // 4 * 4
          labels[i, r:r + 8, q:q + 8] = c
    images = np.zeros((n, size, size, 3), np.float32)
    images[..., 0] = labels == 1
    images[..., 1] = labels == 2
    return tf.data.Dataset.from_tensor_slices(
        {'image': images, 'label': labels[..., None]}).batch(8), labels

  def test_the_level_that_knows_the_classes_localises(self):
    dataset, labels = self._dataset()
    report = feature_probe.cam_level_probe(_MaskReadingModel(), dataset, 3,
                                           steps=200)
    self.assertEqual((report['num_fitted'], report['num_scored']), (20, 20))
    self.assertEqual(list(report['levels']), ['2', '3'])
    level2, level3 = report['levels']['2'], report['levels']['3']
    self.assertEqual((level2['stride'], level3['stride']), (4, 8))
    # Squares on the stride-4 grid: the CAM finds them; only pixels next to
    # a boundary, where the bilinear upsampling blends cells, can go wrong.
    self.assertGreater(level2['cam_miou'], 0.9)
    self.assertGreater(level2['classifier_accuracy'], 0.9)
    # A constant map, kept for the true classes, marks the whole image.
    self.assertLess(level3['cam_miou'], 0.5)
    scored = labels[1::2]
    absent = np.mean([[not (l == c).any() for c in (1, 2)] for l in scored])
    self.assertAllClose(level2['always_absent_accuracy'], absent)
    # Background everywhere: IoU of background = its share; the others 0.
    self.assertAllClose(report['decoder_miou'],
                        np.mean(scored == 0) / 3.0, rtol=1e-6)

  def test_max_batches_and_empty_data(self):
    dataset, _ = self._dataset()
    report = feature_probe.cam_level_probe(_MaskReadingModel(), dataset, 3,
                                           max_batches=1, steps=10)
    self.assertEqual((report['num_fitted'], report['num_scored']), (4, 4))
    empty = dataset.take(0)
    with self.assertRaisesRegex(ValueError, 'empty'):
      feature_probe.cam_level_probe(_MaskReadingModel(), empty, 3)


if __name__ == '__main__':
  tf.test.main()
