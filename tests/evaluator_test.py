"""Tests for core/evaluator.py.

A fake model whose predictions are known checks the scoring by hand; a real smoke
model (stride-4 logits) on odd-sized records checks original-size scoring against
a numpy reference.
"""

import shutil
import tempfile

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from core.evaluation import evaluator
from datasets import input_pipeline
from datasets import record_format
from tests import testing_utils

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


class CountingModel(PixelwiseModel):
  """PixelwiseModel that counts its Python calls: one per trace of a caller."""

  def __init__(self):
    super().__init__()
    self.traces = 0

  def call(self, images, training=False):
    self.traces += 1
    return super().call(images, training)


class EvaluatorTest(tf.test.TestCase):

  def test_one_compiled_prediction_serves_every_call_and_size(self):
    model = CountingModel()
    scorer = evaluator.Evaluator(model, _NUM_CLASSES)
    first = scorer.evaluate(_dataset())
    # Two more "checkpoints", then images of other sizes (3x7, 5x4, 4x9).
    for _ in range(2):
      self.assertAllClose(scorer.evaluate(_dataset())['per_class_iou'],
                          first['per_class_iou'])
    for h, w in ((3, 7), (5, 4), (4, 9)):
      ids = np.arange(h * w).reshape(1, h, w) % _NUM_CLASSES
      result = scorer.evaluate(
          tf.data.Dataset.from_tensors(_batch(ids, ids)))
      self.assertAllClose(result['miou'], 1.0)
    # A new tf.function per call would trace the model at least once per call
    # (6); reduce_retracing generalises the shape after the second one.
    self.assertLessEqual(model.traces, 2)
    self.assertAllClose(
        first['per_class_iou'],
        evaluator.evaluate(PixelwiseModel(), _dataset(),
                           _NUM_CLASSES)['per_class_iou'])


class ReadAheadTest(tf.test.TestCase):

  def test_batches_are_read_a_block_ahead_and_scored_alike(self):
    batches = list(_dataset()) * 3  # 6 batches of one image
    scorer = evaluator.Evaluator(PixelwiseModel(), _NUM_CLASSES)
    predict = scorer._predict  # pylint: disable=protected-access
    read, seen = [0], []

    def counted():
      for batch in batches:
        read[0] += 1
        yield batch

    def recording(images, labels):
      seen.append(read[0])
      return predict(images, labels)

    scorer._predict = recording  # pylint: disable=protected-access
    results = {}
    for read_ahead in (1, 4, 100):
      read[0], seen[:] = 0, []
      results[read_ahead] = scorer.evaluate(counted(), read_ahead=read_ahead)
      # The batches read when each one was scored.
      expected = {1: [1, 2, 3, 4, 5, 6], 4: [4, 4, 4, 4, 6, 6],
                  100: [6] * 6}[read_ahead]
      self.assertEqual(seen, expected, msg=read_ahead)
    for read_ahead in (4, 100):
      self.assertAllClose(results[read_ahead]['per_class_iou'],
                          results[1]['per_class_iou'])
      self.assertEqual(results[read_ahead]['num_images'], 6)
    # max_batches counts batches, read ahead or not.
    self.assertEqual(scorer.evaluate(counted(), max_batches=3,
                                     read_ahead=2)['num_images'], 3)


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


# Odd sizes: neither is a multiple of the model's output stride, and the two
# differ, so padding to a common eval_size leaves padding in both.
_ODD_SIZES = ((61, 70), (53, 47))
_REAL_CLASSES = 4


def _write_odd_records(record_dir):
  """Two labeled records of _ODD_SIZES; some pixels carry the ignore label."""
  rng = np.random.RandomState(3)
  with record_format.ShardedWriter(record_dir, 'val', 1) as writer:
    for i, (height, width) in enumerate(_ODD_SIZES):
      image = rng.randint(0, 256, (height, width, 3)).astype(np.uint8)
      # Blocky labels (a prediction can get some right), a band of 255.
      label = np.repeat(np.repeat(
          rng.randint(0, _REAL_CLASSES, (height // 8 + 1, width // 8 + 1)), 8,
          0), 8, 1)[:height, :width, None].astype(np.uint8)
      label[:3] = 255
      writer.write(record_format.make_example(
          testing_utils.png_bytes(image), 'odd_%d' % i, height, width,
          label_data=testing_utils.png_bytes(label),
          image_format='png'))


def _real_model():
  """A smoke DeepLabv3+ (logits at stride 4) whose predictions vary by pixel."""
  return testing_utils.smoke_model(_REAL_CLASSES, seed=(5, 5))


class OriginalSizeRealModelTest(tf.test.TestCase, parameterized.TestCase):
  """evaluate() with a real stride-4 model on odd-sized, padded images."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    tf.keras.utils.set_random_seed(0)
    cls.model = _real_model()
    cls.record_dir = tempfile.mkdtemp()
    _write_odd_records(cls.record_dir)
    cls.files = record_format.list_shards(cls.record_dir, 'val')

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.record_dir)
    super().tearDownClass()

  def _reference(self, eval_size, batch_size):
    """Confusion matrix computed here, on the original pixels only.

    The model sees the padded image (as the evaluator's input); its logits
    ([B, H/4, W/4, C] rounded up) are upsampled bilinearly to the padded size,
    argmaxed, then cut to each image's original height and width, and compared
    with the record's own (unpadded) label.
    """
    cm = np.zeros((_REAL_CLASSES, _REAL_CLASSES), np.int64)
    # Two wrong ways, to show that the test can tell: padding scored as class
    # 0, and logits stretched to the original size (ignoring the padding).
    with_padding, stretched = cm.copy(), cm.copy()
    logit_sizes, distinct = [], set()
    originals = {r['filename'][0]: r for r in
                 input_pipeline.eval_dataset(self.files).as_numpy_iterator()}
    dataset = input_pipeline.eval_dataset(self.files, eval_size=eval_size,
                                          batch_size=batch_size)
    for batch in dataset.as_numpy_iterator():
      logits = self.model(batch['image'], training=False)['logits']
      logit_sizes.append(tuple(logits.shape[1:3]))
      padded = tf.image.resize(logits, batch['image'].shape[1:3],
                               method='bilinear').numpy()
      for i, name in enumerate(batch['filename']):
        h, w = batch['height'][i], batch['width'][i]
        prediction = padded[i, :h, :w].argmax(-1)
        label = originals[name]['label'][0, :h, :w, 0]
        keep = label != 255
        distinct.update(np.unique(prediction[keep]).tolist())
        np.add.at(cm, (label[keep], prediction[keep]), 1)
        whole = batch['label'][i, ..., 0]
        whole = np.where(batch['valid'][i] > 0, whole, 0)
        scored = whole != 255
        np.add.at(with_padding, (whole[scored],
                                 padded[i].argmax(-1)[scored]), 1)
        wrong = tf.image.resize(logits[i:i + 1], (h, w),
                                method='bilinear').numpy()[0].argmax(-1)
        np.add.at(stretched, (label[keep], wrong[keep]), 1)
    return cm, logit_sizes, distinct, (with_padding, stretched)

  @parameterized.named_parameters(('common_eval_size', (64, 80), 2),
                                  ('own_size_batch_1', None, 1))
  def test_miou_matches_upsampled_argmax_on_original_pixels(self, eval_size,
                                                            batch_size):
    cm, logit_sizes, distinct, wrong_ways = self._reference(eval_size,
                                                            batch_size)
    # The model's output really is smaller than its input (stride 4).
    if eval_size:
      self.assertEqual(logit_sizes, [(16, 20)])
    else:  # Each image padded to a multiple of 16: 64x80 and 64x48.
      self.assertEqual(logit_sizes, [(16, 20), (16, 12)])
    # Guards: predictions vary, and every original non-ignored pixel is scored
    # exactly once (61*70 + 53*47 pixels, minus the three ignored rows).
    self.assertGreater(len(distinct), 1)
    self.assertEqual(cm.sum(), sum((h - 3) * w for h, w in _ODD_SIZES))
    result = evaluator.evaluate(
        self.model, input_pipeline.eval_dataset(
            self.files, eval_size=eval_size, batch_size=batch_size),
        _REAL_CLASSES)
    def iou(matrix):
      intersection = np.diag(matrix).astype(np.float64)
      union = matrix.sum(0) + matrix.sum(1) - intersection
      return np.where(union > 0, intersection / np.maximum(union, 1), np.nan)
    per_class = iou(cm)
    self.assertEqual(result['num_images'], len(_ODD_SIZES))
    # Same pixels, same classes: equal up to float printing (a single pixel
    # scored differently moves an IoU by ~1/union > 1e-4).
    self.assertAllClose(result['per_class_iou'], per_class, atol=1e-9)
    self.assertAllClose(result['miou'], np.nanmean(per_class), atol=1e-9)
    self.assertAllClose(result['pixel_accuracy'], np.trace(cm) / cm.sum(),
                        atol=1e-9)
    for wrong in wrong_ways:
      self.assertGreater(np.nanmax(np.abs(iou(wrong) - per_class)), 1e-3)


if __name__ == '__main__':
  tf.test.main()
