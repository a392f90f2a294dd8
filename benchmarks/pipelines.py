"""Input pipelines alone, and evaluation against the bare model on its images."""

import time

import tensorflow as tf

from core.evaluation import evaluator


def input_timer(dataset, batches, images_per_batch):
  """fn() -> images/s of `batches` batches drawn from `dataset` (tf.data alone)."""
  iterator = iter(dataset)

  def measure():
    start = time.perf_counter()
    for _ in range(batches):
      tf.nest.map_structure(lambda t: t.numpy(), next(iterator))
    return batches * images_per_batch / (time.perf_counter() - start)

  return measure


def eval_timer(model, dataset, num_classes, ignore_label):
  """fn() -> images/s of the Evaluator train_sup_eval.py uses over `dataset`,
  as it scores each checkpoint: one Evaluator and one dataset, read again."""
  scorer = evaluator.Evaluator(model, num_classes, ignore_label=ignore_label)

  def measure():
    start = time.perf_counter()
    result = scorer.evaluate(dataset)
    return result['num_images'] / (time.perf_counter() - start)

  return measure


def bare_model_timer(model, dataset):
  """fn() -> images/s of the model alone on the images of `dataset` (one
  compiled call per image, argmax at the padded size; no scores).

  The images are read into memory first, so neither the reading nor the scoring
  is in the figure.
  """
  images = [batch['image'] for batch in dataset]

  @tf.function(reduce_retracing=True)
  def predict(image):
    logits = model(image, training=False)['logits']
    logits = tf.image.resize(logits, tf.shape(image)[1:3], method='bilinear')
    return tf.argmax(logits, axis=-1, output_type=tf.int32)

  def measure():
    start = time.perf_counter()
    for image in images:
      predict(image).numpy()
    return len(images) / (time.perf_counter() - start)

  return measure
