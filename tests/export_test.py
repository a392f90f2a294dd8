"""Tests for core/serving/export.py: SavedModel round trip against the in-memory model.

The uint8 signature is compared with the model's own call; the encoded-image
signature with the uint8 one, in this process and in a fresh one (as a server
loads the SavedModel), and `saved_model_cli show` must list both. The TFLite
models (float32, int8) are compared with the SavedModel's class ids.
"""

import os
import subprocess
import sys
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
    return tf.saved_model.load(export_dir).signatures[export.IMAGES_SIGNATURE]

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


# Reloads a SavedModel in a fresh interpreter and serves the encoded files given
# on the command line both ways: bytes, and the uint8 signature on the pixels
# decoded here. argv: export dir, output .npz, image files.
_FRESH_PROCESS_SERVER = '''
import sys
import numpy as np
import tensorflow as tf
export_dir, output, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
signatures = tf.saved_model.load(export_dir).signatures
encoded = [open(p, 'rb').read() for p in paths]
out = signatures['serving_default'](image_bytes=tf.constant(encoded))
arrays = {k: v.numpy() for k, v in out.items()}
for i, data in enumerate(encoded):
  image = tf.io.decode_image(data, channels=3, expand_animations=False)
  ref = signatures['serving_images'](images=image[None])
  arrays['images_predictions_%d' % i] = ref['predictions'].numpy()[0]
  arrays['images_probabilities_%d' % i] = ref['probabilities'].numpy()[0]
np.savez(output, **arrays)
'''


class EncodedImagesTest(tf.test.TestCase):
  """serving_default: encoded images of any size, outputs at their own size."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    tf.keras.utils.set_random_seed(0)
    cls.model = _model()
    cls.export_dir = os.path.join(tempfile.mkdtemp(), 'sm')
    export.export_saved_model(cls.model, cls.export_dir)

  def _files(self):
    """A JPEG and a grey PNG of odd sizes: {path: pixels as TF decodes them}."""
    folder = tempfile.mkdtemp(dir=self.get_temp_dir())
    jpeg = os.path.join(folder, 'odd.jpg')
    pixels = {jpeg: testing_utils.write_jpeg(jpeg, 37, 53, seed=3)}
    grey = np.random.RandomState(4).randint(0, 256, (29, 66, 1)).astype(np.uint8)
    png = os.path.join(folder, 'grey.png')
    with open(png, 'wb') as f:
      f.write(testing_utils.png_bytes(grey))
    pixels[png] = np.repeat(grey, 3, axis=-1)
    return pixels

  def test_signatures_and_their_inputs(self):
    signatures = tf.saved_model.load(self.export_dir).signatures
    self.assertCountEqual(signatures.keys(),
                          [export.BYTES_SIGNATURE, export.IMAGES_SIGNATURE])
    spec = signatures['serving_default'].structured_input_signature[1]
    self.assertEqual(list(spec), ['image_bytes'])
    self.assertEqual(spec['image_bytes'].dtype, tf.string)
    self.assertEqual(spec['image_bytes'].shape.as_list(), [None])

  def test_mixed_sizes_are_padded_and_match_the_uint8_signature(self):
    signatures = tf.saved_model.load(self.export_dir).signatures
    pixels = self._files()
    encoded = [open(p, 'rb').read() for p in pixels]
    out = signatures['serving_default'](image_bytes=tf.constant(encoded))
    self.assertAllEqual(out['image_sizes'], [[37, 53], [29, 66]])
    self.assertEqual(out['predictions'].dtype, tf.int32)
    self.assertEqual(out['predictions'].shape, (2, 37, 66))
    self.assertEqual(out['probabilities'].shape, (2, 37, 66, _NUM_CLASSES))
    for i, image in enumerate(pixels.values()):
      h, w = image.shape[:2]
      ref = signatures['serving_images'](images=tf.constant(image[None]))
      self.assertAllEqual(out['predictions'][i, :h, :w], ref['predictions'][0])
      self.assertAllClose(out['probabilities'][i, :h, :w],
                          ref['probabilities'][0], atol=1e-6)
    # The padding of the smaller image: no class, no probability.
    self.assertAllEqual(out['predictions'][1, 29:], tf.fill([8, 66], -1))
    self.assertAllEqual(out['predictions'][0, :, 53:], tf.fill([37, 13], -1))
    self.assertAllEqual(out['probabilities'][1, 29:],
                        tf.zeros([8, 66, _NUM_CLASSES]))

  def test_fixed_input_size_serves_bytes_at_the_images_size(self):
    export_dir = os.path.join(tempfile.mkdtemp(dir=self.get_temp_dir()), 'sm')
    export.export_saved_model(self.model, export_dir, (65, 65))
    serve = tf.saved_model.load(export_dir).signatures['serving_default']
    pixels = self._files()
    encoded = [open(p, 'rb').read() for p in pixels][:1]
    out = serve(image_bytes=tf.constant(encoded))
    self.assertEqual(out['predictions'].shape, (1, 37, 53))
    image = tf.constant(list(pixels.values())[0][None], tf.float32)
    logits = self.model(tf.image.resize(image, (65, 65)) / 255.0,
                        training=False)['logits']
    expected = tf.nn.softmax(tf.image.resize(logits, (37, 53)))
    self.assertAllClose(out['probabilities'], expected, atol=1e-5)

  def test_saved_model_cli_lists_both_signatures(self):
    cli = os.path.join(os.path.dirname(sys.executable), 'saved_model_cli')
    proc = subprocess.run([cli, 'show', '--dir', self.export_dir, '--all'],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=120, check=False)
    self.assertEqual(proc.returncode, 0, proc.stdout[-3000:])
    self.assertIn("signature_def['serving_default']", proc.stdout)
    self.assertIn("signature_def['serving_images']", proc.stdout)
    bytes_part = proc.stdout.split("signature_def['serving_default']")[1]
    self.assertRegex(bytes_part, r"inputs\['image_bytes'\] tensor_info:\s+"
                     r"dtype: DT_STRING\s+shape: \(-1\)")
    for output in ('predictions', 'probabilities', 'image_sizes'):
      self.assertIn("outputs['%s']" % output, bytes_part)

  def test_a_fresh_process_serves_encoded_images_at_their_size(self):
    pixels = self._files()
    output = os.path.join(tempfile.mkdtemp(dir=self.get_temp_dir()), 'out.npz')
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
    proc = testing_utils.run_command(
        [sys.executable, '-c', _FRESH_PROCESS_SERVER, self.export_dir, output]
        + list(pixels), env, timeout=300)
    self.assertEqual(proc.returncode, 0, proc.stdout[-3000:])
    out = np.load(output)
    for i, image in enumerate(pixels.values()):
      h, w = image.shape[:2]
      self.assertAllEqual(out['image_sizes'][i], [h, w])
      self.assertAllEqual(out['predictions'][i, :h, :w],
                          out['images_predictions_%d' % i])
      self.assertAllClose(out['probabilities'][i, :h, :w],
                          out['images_probabilities_%d' % i], atol=1e-6)
    # The uint8 signature in this process, on the pixels the test wrote: the
    # same class ids.
    serve = tf.saved_model.load(self.export_dir).signatures['serving_images']
    for i, image in enumerate(pixels.values()):
      self.assertAllEqual(serve(images=tf.constant(image[None]))['predictions'][0],
                          out['images_predictions_%d' % i])
    self.assertGreater(len(np.unique(out['predictions'])), 2)


def _blocks(num, seed):
  """Images of 5x5 blocks, each a noisy colour of its class: uint8, labels."""
  rng = np.random.RandomState(seed)
  labels = np.kron(rng.randint(0, _NUM_CLASSES, (num, 5, 5)),
                   np.ones((1, 13, 13), np.int64))
  colours = np.array([[40, 40, 40], [220, 40, 40], [40, 220, 40], [40, 40, 220]])
  images = colours[labels] + rng.randint(-30, 30, labels.shape + (3,))
  return np.clip(images, 0, 255).astype(np.uint8), labels


def _fitted_model(steps=40):
  """A smoke model fitted to `_blocks` (~95% pixel accuracy).

  Quantisation is judged on a model with real margins between classes: a
  freshly built one has probabilities within 2% of uniform, where int8
  rounding flips near-ties everywhere.
  """
  model = _model()
  optimizer = tf.keras.optimizers.Adam(3e-3)

  @tf.function
  def step(images, labels):
    with tf.GradientTape() as tape:
      logits = model(tf.cast(images, tf.float32) / 255.0,
                     training=True)['logits']
      logits = tf.image.resize(logits, labels.shape[1:3])
      loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(
          labels, logits, from_logits=True))
    # The classification head's variables get no gradient from this loss.
    pairs = [(g, v) for g, v in zip(
        tape.gradient(loss, model.trainable_variables),
        model.trainable_variables) if g is not None]
    optimizer.apply_gradients(pairs)

  for i in range(steps):
    step(*_blocks(8, seed=i))
  return model


class TFLiteTest(tf.test.TestCase):
  """model.tflite and model_int8.tflite against the SavedModel's class ids."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    tf.keras.utils.set_random_seed(0)
    cls.model = model = _fitted_model()
    folder = tempfile.mkdtemp()
    export_dir = export.export_saved_model(model, os.path.join(folder, 'sm'))
    cls.serve = tf.saved_model.load(export_dir).signatures[
        export.IMAGES_SIGNATURE]
    cls.paths = {
        'float32': export.export_tflite(
            model, os.path.join(folder, 'model.tflite'), (65, 65)),
        'int8': export.export_tflite(
            model, os.path.join(folder, 'model_int8.tflite'), (65, 65),
            representative_images=list(_blocks(16, seed=100)[0])),
    }
    cls.images, cls.labels = _blocks(4, seed=200)
    cls.expected = cls.serve(images=tf.constant(cls.images))[
        'predictions'].numpy()

  def _served(self, kind):
    interpreter = tf.lite.Interpreter(model_path=self.paths[kind])
    (_, inputs), = interpreter.get_signature_list().items()
    self.assertEqual(inputs, {'inputs': ['images'],
                              'outputs': ['predictions', 'probabilities']})
    runner = interpreter.get_signature_runner()
    out = [runner(images=image[None]) for image in self.images]
    self.assertEqual(out[0]['predictions'].shape, (1, 65, 65))
    self.assertEqual(out[0]['probabilities'].shape, (1, 65, 65, _NUM_CLASSES))
    return np.concatenate([o['predictions'] for o in out])

  def test_the_model_has_learned_the_blocks(self):
    # What the agreements below are measured on: confident predictions.
    self.assertGreater((self.expected == self.labels).mean(), 0.85)

  def test_float32_agrees_with_the_saved_model(self):
    agreement = (self._served('float32') == self.expected).mean()
    print('TFLite float32 agreement with the SavedModel: %.4f' % agreement)
    self.assertGreaterEqual(agreement, 0.99)

  def test_int8_agrees_with_the_saved_model_on_most_pixels(self):
    agreement = (self._served('int8') == self.expected).mean()
    # Measured: 0.996 of the pixels (4 images of 65x65); the floor leaves room
    # for other CPUs' rounding.
    print('TFLite int8 agreement with the SavedModel: %.4f' % agreement)
    self.assertGreater(agreement, 0.9)
    self.assertLess(os.path.getsize(self.paths['int8']),
                    0.5 * os.path.getsize(self.paths['float32']))

  def test_int8_needs_representative_images(self):
    with self.assertRaisesRegex(ValueError, 'representative images'):
      export.export_tflite(self.model, os.path.join(self.get_temp_dir(),
                                                    'x.tflite'), (65, 65),
                           representative_images=[])


if __name__ == '__main__':
  tf.test.main()
