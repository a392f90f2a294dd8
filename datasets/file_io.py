"""Small files written whole or not at all."""

import os
import tempfile


def write_text_atomic(path, text):
  """Writes `text` to `path` through a temporary file renamed into place.

  A reader (or a later run) sees the old file or the new one, never a part;
  on any error the temporary file is removed and `path` is left as it was.
  The file gets the permissions `open()` would give it (0666 less the umask),
  not the temporary file's 0600.

  Args:
    path: the file to write; its directory is created if missing.
    text: str, the whole content, written as UTF-8 whatever the locale.
  """
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  umask = os.umask(0)
  os.umask(umask)
  fd, tmp = tempfile.mkstemp(prefix='.tmp-', dir=directory)
  try:
    with os.fdopen(fd, 'w', encoding='utf-8') as f:
      f.write(text)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise
