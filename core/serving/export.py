"""SavedModel export for serving: uint8 images in, class map and probabilities out."""

import tensorflow as tf


class SegmentationServing(tf.Module):
  """Wraps a trained model with a serving signature.

  The signature takes raw RGB images, uint8 [batch, height, width, 3], and returns
  'predictions' [batch, height, width] int32 class ids and 'probabilities'
  [batch, height, width, classes] float32, both at the input size.
  """

  def __init__(self, model, name=None):
    super().__init__(name=name)
    # Track the model's variables, not the Keras model: saving a tracked Keras
    # model also traces every layer's call for Keras' own SavedModel metadata,
    # which the signature never uses (smoke model: 14 s instead of 2 s).
    self.model_variables = list(model.variables)
    self._get_model = lambda: model

  @property
  def model(self):
    return self._get_model()

  @tf.function
  def serve(self, images):
    x = tf.cast(images, tf.float32) / 255.0
    logits = tf.cast(self.model(x, training=False)['logits'], tf.float32)
    logits = tf.image.resize(logits, tf.shape(images)[1:3], method='bilinear')
    probabilities = tf.nn.softmax(logits)
    return {
        'predictions': tf.argmax(probabilities, -1, output_type=tf.int32),
        'probabilities': probabilities,
    }


def export_saved_model(model, export_dir, input_size=None):
  """Writes a SavedModel with a 'serving_default' signature.

  Args:
    model: the Keras segmentation model (variables built).
    export_dir: output directory.
    input_size: optional (height, width) fixing the spatial input shape; None
      accepts any size.

  Returns:
    export_dir.
  """
  h, w = input_size if input_size else (None, None)
  module = SegmentationServing(model)
  spec = tf.TensorSpec([None, h, w, 3], tf.uint8, name='images')
  tf.saved_model.save(
      module, export_dir,
      signatures={'serving_default': module.serve.get_concrete_function(spec)})
  return export_dir
