"""Replacing a split's shards so that a crash leaves the old split or the new one.

A converter writes new shards under hidden names first (`.staging-*/` folders,
`.tmp-*` files), then swaps them in. Deleting the old shards and then renaming the
new ones would leave a partial split behind if the process died in between. So
`replace_files` does it in steps that a later run can finish:

  1. write the journal `.swap-journal.json` (atomically): the old names, the new
     files and where they go, the hidden `.aside-*` folder, the small text files
     (`dataset_info.json`) to write at the end;
  2. move every old shard into the aside folder, then mark the journal so;
  3. move every new shard into place; write the text files;
  4. delete the journal (the swap is done), then the aside folder.

Each step can be redone: before step 2 is marked, a file with an old name in the
directory is old; after it, a file with a new name is new. `recover` (run by every
conversion before it writes) finishes a swap whose journal it finds, and removes
what a killed conversion leaves behind: staging folders, aside folders, `.tmp-*`
files. A reader calls `pending_splits` and refuses a split whose swap is unfinished.
"""

import json
import os
from typing import Dict, List, Mapping, Optional, Sequence

from absl import logging
import tensorflow as tf

JOURNAL = '.swap-journal.json'
STAGING_PREFIX = '.staging-'
ASIDE_PREFIX = '.aside-'
TMP_PREFIX = '.tmp-'
PROBE_PREFIX = '.probe-'
_LEFTOVER_PREFIXES = (STAGING_PREFIX, ASIDE_PREFIX, TMP_PREFIX, PROBE_PREFIX)


def _move(src, dst):
  """Renames one file (replacing `dst`); the one place the swap moves files."""
  tf.io.gfile.rename(src, dst, overwrite=True)


def _write_text(path, text):
  """Writes a small text file atomically (a temporary file renamed into place)."""
  tmp = os.path.join(os.path.dirname(path),
                     TMP_PREFIX + os.path.basename(path))
  with tf.io.gfile.GFile(tmp, 'w') as f:
    f.write(text)
  _move(tmp, path)


def _read_journal(directory):
  path = os.path.join(directory, JOURNAL)
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    text = f.read()
  try:
    return json.loads(text)
  except ValueError as e:
    raise ValueError('%s: damaged swap journal (%s); delete the record '
                     'directory and rerun the converter.' % (path, e)) from e


def pending_splits(directory: str) -> Optional[List[str]]:
  """The splits of `directory` whose shard swap is unfinished, or None if none."""
  journal = _read_journal(directory)
  return None if journal is None else list(journal['splits'])


def replace_files(directory: str,
                  new_files: Mapping[str, str],
                  old_names: Sequence[str],
                  splits: Sequence[str],
                  texts: Optional[Dict[str, str]] = None) -> None:
  """Swaps new files in for old ones, crash-safe (see the module docstring).

  Args:
    directory: the record directory.
    new_files: path of a new file (inside `directory`, hidden) -> its final
      name in `directory`.
    old_names: names in `directory` of the files to replace (all shards of the
      splits; a new file may have the same name as an old one).
    splits: the split names concerned, for readers and messages.
    texts: file name in `directory` -> text, written once the shards are in.
  """
  aside = os.path.join(directory, ASIDE_PREFIX + 'swap')
  if tf.io.gfile.exists(aside):
    tf.io.gfile.rmtree(aside)
  tf.io.gfile.makedirs(aside)
  journal = {
      'splits': list(splits),
      'aside': os.path.basename(aside),
      'old': list(old_names),
      'new': [[os.path.relpath(src, directory), dst]
              for src, dst in new_files.items()],
      'texts': dict(texts or {}),
      'phase': 'aside',
  }
  _write_text(os.path.join(directory, JOURNAL), json.dumps(journal))
  _finish(directory, journal)


def _finish(directory, journal):
  """Runs the swap from wherever the journal says it stopped."""
  aside = os.path.join(directory, journal['aside'])
  if journal['phase'] == 'aside':
    for name in journal['old']:
      if tf.io.gfile.exists(os.path.join(directory, name)):
        _move(os.path.join(directory, name), os.path.join(aside, name))
    journal = dict(journal, phase='in')
    _write_text(os.path.join(directory, JOURNAL), json.dumps(journal))
  for src, dst in journal['new']:
    src_path, dst_path = (os.path.join(directory, src),
                          os.path.join(directory, dst))
    if tf.io.gfile.exists(src_path):
      _move(src_path, dst_path)
    elif not tf.io.gfile.exists(dst_path):
      raise ValueError(
          'Cannot finish the interrupted shard swap of %s in %s: %s is gone. '
          'Delete its shards and rerun the converter.' %
          (', '.join(journal['splits']), directory, src_path))
  for name, text in journal['texts'].items():
    _write_text(os.path.join(directory, name), text)
  tf.io.gfile.remove(os.path.join(directory, JOURNAL))
  if tf.io.gfile.exists(aside):
    tf.io.gfile.rmtree(aside)


def recover(directory: str) -> None:
  """Finishes an interrupted swap and removes a killed conversion's leftovers.

  Logs a line for each thing it does. Run before writing into `directory`.

  Args:
    directory: a record directory (nothing happens if it does not exist).
  """
  if not tf.io.gfile.isdir(directory):
    return
  journal = _read_journal(directory)
  if journal is not None:
    _finish(directory, journal)
    logging.info('Finished the shard swap of split(s) %s in %s that an '
                 'interrupted conversion had begun.',
                 ', '.join(journal['splits']), directory)
  leftovers = sorted(n.rstrip('/') for n in tf.io.gfile.listdir(directory)
                     if n.startswith(_LEFTOVER_PREFIXES))
  for name in leftovers:
    path = os.path.join(directory, name)
    if tf.io.gfile.isdir(path):
      tf.io.gfile.rmtree(path)
    else:
      tf.io.gfile.remove(path)
  if leftovers:
    logging.info('Removed what an interrupted conversion left in %s: %s',
                 directory, ', '.join(leftovers))
