"""Property tests: damaged inputs end in correct records or in a named error.

Hypothesis feeds the folder converter (in-process) damaged images (truncations,
byte flips, garbage runs) and masks (wrong size, wrong mode, out-of-range values,
damaged bytes); feeds the id-list reader and writer random bytes and ids (spaces,
duplicates, line breaks); and feeds `splits.ids_from_records` truncated shards.
Every case ends either in success with the right data (read back and compared) or
in a ConversionError / ValueError / FileNotFoundError whose one-line message
names the damaged file, and the output directory holds no partial shard and no
temporary file. Derandomized, so that every run tries the same cases.
"""

import io
import os
import shutil
import tempfile

from hypothesis import given
from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis import strategies as st
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from datasets import build_folder_data as folder
from datasets import convert_utils
from datasets import record_format
from datasets import splits
from tests.testing_utils import read_split
from tests.testing_utils import snapshot_dir

H, W = 24, 32
NUM_CLASSES = 4
_ERRORS = (ValueError, FileNotFoundError)  # ConversionError is a ValueError.


def _settings(n):
  return settings(max_examples=n, deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))


def _encoded(array, fmt):
  buf = io.BytesIO()
  Image.fromarray(array).save(buf, format=fmt, quality=90)
  return buf.getvalue()


_RNG = np.random.RandomState(0)
_PIXELS = {stem: _RNG.randint(0, 256, (H, W, 3)).astype(np.uint8)
           for stem in ('jpg_im', 'png_im', 'other')}
_MASKS = {stem: _RNG.randint(0, NUM_CLASSES, (H, W)).astype(np.uint8)
          for stem in _PIXELS}
_FILES = {'jpg_im': _encoded(_PIXELS['jpg_im'], 'JPEG'),
          'png_im': _encoded(_PIXELS['png_im'], 'PNG'),
          'other': _encoded(_PIXELS['other'], 'PNG')}
_EXT = {'jpg_im': '.jpg', 'png_im': '.png', 'other': '.png'}


@st.composite
def _damage(draw, data):
  """(kind, damaged bytes) for one file's bytes."""
  kind = draw(st.sampled_from(['truncate', 'flip', 'garbage', 'insert']))
  n = len(data)
  if kind == 'truncate':
    return kind, data[:draw(st.integers(0, n - 1))]
  offset = draw(st.integers(0, n - 1))
  if kind == 'flip':
    bit = draw(st.integers(1, 255))
    return kind, data[:offset] + bytes([data[offset] ^ bit]) + data[offset + 1:]
  garbage = draw(st.binary(min_size=100, max_size=400))
  offset = draw(st.integers(n // 4, 3 * n // 4))
  rest = data[offset + len(garbage):] if kind == 'garbage' else data[offset:]
  return kind, data[:offset] + garbage + rest


def _mask_variants():
  stem = st.sampled_from(sorted(_MASKS))
  wrong_size = stem.map(lambda s: ('size', s, _encoded(
      np.zeros((H, W + 1), np.uint8), 'PNG')))
  rgb = stem.map(lambda s: ('mode', s, _encoded(
      np.stack([_MASKS[s]] * 3, -1), 'PNG')))

  def out_of_range(args):
    s, value, y, x = args
    mask = _MASKS[s].copy()
    mask[y, x] = value
    return 'range', s, _encoded(mask, 'PNG')

  values = st.tuples(stem, st.integers(NUM_CLASSES, 254), st.integers(0, H - 1),
                     st.integers(0, W - 1)).map(out_of_range)
  damaged = stem.flatmap(lambda s: _damage(_encoded(_MASKS[s], 'PNG')).map(
      lambda kd: ('bytes:' + kd[0], s, kd[1])))
  return st.one_of(wrong_size, rgb, values, damaged)


class Folder(object):
  """A fresh folder of three images and masks, and an output dir with records."""

  def __init__(self):
    self.root = tempfile.mkdtemp()
    self.images = os.path.join(self.root, 'images')
    self.masks = os.path.join(self.root, 'masks')
    self.out = os.path.join(self.root, 'records')
    os.makedirs(self.images)
    os.makedirs(self.masks)
    for stem, data in _FILES.items():
      self.write_image(stem, data)
      self.write_mask(stem, _encoded(_MASKS[stem], 'PNG'))
    self.descriptor = folder.make_descriptor('fuzz', NUM_CLASSES)
    self.convert()
    self.before = snapshot_dir(self.out)

  def image_path(self, stem):
    return os.path.join(self.images, stem + _EXT[stem])

  def mask_path(self, stem):
    return os.path.join(self.masks, stem + '.png')

  def write_image(self, stem, data):
    with open(self.image_path(stem), 'wb') as f:
      f.write(data)

  def write_mask(self, stem, data):
    with open(self.mask_path(stem), 'wb') as f:
      f.write(data)

  def convert(self):
    return folder.convert_folder(self.images, self.masks, self.out,
                                 self.descriptor, val_fraction=0.0,
                                 num_shards=2)

  def close(self):
    shutil.rmtree(self.root, ignore_errors=True)


def _check_refusal(error, path, fx):
  message = str(error)
  assert '\n' not in message, message
  assert path in message, message
  assert snapshot_dir(fx.out) == fx.before  # No partial shard, no temp file.


def _check_records(fx, image_bytes=None):
  """The records hold the original pixels and masks (or the given JPEG bytes)."""
  assert not [n for n in os.listdir(fx.out) if n.startswith('.')]
  records = read_split(fx.out, 'train')
  assert sorted(records) == sorted(_MASKS)
  for stem, rec in records.items():
    np.testing.assert_array_equal(rec['label'], _MASKS[stem])
    if stem == 'jpg_im':
      assert rec['image_bytes'] == (image_bytes or _FILES[stem])
    else:
      np.testing.assert_array_equal(rec['image'], _PIXELS[stem])


@_settings(120)
@given(stem=st.sampled_from(['jpg_im', 'png_im']), damage=st.data())
def test_damaged_images(stem, damage):
  kind, data = damage.draw(_damage(_FILES[stem]))
  fx = Folder()
  try:
    fx.write_image(stem, data)
    try:
      fx.convert()
    except _ERRORS as e:
      _check_refusal(e, fx.image_path(stem), fx)
      return
    # Accepted: only a byte flip in a JPEG may pass unseen (it changes one
    # coefficient or a header field no decoder checks); the record then holds
    # exactly the given bytes. A damaged PNG must decode to the same pixels.
    assert stem == 'png_im' or kind == 'flip', kind
    _check_records(fx, image_bytes=data if stem == 'jpg_im' else None)
  finally:
    fx.close()


@_settings(60)
@given(variant=_mask_variants())
def test_damaged_masks(variant):
  kind, stem, data = variant
  fx = Folder()
  try:
    fx.write_mask(stem, data)
    try:
      fx.convert()
    except _ERRORS as e:
      _check_refusal(e, fx.mask_path(stem), fx)
      return
    assert kind.startswith('bytes:'), kind  # Size, mode, range: always refused.
    _check_records(fx)
  finally:
    fx.close()


_ID_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=('Cs',)), min_size=0,
    max_size=12)


@_settings(80)
@given(ids=st.lists(st.one_of(_ID_TEXT, st.sampled_from(
    ['a b', 'a b', ' x', 'x.jpg', 'img/x.jpg m/x.png', '#c', 'a\nb'])),
                    min_size=1, max_size=6))
def test_id_lists_round_trip_or_are_refused(ids):
  directory = tempfile.mkdtemp()
  try:
    path = os.path.join(directory, 'ids.txt')
    try:
      splits.write_id_list(path, ids)
    except ValueError as e:
      assert path in str(e) and '\n' not in str(e)
      assert not os.listdir(directory)
      assert any(splits.id_problem(i) for i in ids)
      return
    assert not any(splits.id_problem(i) for i in ids)
    try:
      read = splits.read_id_list(path)
    except ValueError as e:  # Duplicates (named with their lines).
      assert path in str(e) and 'already on line' in str(e)
      assert len(set(ids)) < len(ids)
      return
    assert read == ids
  finally:
    shutil.rmtree(directory)


@_settings(60)
@given(data=st.binary(max_size=200))
def test_id_list_bytes_read_or_are_named(data):
  directory = tempfile.mkdtemp()
  try:
    path = os.path.join(directory, 'ids.txt')
    with open(path, 'wb') as f:
      f.write(data)
    try:
      ids = splits.read_id_list(path)
    except ValueError as e:
      assert path in str(e) and '\n' not in str(e), str(e)
      return
    assert ids and len(set(ids)) == len(ids)
    # Lines as a text-mode file splits them (universal newlines).
    text = data.decode('utf-8-sig').replace('\r\n', '\n').replace('\r', '\n')
    assert ids == [i for i in map(splits.parse_id_line, text.split('\n'))
                   if i is not None]
  finally:
    shutil.rmtree(directory)


def _shard(directory, names):
  with record_format.ShardedWriter(directory, 'train', 1) as writer:
    for name in names:
      writer.write(record_format.make_example(b'x', name, 1, 1, label_data=b'y'))
  path = record_format.list_shards(directory, 'train')[0]
  ends, total = [], 0
  for name in names:  # A TFRecord is 8 + 4 + len + 4 bytes.
    total += 16 + len(record_format.make_example(
        b'x', name, 1, 1, label_data=b'y').SerializeToString())
    ends.append(total)
  return path, ends


@_settings(40)
@given(count=st.integers(1, 5), cut=st.floats(0.0, 0.999))
def test_truncated_shards_are_named(count, cut):
  directory = tempfile.mkdtemp()
  try:
    names = ['r%d' % i for i in range(count)]
    path, ends = _shard(directory, names)
    with open(path, 'rb') as f:
      data = f.read()
    assert len(data) == ends[-1]
    keep = int(cut * len(data))
    with open(path, 'wb') as f:
      f.write(data[:keep])
    try:
      ids = splits.ids_from_records(directory, 'train')
    except _ERRORS as e:
      assert path in str(e) and '\n' not in str(e), str(e)
      assert keep not in [0] + ends
      return
    # Cut exactly between records: a shorter, undamaged file.
    assert keep in [0] + ends
    assert ids == names[:([0] + ends).index(keep)]
  finally:
    shutil.rmtree(directory)


if __name__ == '__main__':
  pytest.main([__file__])
