"""Calibrated fusion: PseudoSeg's soft pseudo label from decoder and SGC logits.

On the weak view of an unlabeled image (SPEC §5):

    sgc    = bilinear resize of the SGC logits to the decoder's resolution
    v      = normalise(decoder logits, sgc)         # see `logit_norm` below
    prob   = ½ softmax(v_decoder) + ½ softmax(v_sgc) # pseudo_src='avg'
    y      = prob^(1/T) / Σ_c prob^(1/T)             # sharpening, T = 0.5
    y      = stop_gradient(y)

Normalisations (`logit_norm`), each of the form v / sqrt(mean(v²) + 1e-8) with the mean
taken over:

* 'global' (ours, default): every element of both tensors over the *global* batch. In a
  `tf.distribute` replica context with more than one replica, the sum of squares and
  the element count are all-reduced, so the pseudo label does not depend on how the
  batch is split across replicas.
* 'replica': every element of both tensors on this replica only (the official code).
* 'pixel': the classes of each pixel of each tensor separately (an ablation; the
  per-pixel L2 norm divided by sqrt(classes), so its scale matches the others).
* 'none': no normalisation.

Confidence threshold: when > 0, a pixel's weight is 1 where the max class probability
of the fused distribution *before* sharpening is at least the threshold, else 0. We use
the unsharpened value because it is the models' own confidence (as FixMatch thresholds
the teacher's softmax); with T = 0.5 the sharpened maximum is inflated (0.7 → 0.84) and
a threshold on it would mean something different for every T.

The pseudo label and weight leave this module wrapped in `tf.stop_gradient` — the one
place in the code base where that happens for the pseudo label.
"""

import tensorflow as tf

from core import losses

LOGIT_NORMS = ('global', 'replica', 'pixel', 'none')
PSEUDO_SOURCES = ('avg', 'att', 'dec')
_EPSILON = 1e-8


def _rms_scale(tensors, cross_replica):
  """Returns sqrt(mean(v²) + eps) over every element of `tensors` (a float32 scalar).

  Args:
    tensors: list of float32 tensors.
    cross_replica: whether to sum the squares and counts over all replicas when called
      in a replica context of a strategy with more than one replica.
  """
  sum_sq = tf.add_n([tf.reduce_sum(tf.square(t)) for t in tensors])
  count = tf.add_n([tf.cast(tf.size(t), tf.float32) for t in tensors])
  if cross_replica:
    ctx = tf.distribute.get_replica_context()
    # None in a cross-replica context (the caller holds the whole batch there), and the
    # default replica context has a single replica: both need no reduction.
    if ctx is not None and ctx.num_replicas_in_sync > 1:
      sum_sq, count = ctx.all_reduce(tf.distribute.ReduceOp.SUM, [sum_sq, count])
  return tf.sqrt(sum_sq / count + _EPSILON)


def normalize_logits(decoder_logits, sgc_logits, logit_norm='global'):
  """Rescales both logit tensors by their RMS, as chosen by `logit_norm`.

  Args:
    decoder_logits: [batch, h, w, classes] float32.
    sgc_logits: [batch, h, w, classes] float32, same shape.
    logit_norm: one of 'global', 'replica', 'pixel', 'none' (see the module docstring).

  Returns:
    (decoder_logits, sgc_logits), normalised, same shapes.
  """
  if logit_norm == 'none':
    return decoder_logits, sgc_logits
  if logit_norm in ('global', 'replica'):
    scale = _rms_scale([decoder_logits, sgc_logits],
                       cross_replica=logit_norm == 'global')
    return decoder_logits / scale, sgc_logits / scale
  if logit_norm == 'pixel':
    def per_pixel(v):
      return v * tf.math.rsqrt(
          tf.reduce_mean(tf.square(v), axis=-1, keepdims=True) + _EPSILON)
    return per_pixel(decoder_logits), per_pixel(sgc_logits)
  raise ValueError(f'logit_norm must be one of {LOGIT_NORMS}, got {logit_norm!r}.')


def sharpen(prob, temperature):
  """prob^(1/T) / Σ_c prob^(1/T), computed as a softmax of log(prob)/T for stability.

  Args:
    prob: [..., classes] probabilities (rows summing to 1).
    temperature: float > 0; 1 leaves `prob` unchanged, → 0 approaches one-hot.

  Returns:
    [..., classes] float32 probabilities.
  """
  if temperature <= 0:
    raise ValueError(f'temperature must be > 0, got {temperature}.')
  # A probability that underflowed to 0 would give log = -inf; the floor keeps every
  # value finite, and a 1e-30 floor is far below anything that could matter.
  log_prob = tf.math.log(tf.maximum(prob, 1e-30))
  return tf.nn.softmax(log_prob / temperature, axis=-1)


def calibrated_fusion(decoder_logits, sgc_logits, temperature=0.5,
                      logit_norm='global', pseudo_src='avg', soft_labels=True,
                      confidence_threshold=0.0, align=None):
  """Builds the pseudo label of the weak view from decoder and SGC logits.

  Args:
    decoder_logits: [batch, h, w, classes] decoder logits (stride 4), any float dtype.
    sgc_logits: [batch, h', w', classes] SGC logits (the CAM grid, stride 16 by
      default); bilinearly resized (half-pixel centres) to (h, w) first.
    temperature: sharpening temperature T > 0 (soft labels only).
    logit_norm: 'global' | 'replica' | 'pixel' | 'none' (module docstring).
    pseudo_src: 'avg' (½ softmax(decoder) + ½ softmax(sgc)), 'att' (softmax(sgc)) or
      'dec' (softmax(decoder)).
    soft_labels: True for the sharpened distribution, False for the one-hot of its
      argmax.
    confidence_threshold: when > 0, pixels whose fused max probability (before
      sharpening) is below it get weight 0.
    align: optional fn(prob) -> prob applied to the fused probability before the
      threshold and the sharpening (core/distribution_alignment.py).

  Returns:
    pseudo_label: [batch, h, w, classes] float32 distribution, gradient stopped.
    weight: [batch, h, w] float32 in {0, 1} (all ones when the threshold is 0),
      gradient stopped.
  """
  if pseudo_src not in PSEUDO_SOURCES:
    raise ValueError(
        f'pseudo_src must be one of {PSEUDO_SOURCES}, got {pseudo_src!r}.')
  decoder_logits = tf.cast(decoder_logits, tf.float32)
  sgc_logits = losses.resize_logits(sgc_logits,
                                    losses.spatial_size(decoder_logits))
  decoder_logits, sgc_logits = normalize_logits(decoder_logits, sgc_logits,
                                                logit_norm)
  if pseudo_src == 'avg':
    prob = 0.5 * tf.nn.softmax(decoder_logits) + 0.5 * tf.nn.softmax(sgc_logits)
  elif pseudo_src == 'att':
    prob = tf.nn.softmax(sgc_logits)
  else:
    prob = tf.nn.softmax(decoder_logits)
  if align is not None:
    prob = align(prob)

  if soft_labels:
    pseudo_label = sharpen(prob, temperature)
  else:
    num_classes = tf.shape(prob)[-1]
    pseudo_label = tf.one_hot(tf.argmax(prob, axis=-1), num_classes,
                              dtype=tf.float32)

  max_prob = tf.reduce_max(prob, axis=-1)
  if confidence_threshold > 0:
    weight = tf.cast(max_prob >= confidence_threshold, tf.float32)
  else:
    weight = tf.ones_like(max_prob)
  # The one place where the pseudo label is cut from the graph: the teacher (weak view,
  # decoder and SGC) must not be trained to agree with the student's prediction.
  return tf.stop_gradient(pseudo_label), tf.stop_gradient(weight)


class CalibratedFusion(tf.keras.layers.Layer):
  """Keras layer around `calibrated_fusion`, holding its settings; no weights.

  Call with (decoder_logits, sgc_logits) and optionally `align` (as
  `calibrated_fusion`'s); returns (pseudo_label, weight). The PseudoSeg task
  makes its pseudo labels with it.
  """

  def __init__(self, temperature=0.5, logit_norm='global', pseudo_src='avg',
               soft_labels=True, confidence_threshold=0.0, **kwargs):
    # Float32 even under a mixed-precision policy: Keras would otherwise cast the
    # logits to float16/bfloat16 before the softmaxes and the sharpening.
    kwargs.setdefault('dtype', 'float32')
    super().__init__(**kwargs)
    if logit_norm not in LOGIT_NORMS:
      raise ValueError(
          f'logit_norm must be one of {LOGIT_NORMS}, got {logit_norm!r}.')
    if pseudo_src not in PSEUDO_SOURCES:
      raise ValueError(
          f'pseudo_src must be one of {PSEUDO_SOURCES}, got {pseudo_src!r}.')
    self._temperature = temperature
    self._logit_norm = logit_norm
    self._pseudo_src = pseudo_src
    self._soft_labels = soft_labels
    self._confidence_threshold = confidence_threshold

  @classmethod
  def from_pseudo_label_config(cls, config, **kwargs):
    """Builds the layer from a `core.config.PseudoLabelConfig`."""
    return cls(temperature=config.temperature, logit_norm=config.logit_norm,
               pseudo_src=config.pseudo_src, soft_labels=config.soft_labels,
               confidence_threshold=config.confidence_threshold, **kwargs)

  def call(self, decoder_logits, sgc_logits, align=None):
    return calibrated_fusion(
        decoder_logits, sgc_logits, temperature=self._temperature,
        logit_norm=self._logit_norm, pseudo_src=self._pseudo_src,
        soft_labels=self._soft_labels,
        confidence_threshold=self._confidence_threshold, align=align)

  def get_config(self):
    config = super().get_config()
    config.update(temperature=self._temperature, logit_norm=self._logit_norm,
                  pseudo_src=self._pseudo_src, soft_labels=self._soft_labels,
                  confidence_threshold=self._confidence_threshold)
    return config
