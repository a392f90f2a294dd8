"""Tests for core/export.py: SavedModel round trip against the in-memory model."""

import os
import tempfile

import numpy as np
import tensorflow as tf

from core.serving import export
from tests import testing_utils

_NUM_CLASSES = 4


def _model():
  """A smoke model whose inference output depends on the image."""
  return testing_utils.smoke_model(_NUM_CLASSES)


def _expected(model, images):
  """What serving must return, computed here from the model's own call."""
  logits = model(tf.cast(images, tf.float32) / 255.0, training=False)['logits']
  logits = tf.image.resize(logits, images.shape[1:3], method='bilinear')
  probabilities = tf.nn.softmax(logits)
  return tf.argmax(probabilities, -1, output_type=tf.int32), probabilities


def _images(height, width, seed=0):
  rng = np.random.RandomState(seed)
  return tf.constant(rng.randint(0, 256, (2, height, width, 3)), tf.uint8)


class ExportTest(tf.test.TestCase):

  def assertSameServing(self, out, images):
    """Serving output == the in-memory model's, up to float rounding."""
    predictions, probabilities = _expected(self.model, images)
    self.assertEqual(out['predictions'].dtype, tf.int32)
    self.assertEqual(out['predictions'].shape, predictions.shape)
    self.assertAllClose(out['probabilities'], probabilities, atol=1e-5)
    # Graph and eager kernels round differently: identical class ids except at
    # (rare) near-ties of the two best classes.
    top2 = tf.math.top_k(probabilities, 2).values
    clear = (top2[..., 0] - top2[..., 1] > 1e-5).numpy()
    self.assertGreater(clear.mean(), 0.9)
    self.assertAllEqual(out['predictions'].numpy()[clear],
                        predictions.numpy()[clear])
    # Guards the comparisons: an output that ignored the image would pass them.
    self.assertGreater(len(np.unique(predictions.numpy())), 1)

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    tf.keras.utils.set_random_seed(0)
    cls.model = _model()

  def _export_and_load(self, input_size):
    export_dir = os.path.join(tempfile.mkdtemp(dir=self.get_temp_dir()), 'sm')
    self.assertEqual(export.export_saved_model(self.model, export_dir,
                                               input_size), export_dir)
    return tf.saved_model.load(export_dir).signatures['serving_default']

  def test_dynamic_size_matches_in_memory_model(self):
    serve = self._export_and_load(None)
    spec = serve.structured_input_signature[1]['images']
    self.assertEqual(spec.shape.as_list(), [None, None, None, 3])
    self.assertEqual(spec.dtype, tf.uint8)
    for height, width in ((65, 65), (50, 83)):
      images = _images(height, width)
      out = serve(images=images)
      self.assertEqual(out['predictions'].shape, (2, height, width))
      self.assertSameServing(out, images)

  def test_fixed_size_matches_and_rejects_other_sizes(self):
    serve = self._export_and_load((65, 65))
    self.assertEqual(
        serve.structured_input_signature[1]['images'].shape.as_list(),
        [None, 65, 65, 3])
    images = _images(65, 65, seed=1)
    self.assertSameServing(serve(images=images), images)
    with self.assertRaises((ValueError, TypeError, tf.errors.InvalidArgumentError)):
      serve(images=_images(50, 83))

if __name__ == '__main__':
  tf.test.main()
