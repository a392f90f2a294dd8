"""The real training binaries, run as a user runs them, timed from their own log.

A binary's steady-state step time is read off the timestamps of its progress
lines (`step N/M | ...`): from the second line to the last, so summaries,
pictures and checkpoints at the run's own settings fall inside it. The first
loop traces; the second warms up (tf.data's autotuning, first allocations) and
ran 5-30 % slower than the loops after it, on either binary, on 2 cores: both
are start-up, which `wall_s` keeps. Peak memory is the process's own high-water
resident set (VmHWM of /proc/PID/status, read while it runs: wait4's ru_maxrss would also
count the forking parent's pages, kept across exec).
"""

import os
import re
import subprocess
import sys
import time

from benchmarks import configs

# absl's prefix: I1204 00:45:00.123456 140234 trainer.py:306] step 50/150 | ...
_PROGRESS = re.compile(r'^[IWE]\d{4} (\d\d):(\d\d):(\d\d\.\d+)\s.*\] step '
                       r'(\d+)/(\d+) \|')


def progress_times(log_text):
  """[(seconds since midnight, step)] of the progress lines in a log."""
  found = []
  for line in log_text.splitlines():
    m = _PROGRESS.match(line)
    if m:
      h, mi, s, step = int(m.group(1)), int(m.group(2)), float(m.group(3)), int(
          m.group(4))
      found.append((h * 3600 + mi * 60 + s, step))
  # A run across midnight: keep the clock increasing.
  out, offset, last = [], 0.0, None
  for t, step in found:
    if last is not None and t + offset < last:
      offset += 86400.0
    last = t + offset
    out.append((last, step))
  return out


def steady_step_seconds(log_text, warmup_loops=1):
  """Seconds per step from progress line `warmup_loops + 1` to the last."""
  times = progress_times(log_text)[warmup_loops:]
  if len(times) < 2:
    raise ValueError('Fewer than %d progress lines in the log; run more '
                     'steps (at least %d loops of --steps_per_loop).' %
                     (warmup_loops + 2, warmup_loops + 2))
  (t0, s0), (t1, s1) = times[0], times[-1]
  return (t1 - t0) / (s1 - s0)


def _high_water_mb(pid):
  """VmHWM of a running process in MB (0 where /proc cannot tell)."""
  try:
    with open('/proc/%d/status' % pid) as f:
      for line in f:
        if line.startswith('VmHWM:'):
          return int(line.split()[1]) / 1024.0
  except OSError:
    pass
  return 0.0


def run_process(script, flag_list, log_path, timeout):
  """Runs `python SCRIPT FLAGS` from the repository root to its end, its
  output into `log_path`.

  Returns:
    dict: wall_s, peak_rss_mb.

  Raises:
    ChildProcessError: the run failed or ran past `timeout` seconds (one line:
      the script, its exit status, its log and the log's last line).
  """
  env = dict(os.environ)
  env['PYTHONPATH'] = configs.ROOT + os.pathsep + env.get('PYTHONPATH', '')
  start = time.perf_counter()
  with open(log_path, 'w') as log:
    proc = subprocess.Popen([sys.executable, os.path.join(configs.ROOT, script)]
                            + list(flag_list), cwd=configs.ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = start + timeout
    peak = 0.0
    while proc.poll() is None:
      peak = max(peak, _high_water_mb(proc.pid))
      if time.perf_counter() > deadline:
        proc.kill()
        proc.wait()
        break
      time.sleep(0.2)
  wall = time.perf_counter() - start
  if proc.returncode != 0:
    with open(log_path) as f:
      text = f.read()
    last = ([line for line in text.splitlines() if line.strip()][-1:] or [''])[0]
    last = last.replace(' (--verbose shows the traceback)', '')
    raise ChildProcessError('%s exited with %d (log %s): %s' % (
        script, proc.returncode, log_path,
        last[len('FATAL '):] if last.startswith('FATAL ') else last))
  return {'wall_s': wall, 'peak_rss_mb': peak}


def run_binary(script, flag_list, log_path, timeout):
  """run_process of a training binary, plus its steady-state step time.

  Returns:
    dict: step_s (steady state), wall_s, peak_rss_mb.
  """
  figures = run_process(script, flag_list, log_path, timeout)
  with open(log_path) as f:
    figures['step_s'] = steady_step_seconds(f.read())
  return figures
