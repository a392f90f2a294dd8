"""Scores a model on a whole split: mIoU and per-class IoU at the original size.

Images are padded (not resized) to the evaluation size with the ignore label in the
padding, logits are upsampled to that padded size and argmaxed, so every original
pixel is scored once and padding never is. Optional multi-scale and flip inference
average the softmax probabilities.
"""

import itertools
import time

from absl import logging
import numpy as np
import tensorflow as tf

from core.evaluation import metrics

# Images read before they are scored (Evaluator.evaluate).
READ_AHEAD = 32


def _scaled_size(size, scale):
  """[2] int32 size of an image of `size` resized by `scale` (at least 1)."""
  scaled = tf.math.round(tf.cast(size, tf.float32) * scale)
  return tf.maximum(tf.cast(scaled, tf.int32), 1)


def upsampled_logits(model, images, size):
  """[B,h,w,C] float32 logits of `images`, bilinearly resized to `size`."""
  logits = tf.cast(model(images, training=False)['logits'], tf.float32)
  return tf.image.resize(logits, size, method='bilinear')


def predict_probabilities(model, images, scales=(1.0,), flip=False):
  """Softmax probabilities at the input size, averaged over scales and flips.

  Args:
    model: a model whose call returns {'logits': [B,h,w,C]}.
    images: [B,H,W,3] float32 in [0, 1].
    scales: input scales to average.
    flip: also average the horizontally flipped input.

  Returns:
    [B,H,W,C] float32 probabilities.
  """
  size = tf.shape(images)[1:3]
  total = 0.0
  for scale in scales:
    scaled = images
    if scale != 1.0:
      scaled = tf.image.resize(images, _scaled_size(size, scale),
                               method='bilinear')
    variants = [(scaled, False)] + ([(scaled[:, :, ::-1], True)] if flip else [])
    for inputs, flipped in variants:
      logits = upsampled_logits(model, inputs, size)
      if flipped:
        logits = logits[:, :, ::-1]
      total += tf.nn.softmax(logits)
  return total / (len(scales) * (2 if flip else 1))


class Evaluator(object):
  """Scores a model on data sets, compiling its prediction once.

  Hold one per model and call `evaluate` for each checkpoint restored into it:
  the compiled prediction is reused (a new one per call would retrace the
  model each time), and images of other sizes share it (reduce_retracing).

  Args:
    model: the segmentation model.
    num_classes: classes including background.
    ignore_label: label value not scored.
    scales: inference scales.
    flip: flip inference.
  """

  def __init__(self, model, num_classes, ignore_label=255, scales=(1.0,),
               flip=False):
    self._num_classes = num_classes

    single_pass = tuple(scales) == (1.0,) and not flip

    @tf.function(reduce_retracing=True, autograph=False)
    def predict(images, labels):
      if single_pass:  # The softmax would not change the argmax.
        scores = upsampled_logits(model, images, tf.shape(images)[1:3])
      else:
        scores = predict_probabilities(model, images, tuple(scales), flip)
      preds = tf.argmax(scores, axis=-1, output_type=tf.int32)
      return metrics.confusion_matrix(labels[..., 0], preds, num_classes,
                                      ignore_label=ignore_label)

    self._predict = predict

  def evaluate(self, dataset, max_batches=None, read_ahead=READ_AHEAD):
    """Accumulates a confusion matrix over a data set and returns scores.

    Batches are read until they hold `read_ahead` images, then scored. Read
    one by one, the input pipeline decodes the next images while the model
    runs, and on a small CPU its threads stall the model's (an op waits for
    its slowest thread): on 2 cores that made evaluation about 0.7 of the
    model's own speed, against about 0.85 reading ahead.

    Args:
      dataset: yields dicts with 'image' [B,H,W,3] and 'label' [B,H,W,1]
        (padding carries the ignore label).
      max_batches: stop early (for smoke runs).
      read_ahead: images held in memory at a time (whole batches, at least
        one).

    Returns:
      dict with miou, per_class_iou (list, NaN for classes absent from both
      ground truth and predictions), pixel_accuracy, num_images, seconds.
    """
    n = self._num_classes
    cm = np.zeros((n, n), np.int64)
    num_images = 0
    start = time.time()
    batches = iter(dataset)
    if max_batches is not None:
      batches = itertools.islice(batches, max_batches)
    while True:
      block, held = [], 0
      for batch in batches:
        block.append(batch)
        held += int(batch['image'].shape[0])
        if held >= read_ahead:
          break
      if not block:
        break
      for batch in block:
        cm += self._predict(batch['image'],
                            batch['label']).numpy().astype(np.int64)
        num_images += int(batch['image'].shape[0])
    miou, per_class = metrics.iou_from_confusion(cm)
    result = {
        'miou': float(miou),
        'per_class_iou': [float(x) for x in per_class],
        'pixel_accuracy': float(np.trace(cm) / max(cm.sum(), 1)),
        'num_images': num_images,
        'seconds': time.time() - start,
    }
    logging.info('Evaluated %d images: mIoU %.4f, pixel accuracy %.4f (%.1fs).',
                 num_images, result['miou'], result['pixel_accuracy'],
                 result['seconds'])
    return result


def evaluate(model, dataset, num_classes, ignore_label=255, scales=(1.0,),
             flip=False, max_batches=None):
  """Scores `model` on `dataset` once (see Evaluator; it compiles anew)."""
  return Evaluator(model, num_classes, ignore_label, scales, flip).evaluate(
      dataset, max_batches)
