"""Export for serving: a SavedModel (encoded images or uint8 arrays in) and TFLite.

The SavedModel has two signatures:

  serving_default  'image_bytes' [batch] string: encoded JPEG, PNG, BMP or GIF
                   images (TF Serving's and Model Garden's convention), of any
                   sizes. Returns 'predictions' [batch, height, width] int32 class
                   ids and 'probabilities' [batch, height, width, classes]
                   float32 at each image's own size, and 'image_sizes' [batch, 2]
                   int32 (height, width). Images of different sizes in one
                   request come back padded bottom/right to the largest height
                   and width: predictions with -1, probabilities with 0; crop
                   image i to image_sizes[i].
  serving_images   'images' [batch, height, width, 3] uint8 RGB arrays. Returns
                   'predictions' and 'probabilities' at the input size.

Both normalise in the graph the same way (x / 255). With a fixed `input_size` the
uint8 signature takes only that size, and the encoded-image signature resizes each
image to it for the model and the outputs back to the image's own size.

TFLite (`export_tflite`) needs a fixed size: its 'serving_default' signature
takes uint8 'images' [1, H, W, 3] and returns 'predictions' and 'probabilities'
at that size, float32 or int8-quantised (post-training, calibrated on
representative images; input uint8, probabilities float32).
"""

import os

import tensorflow as tf

BYTES_SIGNATURE = 'serving_default'
IMAGES_SIGNATURE = 'serving_images'
# Predictions of the padding around a smaller image of a mixed-size request.
PADDED_PREDICTION = -1


def _decode(encoded):
  """[h, w, 3] uint8 of one encoded image; grey and RGBA become RGB."""
  image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
  image.set_shape([None, None, 3])
  return image


class SegmentationServing(tf.Module):
  """Wraps a trained model with the serving signatures (module docstring)."""

  def __init__(self, model, input_size=None, name=None):
    super().__init__(name=name)
    # Track the model's variables, not the Keras model: saving a tracked Keras
    # model also traces every layer's call for Keras' own SavedModel metadata,
    # which the signatures never use (smoke model: 14 s instead of 2 s).
    self.model_variables = list(model.variables)
    self._get_model = lambda: model
    self._input_size = tuple(input_size) if input_size else None

  @property
  def model(self):
    return self._get_model()

  def probabilities(self, images):
    """uint8 [B, H, W, 3] -> softmax probabilities [B, H, W, C] at that size."""
    x = tf.cast(images, tf.float32) / 255.0
    logits = tf.cast(self.model(x, training=False)['logits'], tf.float32)
    logits = tf.image.resize(logits, tf.shape(images)[1:3], method='bilinear')
    return tf.nn.softmax(logits)

  @tf.function(autograph=False)
  def serve(self, images):
    probabilities = self.probabilities(images)
    return {
        'predictions': tf.argmax(probabilities, -1, output_type=tf.int32),
        'probabilities': probabilities,
    }

  def _image_probabilities(self, image):
    """One decoded image [h, w, 3] uint8 -> [h, w, C] probabilities."""
    if self._input_size is None:
      return self.probabilities(image[None])[0]
    # The model runs at the fixed size; the outputs return to the image's size.
    # Resizing logits (not probabilities) is what the fixed-size path does too.
    size = tf.shape(image)[:2]
    resized = tf.image.resize(tf.cast(image, tf.float32), self._input_size,
                              method='bilinear')
    x = resized[None] / 255.0
    logits = tf.cast(self.model(x, training=False)['logits'], tf.float32)
    logits = tf.image.resize(logits, size, method='bilinear')
    return tf.nn.softmax(logits)[0]

  @tf.function(autograph=False)
  def serve_bytes(self, image_bytes):
    # Decoding twice (sizes first) costs little next to the model, and lets
    # every image's outputs be padded to the request's largest size in the one
    # pass that runs the model.
    sizes = tf.map_fn(lambda b: tf.shape(_decode(b))[:2], image_bytes,
                      fn_output_signature=tf.int32)
    sizes = tf.reshape(sizes, [-1, 2])
    max_size = tf.maximum(tf.reduce_max(sizes, axis=0), 0)

    def one(encoded):
      probabilities = self._image_probabilities(_decode(encoded))
      size = tf.shape(probabilities)[:2]
      pad = [[0, max_size[0] - size[0]], [0, max_size[1] - size[1]]]
      predictions = tf.pad(tf.argmax(probabilities, -1, output_type=tf.int32),
                           pad, constant_values=PADDED_PREDICTION)
      return predictions, tf.pad(probabilities, pad + [[0, 0]])

    num_classes = self.model.num_classes
    predictions, probabilities = tf.map_fn(
        one, image_bytes, fn_output_signature=(
            tf.TensorSpec([None, None], tf.int32),
            tf.TensorSpec([None, None, num_classes], tf.float32)))
    return {
        'predictions': predictions,
        'probabilities': probabilities,
        'image_sizes': sizes,
    }


def export_saved_model(model, export_dir, input_size=None):
  """Writes a SavedModel with the signatures of the module docstring.

  Args:
    model: the Keras segmentation model (variables built).
    export_dir: output directory.
    input_size: optional (height, width) fixing the model's input size; None
      runs it at each image's own size.

  Returns:
    export_dir.
  """
  h, w = input_size if input_size else (None, None)
  module = SegmentationServing(model, input_size)
  images = tf.TensorSpec([None, h, w, 3], tf.uint8, name='images')
  image_bytes = tf.TensorSpec([None], tf.string, name='image_bytes')
  tf.saved_model.save(
      module, export_dir, signatures={
          BYTES_SIGNATURE: module.serve_bytes.get_concrete_function(
              image_bytes),
          IMAGES_SIGNATURE: module.serve.get_concrete_function(images),
      })
  return export_dir


def export_tflite(model, path, input_size, representative_images=None):
  """Writes a TFLite model of the uint8 signature at a fixed size.

  Args:
    model: the Keras segmentation model (variables built).
    path: the .tflite file to write.
    input_size: (height, width) of the model's input.
    representative_images: None for a float32 model; else a sequence of uint8
      [height, width, 3] arrays of `input_size` (a few dozen images like those
      served) that calibrate an int8 post-training quantisation of every op.

  Returns:
    path.
  """
  module = SegmentationServing(model)
  h, w = input_size
  function = module.serve.get_concrete_function(
      tf.TensorSpec([1, h, w, 3], tf.uint8, name='images'))
  converter = tf.lite.TFLiteConverter.from_concrete_functions([function],
                                                              module)
  if representative_images is not None:
    images = list(representative_images)
    if not images:
      raise ValueError('int8 quantisation needs representative images.')

    def representative_dataset():
      for image in images:
        yield [tf.constant(image, tf.uint8)[None]]

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
  content = converter.convert()
  tf.io.gfile.makedirs(os.path.dirname(path) or '.')
  with tf.io.gfile.GFile(path, 'wb') as f:
    f.write(content)
  return path
