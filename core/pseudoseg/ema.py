"""EMA teacher (an option of SPEC.md; Mean Teacher, Tarvainen & Valpola 2017).

The teacher is a second copy of the model whose every variable, batch-norm moving
statistics included, follows the student's as an exponential moving average:

    teacher = d * teacher + (1 - d) * student,   d = min(decay, (1 + step) / (10 + step))

The ramp (Mean Teacher's) lets the teacher follow the student closely while the
student changes fast at the start. The teacher only makes pseudo labels; it gets
no gradient.
"""

import re

import tensorflow as tf


def _layer_path(variable):
  """A variable's name without Keras's uniquifying suffixes ('conv2d_7' -> 'conv2d')."""
  return re.sub(r'_\d+', '', variable.name)


def ema_decay(decay, step):
  """The decay used after `step` optimizer updates (float32 scalar tensor)."""
  step = tf.cast(step, tf.float32)
  return tf.minimum(tf.cast(decay, tf.float32), (1.0 + step) / (10.0 + step))


def check_pair(teacher_variables, student_variables):
  """Raises ValueError unless the two variable lists match one to one.

  Two models built from one config list their variables in the same order; the
  check compares shapes and names (without Keras's numeric suffixes, which differ
  between the two copies), so a swapped pair of same-shaped variables (gamma and
  beta, say) is caught.
  """
  if len(teacher_variables) != len(student_variables):
    raise ValueError('The EMA teacher has %d variables, the student %d.' %
                     (len(teacher_variables), len(student_variables)))
  for t, s in zip(teacher_variables, student_variables):
    if t.shape != s.shape or _layer_path(t) != _layer_path(s):
      raise ValueError('EMA teacher variable %s %s does not match student '
                       'variable %s %s.' % (t.name, t.shape, s.name, s.shape))


def copy_variables(teacher_variables, student_variables):
  """teacher := student, in cross-replica (or no-strategy) context."""
  check_pair(teacher_variables, student_variables)
  for t, s in zip(teacher_variables, student_variables):
    t.assign(s)


def update(teacher_variables, student_variables, decay):
  """One EMA update; call in replica context, after the student's update.

  The student's variables are the same on every replica after the optimizer's
  update (and its batch-norm statistics are averaged on read), so the update runs
  once, in cross-replica context, like the optimizer's own.

  Args:
    teacher_variables: list of the teacher's variables (all of them).
    student_variables: the student's variables, in the same order.
    decay: float scalar, d above.
  """
  check_pair(teacher_variables, student_variables)  # Once, when traced.

  def cross_replica(strategy):
    del strategy
    for t, s in zip(teacher_variables, student_variables):
      d = tf.cast(decay, t.dtype)
      t.assign(d * t + (1 - d) * tf.cast(s, t.dtype))

  tf.distribute.get_replica_context().merge_call(cross_replica)
