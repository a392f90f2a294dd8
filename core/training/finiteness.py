"""Which saved variables hold a NaN or an inf.

A diverging run can keep a finite loss while its batch-norm moving variances
(used only in inference) or its optimizer slots overflow; a checkpoint of that
state scores near chance. The loop checks every variable it saves before each save
(trainer.py), and a run's model is checked when it is restored (run_dir.py).
"""

import tensorflow as tf


def saved_variables(items):
  """Every floating-point variable reachable from the checkpoint items, once.

  Args:
    items: {name: trackable}, as given to `tf.train.Checkpoint` (the model, its
      optimizer, an EMA teacher, ...).

  Returns:
    [(name, variable)], the name being the item's name and the variable's, e.g.
    'model/batch_normalization/moving_variance:0': trainable and non-trainable
    variables (batch-norm statistics), optimizer slots and step counters alike.
  """
  seen = set()
  named = []
  for item_name, item in items.items():
    for obj in tf.train.TrackableView(item).descendants():
      if (isinstance(obj, tf.Variable) and obj.dtype.is_floating and
          id(obj) not in seen):
        seen.add(id(obj))
        named.append(('%s/%s' % (item_name, obj.name), obj))
  return named


@tf.function(autograph=False)
def _finite(variables):
  """[len(variables)] bool: whether each variable holds finite values only."""
  return tf.stack([tf.reduce_all(tf.math.is_finite(v)) for v in variables])


def non_finite(named_variables):
  """The names of the variables holding a NaN or an inf.

  Args:
    named_variables: [(name, variable)] of floating-point variables, e.g. from
      `saved_variables`.

  Returns:
    The names, in the given order; [] if every value is finite.
  """
  if not named_variables:
    return []
  finite = _finite([v for _, v in named_variables]).numpy()
  return [name for (name, _), ok in zip(named_variables, finite) if not ok]


def describe(names, shown=3):
  """'a, b, c and 4 more' for a message."""
  text = ', '.join(names[:shown])
  if len(names) > shown:
    text += ' and %d more' % (len(names) - shown)
  return text
