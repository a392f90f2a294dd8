"""Medians over interleaved repetitions, so that a slow spell of the machine falls
on every measurement alike instead of on one of them."""

import statistics
import time


def interleaved(measurements, repeats, warmup=1):
  """Runs each measurement `warmup` times, then `repeats` rounds of all of them.

  The order rotates from round to round (A B C, B C A, C A B, ...).

  Args:
    measurements: {name: fn() -> float}, each one measurement (e.g. s/step).
    repeats: rounds that count.
    warmup: rounds run first and dropped (tracing, caches, thread pools).

  Returns:
    {name: {'median': float, 'values': [float, ...]}}.
  """
  names = list(measurements)
  for _ in range(warmup):
    for name in names:
      measurements[name]()
  values = {name: [] for name in names}
  for r in range(repeats):
    k = r % len(names)
    for name in names[k:] + names[:k]:
      values[name].append(float(measurements[name]()))
  return {name: {'median': statistics.median(v), 'values': v}
          for name, v in values.items()}


def seconds(fn, *args):
  """Wall seconds of `fn(*args)`."""
  start = time.perf_counter()
  fn(*args)
  return time.perf_counter() - start
