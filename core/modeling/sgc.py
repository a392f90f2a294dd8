"""Self-attention Grad-CAM (SGC): CAM refined by feature self-attention.

Class activation maps find objects but have coarse, blobby outlines. The SGC
propagates the CAM values along feature affinities: each position gathers the
CAM of the positions whose features look like its own (`A V`), keeps its own
CAM as a residual (`+ V`), gets a background score (`2 - max`, the residual
sum lies in [0, 2]), and a learned 1x1 conv + batch norm turns the C scores
into logits. The features and the CAM are detached, so the SGC's pixel loss
trains only the SGC's own layers.
"""

import math

import tensorflow as tf

# Additive logit for masked keys; large enough that exp() underflows to 0 in
# float32, small enough not to overflow.
_MASKED_LOGIT = -1e9


class SelfAttentionGradCAM(tf.keras.layers.Layer):
  """Refines CAM by self-attention and predicts C-class SGC logits.

  The layer computes in float32 whatever the global mixed-precision policy
  (the attention softmax over h*w keys is sensitive to rounding, and the layer
  runs at stride 16 by default, where the cost is small; its memory grows with
  (h*w)^2, so a stride-4 CAM grid (`ModelConfig.cam_level`) suits small crops).

  Call arguments:
    features: [batch, height, width, depth] query/key features (the model
      passes the concatenation of the CAM level and the one below it, by
      default the last two backbone levels, at the CAM grid). Detached inside
      the layer.
    values: [batch, height, width, num_classes - 1] normalised CAM in [0, 1],
      no background. Detached inside the layer.
    attention_mask: optional [batch, height, width] float, 1 at valid
      positions. Invalid keys get zero attention; invalid queries get an
      all-zero attention row (their output is their own CAM).
    training: batch-norm mode.

  Returns:
    [batch, height, width, num_classes] float32 SGC logits, background first.
  """

  def __init__(self,
               num_classes,
               dim=128,
               norm_momentum=0.99,
               norm_epsilon=1e-3,
               kernel_regularizer=None,
               **kwargs):
    """Initializes the layer.

    Args:
      num_classes: int, C, number of classes including background.
      dim: int, query/key dimension.
      norm_momentum: float, batch-norm moving-average momentum.
      norm_epsilon: float, batch-norm epsilon.
      kernel_regularizer: optional regularizer of the three conv kernels.
      **kwargs: forwarded to `tf.keras.layers.Layer`; `dtype` defaults to
        float32.
    """
    kwargs.setdefault('dtype', 'float32')
    super().__init__(**kwargs)
    self._num_classes = num_classes
    self._dim = dim
    self._norm_momentum = norm_momentum
    self._norm_epsilon = norm_epsilon
    self._kernel_regularizer = tf.keras.regularizers.get(kernel_regularizer)
    policy = self.dtype_policy

    def conv(filters, name):
      return tf.keras.layers.Conv2D(
          filters, 1, use_bias=False,
          kernel_regularizer=self._kernel_regularizer, dtype=policy, name=name)

    self._query = conv(dim, 'query')
    self._key = conv(dim, 'key')
    self._classifier = conv(num_classes, 'classifier')
    self._norm = tf.keras.layers.BatchNormalization(
        scale=False, momentum=norm_momentum, epsilon=norm_epsilon,
        dtype=policy, name='classifier_norm')

  def attention_weights(self, features, attention_mask=None):
    """Returns the attention matrix A.

    Args:
      features: [batch, height, width, depth] query/key features.
      attention_mask: optional [batch, height, width], 1 at valid positions.

    Returns:
      [batch, height * width, height * width] float32; row q holds the
      weights of query q over all keys (row-major positions). Rows of valid
      queries sum to 1 over valid keys; rows of invalid queries are zero.
    """
    features = tf.stop_gradient(tf.cast(features, tf.float32))
    shape = tf.shape(features)
    batch, num_positions = shape[0], shape[1] * shape[2]
    query = tf.reshape(self._query(features), [batch, num_positions, self._dim])
    key = tf.reshape(self._key(features), [batch, num_positions, self._dim])
    logits = tf.matmul(query, key, transpose_b=True) / math.sqrt(self._dim)
    if attention_mask is None:
      return tf.nn.softmax(logits, axis=-1)
    valid = tf.reshape(tf.cast(attention_mask, tf.float32),
                       [batch, num_positions]) > 0.5
    logits = tf.where(valid[:, tf.newaxis, :], logits, _MASKED_LOGIT)
    weights = tf.nn.softmax(logits, axis=-1)
    return weights * tf.cast(valid, tf.float32)[:, :, tf.newaxis]

  def call(self, features, values, attention_mask=None, training=None):
    values = tf.stop_gradient(tf.cast(values, tf.float32))
    weights = self.attention_weights(features, attention_mask)
    shape = tf.shape(values)
    flat_values = tf.reshape(values, [shape[0], shape[1] * shape[2], shape[3]])
    refined = tf.reshape(tf.matmul(weights, flat_values), shape) + values
    # Keeps the static channel count, which the classifier conv needs.
    refined = tf.ensure_shape(refined, values.shape)
    background = 2.0 - tf.reduce_max(refined, axis=-1, keepdims=True)
    scores = tf.concat([background, refined], axis=-1)
    return self._norm(self._classifier(scores), training=training)

  def get_config(self):
    config = super().get_config()
    config.update({
        'num_classes': self._num_classes,
        'dim': self._dim,
        'norm_momentum': self._norm_momentum,
        'norm_epsilon': self._norm_epsilon,
        'kernel_regularizer': tf.keras.regularizers.serialize(
            self._kernel_regularizer) if self._kernel_regularizer else None,
    })
    return config
