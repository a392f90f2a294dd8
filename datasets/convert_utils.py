"""Shared checks and IO for the data set converters (`datasets/build_*.py`).

Every converter validates its inputs the same way and writes its splits through
`write_splits`, which stages all shards in a hidden folder of the output directory
and moves them into place only after every split was written. So a bad input file
raises `ConversionError` naming the file and leaves the output directory exactly as
it was: no new shards, no temporary files, old shards untouched. The move itself
is journaled (`shard_swap`): a conversion killed at any point leaves the old
splits or the new ones, and the next conversion into the directory finishes an
interrupted swap and removes the leftovers, saying so in the log.
"""

import io
import os
import shutil
import tempfile
from typing import Callable, Dict, Hashable, Mapping, Optional, Sequence, Tuple

from absl import logging
import numpy as np
from PIL import Image
from PIL import UnidentifiedImageError
import tensorflow as tf

from datasets import descriptors
from datasets import jpeg_check
from datasets import record_format
from datasets import shard_swap
from datasets import splits

# PIL modes whose pixel values are class ids (palette indices or grey levels).
_INDEX_MODES = ('P', 'L', '1', 'I', 'I;16', 'I;16B', 'I;16L')

# PIL modes that TF's decode_image(channels=3) reads exactly like PIL does, so the
# original JPEG bytes can go into the record unchanged.
_JPEG_REUSE_MODES = ('RGB', 'L')


class ConversionError(ValueError):
  """A converter input is missing or malformed; the message names the file."""


def require_dir(path, what):
  """Raises `ConversionError` unless `path` is an existing directory.

  Args:
    path: directory to check.
    what: what the directory is, for the message (e.g. 'VOC JPEGImages folder').
  """
  if not path or not os.path.isdir(path):
    raise ConversionError('%s not found: %s' % (what, path))


def require_file(path, what):
  """Raises `ConversionError` unless `path` is an existing file."""
  if not path or not os.path.isfile(path):
    raise ConversionError('%s not found: %s' % (what, path))


def require_output_dir(path, what='Output directory'):
  """Raises `ConversionError` unless records can be written to `path`.

  Run before any input is read, so that a typo in the output path costs no
  conversion time. Creates nothing that stays: the check creates a hidden probe
  (in `path`, or in its nearest existing parent when `path` does not exist yet)
  and removes it, since permission bits alone do not tell (root, read-only
  mounts).

  Args:
    path: the output directory (need not exist).
    what: what the directory is, for the message.
  """
  if not path:
    raise ConversionError('%s not given.' % what)
  existing = os.path.abspath(path)
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing):
    raise ConversionError('%s %s: %s is not a directory.' %
                          (what, path, existing))
  try:
    os.rmdir(tempfile.mkdtemp(prefix='.probe-', dir=existing))
  except OSError as e:
    raise ConversionError('%s %s: cannot write in %s (%s).' %
                          (what, path, existing, e.strerror or e)) from e


def encode_png(array):
  """Encodes a uint8 array as PNG bytes.

  Args:
    array: [height, width] (grey / class ids) or [height, width, 3] (RGB) uint8.

  Returns:
    PNG bytes.
  """
  buf = io.BytesIO()
  Image.fromarray(np.asarray(array, dtype=np.uint8)).save(buf, format='PNG')
  return buf.getvalue()


# PIL modes of 16-bit grey images ('I' is how older Pillows open 16-bit PNGs).
_WIDE_GREY_MODES = ('I;16', 'I;16B', 'I;16L', 'I;16N', 'I')


def _to_rgb(img, path):
  """[height, width, 3] uint8 pixels of an opened PIL image.

  16-bit grey keeps the high byte (value >> 8), as libpng's strip_16 and
  `tf.io.decode_png(dtype=tf.uint8)` read it, where PIL's `convert('RGB')` would
  clip every value above 255 to white. Alpha (modes LA, RGBA, PA and palette
  transparency) is dropped and the colours kept, as `tf.io.decode_png(channels=3)`
  reads the file; mode '1' becomes 0 / 255. 32-bit integers beyond [0, 65535]
  and floats ('F') have no agreed 8-bit reading and are refused.
  """
  if img.mode in _WIDE_GREY_MODES:
    values = np.asarray(img).astype(np.int64)
    if values.size and (values.min() < 0 or values.max() > 65535):
      raise ConversionError(
          'Image %s has PIL mode %s with values outside [0, 65535]; give an '
          '8- or 16-bit image.' % (path, img.mode))
    grey = (values >> 8).astype(np.uint8)
    return np.stack([grey] * 3, axis=-1)
  if img.mode == 'F':
    raise ConversionError('Image %s has PIL mode F (floating point): no agreed '
                          '8-bit reading; give an 8- or 16-bit image.' % path)
  if img.mode == 'P' and 'transparency' in img.info:
    img = img.convert('RGBA')  # Keeps the palette colours; PIL warns otherwise.
  return np.asarray(img.convert('RGB'))


def _verify_png(data):
  """Checks every chunk's CRC of a PNG (Pillow's `load` does not).

  A flipped byte in the compressed pixels can still inflate, to wrong pixels;
  the CRC catches it. Raises what Pillow raises (SyntaxError, OSError).
  """
  if data[:8] == b'\x89PNG\r\n\x1a\n':
    with Image.open(io.BytesIO(data)) as img:
      img.verify()


def load_image(path):
  """Reads and verifies an image file and picks the bytes to store.

  The original bytes are kept when the file is a JPEG that TF decodes the same way
  (RGB or grey); anything else (PNG, BMP, CMYK JPEG, ...) is re-encoded as RGB PNG.
  A JPEG on whose data libjpeg warns (garbage in the scan data, a premature end)
  is refused: Pillow would decode it to a damaged picture without a word (see
  `jpeg_check`).

  Args:
    path: image file.

  Returns:
    (encoded, image_format, rgb): encoded bytes, 'jpeg' or 'png', and the decoded
    [height, width, 3] uint8 pixels.

  Raises:
    ConversionError: the file is missing or cannot be decoded.
  """
  require_file(path, 'Image')
  with open(path, 'rb') as f:
    data = f.read()
  if jpeg_check.is_jpeg(data):
    damage = jpeg_check.problems(data)
    if damage:
      raise ConversionError('Cannot decode image %s: corrupt JPEG (%s)' %
                            (path, '; '.join(damage)))
  try:
    _verify_png(data)
    with Image.open(io.BytesIO(data)) as img:
      img.load()  # Decodes every pixel: truncated or corrupt files fail here.
      fmt, mode = img.format, img.mode
      rgb = _to_rgb(img, path)
  except UnidentifiedImageError as e:
    raise ConversionError('Cannot decode image %s: not an image file of a '
                          'format Pillow reads' % path) from e
  except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
    raise ConversionError('Cannot decode image %s: %s' % (path, e)) from e
  if fmt == 'JPEG' and mode in _JPEG_REUSE_MODES:
    return data, 'jpeg', rgb
  return encode_png(rgb), 'png', rgb


def load_index_mask(path):
  """Reads a PNG of class ids (palette or grey-level), as [height, width] uint8.

  Raises:
    ConversionError: missing, undecodable, a colour (RGB) mask, or values > 255.
  """
  require_file(path, 'Mask')
  try:
    with open(path, 'rb') as f:
      data = f.read()
    _verify_png(data)
    with Image.open(io.BytesIO(data)) as img:
      img.load()
      mode = img.mode
      if mode not in _INDEX_MODES:
        raise ConversionError(
            'Mask %s has PIL mode %r: colour masks are not supported; give a '
            'palette (mode P) or grey-level (mode L) PNG whose pixel values are '
            'class ids.' % (path, mode))
      mask = np.asarray(img)
  except ConversionError:
    raise
  except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
    raise ConversionError('Cannot decode mask %s: %s' % (path, e)) from e
  if mask.ndim != 2:
    raise ConversionError('Mask %s has shape %s; expected [height, width].' %
                          (path, mask.shape))
  if mask.dtype != np.uint8:
    if mask.size and (mask.min() < 0 or mask.max() > 255):
      raise ConversionError('Mask %s has values outside [0, 255].' % path)
    mask = mask.astype(np.uint8)
  return mask


def check_mask(mask, image_shape, num_classes, source,
               ignore_label=record_format.IGNORE_LABEL):
  """Checks that a mask fits its image and holds only valid class ids.

  Args:
    mask: [height, width] integer array.
    image_shape: (height, width, ...) of the image.
    num_classes: classes including background.
    source: file name for the message.
    ignore_label: the one id allowed at or above `num_classes`.

  Raises:
    ConversionError: size mismatch or out-of-range values.
  """
  if tuple(mask.shape[:2]) != tuple(image_shape[:2]):
    raise ConversionError(
        'Mask %s is %dx%d (height x width) but its image is %dx%d.' %
        (source, mask.shape[0], mask.shape[1], image_shape[0], image_shape[1]))
  values = np.unique(mask)
  bad = [int(v) for v in values if v >= num_classes and v != ignore_label]
  if bad:
    raise ConversionError(
        'Mask %s has label values %s outside [0, %d) that are not the ignore '
        'label %d.' % (source, bad, num_classes, ignore_label))


def make_segmentation_example(image_id, image_path, mask, num_classes,
                              mask_source=None,
                              ignore_label=record_format.IGNORE_LABEL):
  """Reads, checks and packs one image (and its mask) into a record.

  Args:
    image_id: id stored as `image/filename`.
    image_path: image file.
    mask: [height, width] uint8 class ids, or None for an image-only record
      (no mask key and no class-label key).
    num_classes: classes including background.
    mask_source: file the mask came from, for error messages.
    ignore_label: ignore id.

  Returns:
    A `tf.train.Example` in `record_format`'s layout.

  Raises:
    ConversionError: bad image or mask, or an id that an id list cannot hold
      (see `splits.id_problem`).
  """
  problem = splits.id_problem(image_id)
  if problem:
    raise ConversionError(
        'Image %s: its id %r cannot be written to an id list (%s); rename the '
        'file.' % (image_path, image_id, problem))
  encoded, image_format, rgb = load_image(image_path)
  height, width = rgb.shape[:2]
  label_data = class_labels = None
  if mask is not None:
    check_mask(mask, rgb.shape, num_classes, mask_source or image_id,
               ignore_label)
    label_data = encode_png(mask)
    class_labels = record_format.class_labels_from_mask(mask, num_classes,
                                                        ignore_label)
  return record_format.make_example(
      encoded, image_id, height, width, label_data=label_data,
      image_format=image_format, class_labels=class_labels)


def _merge_sizes(output_dir, descriptor, sizes):
  """Keeps sizes of splits converted earlier into the same directory."""
  merged = {}
  try:
    old = descriptors.load_info(output_dir)
  except (FileNotFoundError, ValueError):
    old = None
  if (old is not None and old.num_classes == descriptor.num_classes and
      old.class_names == descriptor.class_names):
    for split, size in old.splits_to_sizes.items():
      if tf.io.gfile.glob(record_format.split_file_pattern(output_dir, split)):
        merged[split] = size
  merged.update(sizes)
  return merged


def write_splits(output_dir: str,
                 split_items: Mapping[str, Sequence[Hashable]],
                 make_example: Callable[[str, object], tf.train.Example],
                 num_shards: int,
                 descriptor: descriptors.DatasetDescriptor,
                 log_every: int = 500) -> Dict[str, int]:
  """Writes several splits all-or-nothing, then `dataset_info.json`.

  Each split gets `min(num_shards, len(items))` shards. What an interrupted
  conversion left in `output_dir` is first cleaned up (`shard_swap.recover`).
  Shards are then written to a hidden staging folder inside `output_dir`; only
  when every split is complete do they replace the old shards of the same splits,
  together with `dataset_info.json`, in one crash-safe swap. Splits of an earlier
  conversion that are not rewritten keep their shards and their size in
  `dataset_info.json` (when the class list is unchanged).

  Args:
    output_dir: record directory (created if needed).
    split_items: split name -> items (ids, file tuples, ...), in writing order.
    make_example: (split, item) -> `tf.train.Example`; raises on bad input.
    num_shards: shards per split (upper bound).
    descriptor: the data set; its split sizes are replaced by the actual ones.
    log_every: log progress every this many records.

  Returns:
    split name -> number of records written.

  Raises:
    ConversionError: an empty split, or whatever `make_example` raises.
  """
  if num_shards < 1:
    raise ConversionError('num_shards must be >= 1, got %d' % num_shards)
  for split, items in split_items.items():
    if not items:
      raise ConversionError('Split %r is empty: nothing to write to %s.' %
                            (split, output_dir))
  created_dir = not os.path.isdir(output_dir)
  os.makedirs(output_dir, exist_ok=True)
  shard_swap.recover(output_dir)
  staging = tempfile.mkdtemp(prefix=shard_swap.STAGING_PREFIX, dir=output_dir)
  sizes = {}
  try:
    for split, items in split_items.items():
      shards = min(num_shards, len(items))
      logging.info('Writing split %s: %d records in %d shards.', split,
                   len(items), shards)
      with record_format.ShardedWriter(staging, split, shards) as writer:
        for i, item in enumerate(items):
          try:
            example = make_example(split, item)
          except ConversionError as e:
            raise ConversionError('%s [split %s, item %d of %d]' %
                                  (e, split, i + 1, len(items))) from e
          writer.write(example)
          if log_every and (i + 1) % log_every == 0:
            logging.info('  %s: %d / %d', split, i + 1, len(items))
      sizes[split] = writer.count
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    if created_dir and not os.listdir(output_dir):
      os.rmdir(output_dir)
    raise
  info = descriptor.with_split_sizes(_merge_sizes(output_dir, descriptor, sizes))
  new_files, old_names = {}, []
  for split in sizes:
    old_names += [os.path.basename(p) for p in tf.io.gfile.glob(
        record_format.split_file_pattern(output_dir, split))]
    for new in tf.io.gfile.glob(record_format.split_file_pattern(staging,
                                                                 split)):
      new_files[new] = os.path.basename(new)
  try:
    shard_swap.replace_files(output_dir, new_files, old_names, list(sizes),
                             texts={descriptors.INFO_FILENAME: info.to_json()})
  except BaseException:
    if shard_swap.pending_splits(output_dir) is None:
      shutil.rmtree(staging, ignore_errors=True)
    raise  # Else the journal needs the staged shards: the next run finishes.
  shutil.rmtree(staging, ignore_errors=True)
  logging.info('Wrote %s to %s.', sizes, output_dir)
  return sizes


def check_unique_ids(ids, source):
  """Raises `ConversionError` if an id occurs twice in `ids`."""
  seen = set()
  for i in ids:
    if i in seen:
      raise ConversionError('Id %r occurs twice in %s.' % (i, source))
    seen.add(i)


def split_names_arg(value: Optional[str]) -> Optional[Tuple[str, ...]]:
  """Parses a comma-separated `--splits` value; None or '' means all."""
  if not value:
    return None
  return tuple(s.strip() for s in value.split(',') if s.strip())
