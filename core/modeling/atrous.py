"""Atrous 3x3 convolutions without the taps that read only padding.

A 3x3 convolution with dilation r and 'same' padding reads, for output row i,
input rows i - r, i and i + r. When r >= the input's height, rows i - r and i + r
lie outside the input for every i: those kernel rows multiply the zero padding
and nothing else, so the centre row alone gives the same output and the same
gradients (the dropped rows' gradients are exactly zero either way). Likewise for
columns and the width.

This is DeepLab's ASPP at small crops: rates 6, 12, 18 at output stride 16 on the
6x6 map of a 96 crop make all three branches 1x1 convolutions in disguise, while
oneDNN's dilated-convolution gradients grow with the rate (at that crop they
were about 40 % of a training step's op time). `trim_padding_taps` gives each
such layer of a built model a convolution that drops those taps; its variables,
checkpoints and the function it computes are unchanged.
"""

import tensorflow as tf

_TAPS = 3


def _taps(size, rate):
  """(kernel slice, dilation) along one axis of static `size` (None: unknown):
  the centre tap alone where the others read only padding, else all three."""
  if size is not None and rate >= size:
    return slice(1, 2), 1
  return slice(0, _TAPS), rate


def atrous_convolution(inputs, kernel, rate):
  """`tf.nn.convolution(inputs, kernel, 'SAME', dilations=rate)` for a 3x3
  kernel, the taps that read only padding left out.

  Args:
    inputs: [batch, height, width, in] (NHWC).
    kernel: [3, 3, in, out].
    rate: (rate_h, rate_w) dilation.

  Returns:
    [batch, height, width, out], equal to the full dilated convolution. An axis
    of unknown static size is convolved whole.
  """
  rows, rate_h = _taps(inputs.shape[1], rate[0])
  cols, rate_w = _taps(inputs.shape[2], rate[1])
  return tf.nn.convolution(inputs, kernel[rows, cols],
                           strides=1, padding='SAME',
                           dilations=[rate_h, rate_w], data_format='NHWC')


def _trimmable(layer):
  return (type(layer) is tf.keras.layers.Conv2D and  # pylint: disable=unidiomatic-typecheck
          tuple(layer.kernel_size) == (_TAPS, _TAPS) and
          layer.padding == 'same' and tuple(layer.strides) == (1, 1) and
          max(layer.dilation_rate) > 1 and layer.groups == 1 and
          layer.data_format == 'channels_last')


def trim_padding_taps(model):
  """Gives every dilated 3x3 'same' Conv2D of `model` `atrous_convolution`.

  The layer's own convolution (Keras `Conv2D.convolution_op`, which its call
  uses) is replaced on the instance: weights, names and checkpoints stay as
  Model Garden builds them.

  Args:
    model: a built Keras model (its layers' variables exist).

  Returns:
    The number of layers changed.
  """
  changed = 0
  for layer in model.submodules:
    if _trimmable(layer):
      rate = tuple(layer.dilation_rate)
      layer.convolution_op = (
          lambda inputs, kernel, rate=rate: atrous_convolution(
              inputs, kernel, rate))
      changed += 1
  return changed
