"""Learning-rate and loss-weight schedules."""

import tensorflow as tf


def sigmoid_rampup(step, rampup_steps):
  """The consistency weight's ramp-up factor (Laine & Aila 2017), in (0, 1].

    factor(s) = exp(−5 · (1 − min(s, R) / R)²)   for R = rampup_steps > 0,

  so it starts at exp(−5) ≈ 0.0067, passes exp(−1.25) ≈ 0.29 at R / 2 and is 1 from
  step R on; R <= 0 gives 1 at every step (the official recipe: no ramp-up).

  Args:
    step: int or scalar tensor, the step counted from 0.
    rampup_steps: int.

  Returns:
    float32 scalar tensor.
  """
  if rampup_steps <= 0:
    return tf.constant(1.0)
  fraction = tf.minimum(tf.maximum(tf.cast(step, tf.float32), 0.0) /
                        float(rampup_steps), 1.0)
  return tf.exp(-5.0 * tf.square(1.0 - fraction))


class PolynomialDecayWithWarmup(tf.keras.optimizers.schedules.LearningRateSchedule):
  """DeepLab's "poly" schedule with an optional linear warm-up.

  For step s (counted from 0, warm-up included):

    poly(s) = (base − end) · (1 − min(s, decay_steps) / decay_steps)^power + end

  so the rate reaches `end_learning_rate` at `decay_steps` and stays there. During the
  first `warmup_steps` steps the rate instead rises linearly from
  `base_learning_rate · warmup_start_factor` to poly(warmup_steps), which keeps the
  schedule continuous where the warm-up ends:

    lr(s) = start + (poly(warmup_steps) − start) · s / warmup_steps,  s < warmup_steps.

  The official recipe is base 0.007, end 0, power 0.9, no warm-up.
  """

  def __init__(self, base_learning_rate, decay_steps, end_learning_rate=0.0,
               power=0.9, warmup_steps=0, warmup_start_factor=0.0, name=None):
    """Initialises the schedule.

    Args:
      base_learning_rate: float, the rate at step 0 (without warm-up).
      decay_steps: int > 0, the step at which the rate reaches `end_learning_rate`
        (normally the total number of training steps).
      end_learning_rate: float.
      power: float, the polynomial's exponent.
      warmup_steps: int >= 0; 0 disables the warm-up.
      warmup_start_factor: float, the warm-up starts at
        `base_learning_rate * warmup_start_factor` (e.g. 0 or 0.1).
      name: optional name scope.
    """
    super().__init__()
    if decay_steps <= 0:
      raise ValueError(f'decay_steps must be > 0, got {decay_steps}.')
    if warmup_steps < 0:
      raise ValueError(f'warmup_steps must be >= 0, got {warmup_steps}.')
    self.base_learning_rate = base_learning_rate
    self.decay_steps = decay_steps
    self.end_learning_rate = end_learning_rate
    self.power = power
    self.warmup_steps = warmup_steps
    self.warmup_start_factor = warmup_start_factor
    self.name = name

  def _poly(self, step):
    fraction = tf.minimum(step, float(self.decay_steps)) / float(self.decay_steps)
    return ((self.base_learning_rate - self.end_learning_rate) *
            tf.pow(1.0 - fraction, self.power) + self.end_learning_rate)

  def __call__(self, step):
    with tf.name_scope(self.name or 'PolynomialDecayWithWarmup'):
      step = tf.maximum(tf.cast(step, tf.float32), 0.0)
      lr = self._poly(step)
      if self.warmup_steps > 0:
        warmup_steps = float(self.warmup_steps)
        start = self.base_learning_rate * self.warmup_start_factor
        target = self._poly(tf.constant(warmup_steps))
        warmup_lr = start + (target - start) * step / warmup_steps
        lr = tf.where(step < warmup_steps, warmup_lr, lr)
      return lr

  def get_config(self):
    return {
        'base_learning_rate': self.base_learning_rate,
        'decay_steps': self.decay_steps,
        'end_learning_rate': self.end_learning_rate,
        'power': self.power,
        'warmup_steps': self.warmup_steps,
        'warmup_start_factor': self.warmup_start_factor,
        'name': self.name,
    }
