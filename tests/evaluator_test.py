"""Tests for core/evaluator.py with a fake model whose predictions are known."""

import numpy as np
import tensorflow as tf

from core.evaluation import evaluator

_NUM_CLASSES = 3


class PixelwiseModel(tf.keras.Model):
  """Predicts class round(10 * red) at every pixel, at the input resolution.

  Its logits are one-hot * 10, so the argmax at each pixel is the class written
  into the image: the evaluator's predictions are chosen by the test.
  """

  def call(self, images, training=False):
    ids = tf.cast(tf.round(images[..., 0] * 10.0), tf.int32)
    return {'logits': 10.0 * tf.one_hot(ids, _NUM_CLASSES)}


def _batch(predictions, labels):
  """{'image', 'label'} batch encoding `predictions` ([B,H,W] ints)."""
  predictions = np.asarray(predictions, np.float32)
  image = np.zeros(predictions.shape + (3,), np.float32)
  image[..., 0] = predictions / 10.0
  image[..., 1] = 0.5
  return {'image': tf.constant(image),
          'label': tf.constant(np.asarray(labels, np.int32)[..., None])}


def _dataset():
  """Two batches of one 2x6 image each: 2x4 (and 2x2) valid, the rest padding.

  Padding carries label 255 and a prediction (2 then 1) that would count as a
  false positive if padding were scored.
  """
  p = 255
  first = _batch([[[0, 0, 0, 1, 2, 2],
                   [0, 0, 1, 1, 2, 2]]],
                 [[[0, 0, 1, 1, p, p],
                   [0, 0, 1, 1, p, p]]])
  second = _batch([[[2, 2, 1, 1, 1, 1],
                    [2, 0, 1, 1, 1, 1]]],
                  [[[2, 2, p, p, p, p],
                    [2, 2, p, p, p, p]]])
  return tf.data.Dataset.from_tensors(first).concatenate(
      tf.data.Dataset.from_tensors(second))


class EvaluateTest(tf.test.TestCase):

  def test_miou_matches_hand_computed_value(self):
    # Confusion (rows ground truth): gt0 -> 4 x pred0; gt1 -> 1 x pred0,
    # 3 x pred1; gt2 -> 1 x pred0, 3 x pred2.
    # IoU0 = 4 / (4 + 0 + 2) = 2/3, IoU1 = 3 / (3 + 1 + 0) = 3/4,
    # IoU2 = 3 / (3 + 1 + 0) = 3/4; padding never enters.
    result = evaluator.evaluate(PixelwiseModel(), _dataset(), _NUM_CLASSES)
    self.assertAllClose(result['per_class_iou'], [2 / 3, 3 / 4, 3 / 4])
    self.assertAllClose(result['miou'], (2 / 3 + 3 / 4 + 3 / 4) / 3)
    self.assertAllClose(result['pixel_accuracy'], 10 / 12)
    self.assertEqual(result['num_images'], 2)

  def test_padding_is_never_scored(self):
    # Only the first batch: class 2 is predicted on padding only, so it is
    # absent from the scored pixels and its IoU is undefined (NaN), not 0.
    result = evaluator.evaluate(PixelwiseModel(), _dataset().take(1),
                                _NUM_CLASSES)
    self.assertAllClose(result['per_class_iou'][:2], [4 / 5, 3 / 4])
    self.assertTrue(np.isnan(result['per_class_iou'][2]))
    self.assertAllClose(result['miou'], (4 / 5 + 3 / 4) / 2)
    self.assertAllClose(result['pixel_accuracy'], 7 / 8)

  def test_max_batches_stops_early(self):
    result = evaluator.evaluate(PixelwiseModel(), _dataset(), _NUM_CLASSES,
                                max_batches=1)
    self.assertEqual(result['num_images'], 1)
    self.assertAllClose(result['miou'], (4 / 5 + 3 / 4) / 2)

  def test_flip_and_multi_scale_run(self):
    plain = evaluator.evaluate(PixelwiseModel(), _dataset(), _NUM_CLASSES)
    flipped = evaluator.evaluate(PixelwiseModel(), _dataset(), _NUM_CLASSES,
                                 flip=True)
    # A pixelwise model gives the same map on the flipped image once it is
    # flipped back: flip inference must not change the score.
    self.assertAllClose(flipped['per_class_iou'], plain['per_class_iou'])
    multi = evaluator.evaluate(PixelwiseModel(), _dataset(), _NUM_CLASSES,
                               scales=(0.5, 1.0, 1.5), flip=True)
    self.assertBetween(multi['miou'], 0.0, 1.0)
    self.assertEqual(multi['num_images'], 2)


class PredictProbabilitiesTest(tf.test.TestCase):

  def test_flip_is_undone_before_averaging(self):
    images = _batch([[[0, 1, 2, 2, 2, 0, 1]]], [[[0] * 7]])['image']
    plain = evaluator.predict_probabilities(PixelwiseModel(), images)
    flipped = evaluator.predict_probabilities(PixelwiseModel(), images,
                                              flip=True)
    self.assertAllClose(flipped, plain, atol=1e-6)
    self.assertAllEqual(tf.argmax(plain, -1), [[[0, 1, 2, 2, 2, 0, 1]]])

  def test_scales_give_input_size_distributions(self):
    images = tf.random.stateless_uniform([2, 9, 13, 3], [1, 2])
    probs = evaluator.predict_probabilities(PixelwiseModel(), images,
                                            scales=(0.5, 1.25), flip=True)
    self.assertEqual(probs.shape, (2, 9, 13, _NUM_CLASSES))
    self.assertAllClose(tf.reduce_sum(probs, -1), tf.ones([2, 9, 13]))


if __name__ == '__main__':
  tf.test.main()
