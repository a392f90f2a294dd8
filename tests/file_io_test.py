"""Tests for datasets/file_io.py."""

import os
import tempfile

import pytest

from datasets import file_io


def test_writes_and_replaces_whole_files():
  directory = tempfile.mkdtemp()
  path = os.path.join(directory, 'sub', 'a.txt')  # Directory created.
  file_io.write_text_atomic(path, 'first\n')
  with open(path) as f:
    assert f.read() == 'first\n'
  file_io.write_text_atomic(path, 'second\n')
  with open(path) as f:
    assert f.read() == 'second\n'
  assert os.listdir(os.path.dirname(path)) == ['a.txt']


def test_permissions_follow_the_umask():
  directory = tempfile.mkdtemp()
  path = os.path.join(directory, 'a.txt')
  old = os.umask(0o022)
  try:
    file_io.write_text_atomic(path, 'x')
    assert os.stat(path).st_mode & 0o777 == 0o644
    os.umask(0o077)
    file_io.write_text_atomic(path, 'y')
    assert os.stat(path).st_mode & 0o777 == 0o600
  finally:
    os.umask(old)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary():
  directory = tempfile.mkdtemp()
  path = os.path.join(directory, 'a.txt')
  file_io.write_text_atomic(path, 'kept\n')
  with pytest.raises(TypeError):
    file_io.write_text_atomic(path, 123)  # Not text: fails mid-write.
  with open(path) as f:
    assert f.read() == 'kept\n'
  assert os.listdir(directory) == ['a.txt']
