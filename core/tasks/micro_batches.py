"""Gradient accumulation: one update from the mean gradient of N micro-batches.

A step's per-replica batch holds N micro-batches one after another along the batch
axis (the input stream batches N times the configured size). The gradients of each
micro-batch are computed in turn and summed; the update applies their mean:

  g = (1/N) * sum_i grad L(micro-batch i)

which is the gradient of the whole batch's loss when that loss is the mean of the
micro-batches' losses (every loss here is a mean over pixels or images, so this holds
when the micro-batches count as many pixels; batch normalisation normalises each
micro-batch by its own statistics). The micro-batches run one after another: the
inputs of micro-batch i+1 wait for the gradients of micro-batch i, so only one
micro-batch's activations are alive at a time.

The loop is unrolled (N copies of the pass in the step's graph): a merge_call of
MirroredStrategy (the global logit norm's all-reduce, distribution alignment) cannot
sit inside a tf.while_loop.
"""

import tensorflow as tf


def micro_batch(batch, index, num_micro):
  """Micro-batch `index` of `num_micro` of a nested batch (every leaf [N*b, ...]).

  Args:
    batch: nested structure of tensors whose first axis is N * b.
    index: python int in [0, num_micro).
    num_micro: N.

  Returns:
    The same structure, each leaf [b, ...]: rows index*b to (index+1)*b.
  """
  def take(t):
    t = tf.convert_to_tensor(t)
    static = t.shape[0]
    b = static // num_micro if static is not None else (
        tf.shape(t)[0] // num_micro)
    part = t[index * b:(index + 1) * b]
    if static is not None:
      part.set_shape([b] + t.shape[1:].as_list())
    return part
  return tf.nest.map_structure(take, batch)


def _after(tensors, structure):
  """`structure` whose leaves wait for `tensors` (identity under control deps)."""
  with tf.control_dependencies([t for t in tensors if t is not None]):
    return tf.nest.map_structure(tf.identity, structure)


def accumulate(compute, batch, num_micro):
  """Runs `compute` on each micro-batch in turn; the mean of what it returns.

  Args:
    compute: fn(micro_batch, index) -> (grads, outputs, state): grads a list
      of tensors or None (one per variable, the same Nones every call),
      outputs a dict of scalars, state anything (e.g. a step context).
    batch: nested structure of [N*b, ...] tensors.
    num_micro: N >= 1.

  Returns:
    (mean grads, a None where compute gave None; mean outputs; the last
    micro-batch's state).
  """
  grad_sum = output_sum = state = None
  for index in range(num_micro):
    part = micro_batch(batch, index, num_micro)
    if grad_sum is not None:
      part = _after(grad_sum, part)
    grads, outputs, state = compute(part, index)
    if grad_sum is None:
      grad_sum, output_sum = list(grads), dict(outputs)
    else:
      grad_sum = [None if s is None else s + tf.convert_to_tensor(g)
                  for s, g in zip(grad_sum, grads)]
      output_sum = {k: v + outputs[k] for k, v in output_sum.items()}
  scale = 1.0 / num_micro
  grads = [None if s is None else tf.convert_to_tensor(s) * scale
           for s in grad_sum]
  outputs = {k: v * scale for k, v in output_sum.items()}
  return grads, outputs, state
