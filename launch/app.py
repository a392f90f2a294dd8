"""Runs a command-line program's `main`: a user's mistake ends in one line.

Every binary and conversion tool starts through `run(main)` instead of absl's
`app.run(main)`. When `main` stops on bad input (a missing or malformed file, a
value out of range, a damaged record) or a training run diverges, the user sees
one line naming the file or flag and the problem, and the program exits with
status 1; `--verbose` shows the whole traceback instead. Programming errors
(TypeError, AssertionError, ...) keep their traceback: they are ours to fix, not
the user's.

This package is a leaf: it imports no other package of the project, so that the
conversion tools in datasets/ and the binaries can both use it.
"""

import os
import sys

from absl import app
from absl import flags
from absl import logging

_VERBOSE = flags.DEFINE_bool(
    'verbose', False,
    'On an error, print the whole traceback instead of a one-line message.')

HINT = '(--verbose shows the traceback)'


def user_errors():
  """The exception types that report a bad input rather than a bug."""
  # FloatingPointError: a run that diverged (its learning rate, its data).
  types = [ValueError, OSError, KeyError, UnicodeError, FloatingPointError]
  tf = sys.modules.get('tensorflow')
  if tf is not None:
    types.append(tf.errors.OpError)  # DataLossError, NotFoundError, ...
  return tuple(types)


def one_line(error):
  """The first line of an error's message, with its type when it says little."""
  text = str(error).strip()
  if isinstance(error, KeyError) and error.args:
    text = 'missing key %s' % error.args[0]
  first = text.splitlines()[0] if text else ''
  tf = sys.modules.get('tensorflow')
  if tf is not None and isinstance(error, tf.errors.OpError) and error.message:
    first = error.message.strip().splitlines()[0]
  return first or type(error).__name__


def run(main, argv=None):
  """Parses the flags and runs `main(argv)`, reporting user errors in one line.

  Args:
    main: the program, `main(argv)` as for absl's `app.run`.
    argv: command line; default sys.argv.
  """

  def guarded(args):
    try:
      return main(args)
    except BrokenPipeError:
      # The reader of the output went away (`... | head`): stop quietly, as a
      # pipe's writer does, without a message about it.
      os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
      sys.exit(1)
    except user_errors() as e:  # pylint: disable=catching-non-exception
      if _VERBOSE.value:
        raise
      logging.flush()
      sys.stderr.write('FATAL %s %s\n' % (one_line(e), HINT))
      sys.stderr.flush()
      sys.exit(1)

  app.run(guarded, argv=argv)
