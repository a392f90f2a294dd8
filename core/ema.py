"""EMA teacher (an option of SPEC.md; Mean Teacher, Tarvainen & Valpola 2017).

The teacher is a second copy of the model whose every variable, batch-norm moving
statistics included, follows the student's as an exponential moving average:

    teacher = d * teacher + (1 - d) * student,   d = min(decay, (1 + step) / (10 + step))

The ramp (Mean Teacher's) lets the teacher follow the student closely while the
student changes fast at the start. The teacher only makes pseudo labels; it gets
no gradient.
"""

import tensorflow as tf


def ema_decay(decay, step):
  """The decay used after `step` optimizer updates (float32 scalar tensor)."""
  step = tf.cast(step, tf.float32)
  return tf.minimum(tf.cast(decay, tf.float32), (1.0 + step) / (10.0 + step))


def check_pair(teacher_variables, student_variables):
  """Raises ValueError unless the two variable lists match in number and shape."""
  if len(teacher_variables) != len(student_variables):
    raise ValueError('The EMA teacher has %d variables, the student %d.' %
                     (len(teacher_variables), len(student_variables)))
  for t, s in zip(teacher_variables, student_variables):
    if t.shape != s.shape:
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
  def cross_replica(strategy):
    del strategy
    for t, s in zip(teacher_variables, student_variables):
      d = tf.cast(decay, t.dtype)
      t.assign(d * t + (1 - d) * tf.cast(s, t.dtype))

  tf.distribute.get_replica_context().merge_call(cross_replica)
