"""Distribution alignment of the pseudo labels (an option; ReMixMatch, Berthelot et al. 2020).

A model that trains on its own sharpened predictions can let the classes it
predicts most absorb the ones it predicts least. Distribution alignment re-weights
the teacher's class probabilities so that their running marginal over unlabeled
pixels follows the running class marginal of the labeled pixels:

    p(c) <- m p(c) + (1 - m) * mean of prob(c) over the valid unlabeled pixels
    q(c) <- m q(c) + (1 - m) * share of the labeled pixels that are class c
    prob' = prob * q / p, renormalised over the classes

Both marginals start uniform and are taken over the global batch (sums and counts
all-reduced across replicas), so they do not depend on how the batch is split. They
are updated with the current batch before the ratio is taken, as in ReMixMatch. A
batch with no valid pixel (or no labeled pixel) leaves its marginal as it was.
PseudoSeg applies nothing of the kind; this is ours to offer (off by default).
"""

import tensorflow as tf

_EPSILON = 1e-6


class DistributionAlignment(tf.Module):
  """The two running marginals (checkpointed) and the re-weighting."""

  def __init__(self, num_classes, momentum, name='distribution_alignment'):
    super().__init__(name=name)
    if not 0.0 < momentum < 1.0:
      raise ValueError('momentum must be in (0, 1), got %r.' % (momentum,))
    self.num_classes = num_classes
    self.momentum = momentum
    uniform = tf.fill([num_classes], 1.0 / num_classes)
    # Every replica computes the same all-reduced value; the first one's is kept.
    kwargs = dict(trainable=False,
                  synchronization=tf.VariableSynchronization.ON_WRITE,
                  aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    self.prediction_marginal = tf.Variable(uniform, name='prediction_marginal',
                                           **kwargs)
    self.label_marginal = tf.Variable(uniform, name='label_marginal', **kwargs)

  def _follow(self, variable, total, count):
    batch = total / tf.maximum(count, 1.0)
    moved = self.momentum * variable + (1.0 - self.momentum) * batch
    variable.assign(tf.where(count > 0, moved, variable))

  def update(self, prob, valid, label):
    """Moves both marginals towards this batch's.

    Args:
      prob: [B,h,w,C] the teacher's class probabilities.
      valid: [B,h,w] float, 1 on the pixels that count.
      label: [B',H,W,1] int labeled masks; ids outside [0, C) (the ignore
        label) do not count.
    """
    prob = tf.cast(prob, tf.float32)
    valid = tf.cast(valid, tf.float32)
    prob_total = tf.reduce_sum(prob * valid[..., None], [0, 1, 2])
    prob_count = tf.reduce_sum(valid)
    # one_hot gives a zero row for an out-of-range id, so ignored pixels drop out.
    label_total = tf.reduce_sum(
        tf.one_hot(tf.reshape(label, [-1]), self.num_classes), 0)
    label_count = tf.reduce_sum(label_total)
    ctx = tf.distribute.get_replica_context()
    if ctx is not None and ctx.num_replicas_in_sync > 1:
      prob_total, prob_count, label_total, label_count = ctx.all_reduce(
          tf.distribute.ReduceOp.SUM,
          [prob_total, prob_count, label_total, label_count])
    self._follow(self.prediction_marginal, prob_total, prob_count)
    self._follow(self.label_marginal, label_total, label_count)

  def align(self, prob):
    """prob * q / p, renormalised over the last axis (no update)."""
    ratio = self.label_marginal / tf.maximum(self.prediction_marginal, _EPSILON)
    aligned = tf.cast(prob, tf.float32) * ratio
    return aligned / tf.maximum(tf.reduce_sum(aligned, -1, keepdims=True),
                                _EPSILON)
