r"""Converts a folder of images and index masks (your own data) to TFRecords.

Run from the repository root:

  python datasets/build_folder_data.py \
    --image_dir=my_data/images --mask_dir=my_data/masks \
    --output_dir=data/my_records --num_classes=3 \
    --class_names=background,cat,dog --dataset_name=pets --val_fraction=0.1

Expected result: shards `train-*` and `val-*` (val = 10% of the masked images,
drawn with --seed) and `dataset_info.json` naming the data set 'pets'.

Images (`.jpg`, `.jpeg`, `.png`) and masks (`.png`: palette or grey-level, pixel
value = class id, 255 = ignore) are paired by file stem. An image without a mask is
an error, unless --allow_unlabeled: then it goes into the training split as an
image-only record (no mask, no class labels).
"""

if __name__ == '__main__':
  # First, when run as a tool: keeps TensorFlow's start-up noise off the screen.
  from launch import quiet_start  # pylint: disable=g-import-not-at-top,unused-import

import functools
import os
import types

from typing import Dict, List, Optional, Sequence, Tuple

from absl import flags
from absl import logging

from datasets import convert_utils
from datasets import descriptors
from datasets import splits as splits_lib
from launch import app as launch_app

ConversionError = convert_utils.ConversionError

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png')
MASK_EXTENSIONS = ('.png',)
# Class ids 0 .. 254 fit a uint8 mask beside the ignore label 255.
MAX_NUM_CLASSES = 255


def _files_by_stem(directory, extensions, what):
  """Returns stem -> path for the files of `directory` with those extensions."""
  convert_utils.require_dir(directory, what)
  by_stem = {}
  for name in sorted(os.listdir(directory)):
    stem, ext = os.path.splitext(name)
    path = os.path.join(directory, name)
    if ext.lower() not in extensions or not os.path.isfile(path):
      continue
    if stem in by_stem:
      raise ConversionError('%s: %s and %s have the same stem %r.' %
                            (what, by_stem[stem], path, stem))
    by_stem[stem] = path
  return by_stem


def pair_files(image_dir: str, mask_dir: str
               ) -> Tuple[List[Tuple[str, str, str]], List[Tuple[str, str]]]:
  """Pairs images with masks by file stem.

  Args:
    image_dir: folder of images.
    mask_dir: folder of PNG masks.

  Returns:
    (pairs, unlabeled): sorted (stem, image path, mask path) tuples, and sorted
    (stem, image path) tuples of images that have no mask.
  """
  images = _files_by_stem(image_dir, IMAGE_EXTENSIONS, 'Image folder')
  masks = _files_by_stem(mask_dir, MASK_EXTENSIONS, 'Mask folder')
  orphans = sorted(set(masks) - set(images))
  if orphans:
    logging.warning('%d masks in %s have no image, skipped: %s', len(orphans),
                    mask_dir, ', '.join(orphans[:20]))
  pairs = [(s, images[s], masks[s]) for s in sorted(images) if s in masks]
  unlabeled = [(s, images[s]) for s in sorted(images) if s not in masks]
  return pairs, unlabeled


def make_descriptor(dataset_name: str, num_classes: int,
                    class_names: Optional[Sequence[str]] = None
                    ) -> descriptors.DatasetDescriptor:
  """Builds a descriptor; `class_names` may include 'background' or omit it."""
  if not 2 <= num_classes <= MAX_NUM_CLASSES:
    raise ConversionError('num_classes must be in [2, %d] (background + one '
                          'class, at most ids 0 .. 254 beside the ignore label '
                          '255), got %d.' % (MAX_NUM_CLASSES, num_classes))
  if not class_names:
    class_names = ['background'] + ['class_%d' % i
                                    for i in range(1, num_classes)]
  class_names = list(class_names)
  if len(class_names) == num_classes - 1:
    class_names = ['background'] + class_names
  if len(class_names) != num_classes:
    raise ConversionError('%d class names given for %d classes: %s' %
                          (len(class_names), num_classes, class_names))
  return descriptors.DatasetDescriptor(
      name=dataset_name, num_classes=num_classes,
      class_names=tuple(class_names), splits_to_sizes={})


def convert_folder(image_dir: str,
                   mask_dir: str,
                   output_dir: str,
                   descriptor: descriptors.DatasetDescriptor,
                   split_name: str = 'train',
                   val_split_name: str = 'val',
                   val_fraction: float = 0.1,
                   seed: int = 0,
                   num_shards: int = 4,
                   allow_unlabeled: bool = False) -> Dict[str, int]:
  """Converts paired images/masks into a training and a validation split.

  Args:
    image_dir: folder of images.
    mask_dir: folder of PNG masks, paired by stem.
    output_dir: where shards and `dataset_info.json` go.
    descriptor: classes of the data set (see `make_descriptor`).
    split_name: name of the training split.
    val_split_name: name of the validation split.
    val_fraction: share of masked images held out for validation (0: none).
    seed: seed of the hold-out draw.
    num_shards: shards per split (fewer for tiny splits).
    allow_unlabeled: write images without a mask as image-only training records
      instead of failing.

  Returns:
    split name -> number of records.

  Raises:
    ConversionError: missing or malformed input (nothing is written then).
  """
  convert_utils.require_output_dir(output_dir)
  pairs, unlabeled = pair_files(image_dir, mask_dir)
  if unlabeled and not allow_unlabeled:
    raise ConversionError(
        '%d images in %s have no mask in %s (pass --allow_unlabeled to keep '
        'them as image-only records): %s' %
        (len(unlabeled), image_dir, mask_dir,
         ', '.join(p for _, p in unlabeled[:20])))
  if not pairs:
    raise ConversionError('No image/mask pairs in %s and %s.' %
                          (image_dir, mask_dir))
  by_stem = {p[0]: p for p in pairs}
  val_stems, train_stems = [], sorted(by_stem)
  if val_fraction > 0:
    val_stems, train_stems = splits_lib.partition(
        sorted(by_stem), fraction=val_fraction, seed=seed)
    if not train_stems:
      raise ConversionError('val_fraction=%g leaves no training image.' %
                            val_fraction)
  items = {split_name: [by_stem[s] for s in train_stems] +
                       [(s, p, None) for s, p in unlabeled]}
  if val_stems:
    items[val_split_name] = [by_stem[s] for s in val_stems]

  def make_example(split, item):
    del split
    stem, image_path, mask_path = item
    mask = None
    if mask_path is not None:
      mask = convert_utils.load_index_mask(mask_path)
    return convert_utils.make_segmentation_example(
        stem, image_path, mask, descriptor.num_classes, mask_source=mask_path,
        ignore_label=descriptor.ignore_label)

  return convert_utils.write_splits(output_dir, items, make_example,
                                    num_shards, descriptor)


def _define_flags() -> types.SimpleNamespace:
  """Defines this script's flags (only when run as a script).

  Returns:
    The flag holders, by flag name.
  """
  args = types.SimpleNamespace(
      image_dir=flags.DEFINE_string('image_dir', None, 'Folder of images.'),
      mask_dir=flags.DEFINE_string('mask_dir', None, 'Folder of PNG masks.'),
      output_dir=flags.DEFINE_string('output_dir', None, 'Record directory.'),
      num_classes=flags.DEFINE_integer(
          'num_classes', None,
          'Number of classes including background (id 0), in [2, %d]: masks '
          'are 8-bit and 255 is the ignore label.' % MAX_NUM_CLASSES,
          lower_bound=2, upper_bound=MAX_NUM_CLASSES),
      class_names=flags.DEFINE_list(
          'class_names', None,
          'Optional class names, with or without background.'),
      dataset_name=flags.DEFINE_string(
          'dataset_name', 'custom', 'Name written into dataset_info.json.'),
      split_name=flags.DEFINE_string('split_name', 'train',
                                     'Name of the training split.'),
      val_fraction=flags.DEFINE_float(
          'val_fraction', 0.1, 'Share of images held out as split val.'),
      seed=flags.DEFINE_integer('seed', 0, 'Seed of the validation draw.'),
      num_shards=flags.DEFINE_integer('num_shards', 4, 'Shards per split.',
                                      lower_bound=1),
      allow_unlabeled=flags.DEFINE_bool(
          'allow_unlabeled', False,
          'Keep images without a mask as image-only training records.'))
  flags.mark_flags_as_required(['image_dir', 'mask_dir', 'output_dir',
                                'num_classes'])
  flags.register_validator('val_fraction', lambda v: 0.0 <= v < 1.0,
                           message='--val_fraction must be in [0, 1)')
  return args


def main(argv: Sequence[str], args: types.SimpleNamespace):
  """Converts the folder named by the flags.

  Args:
    argv: command line left after flag parsing (unused).
    args: the flag holders from `_define_flags()`.
  """
  del argv
  descriptor = make_descriptor(args.dataset_name.value, args.num_classes.value,
                               args.class_names.value)
  convert_folder(args.image_dir.value, args.mask_dir.value,
                 args.output_dir.value, descriptor,
                 split_name=args.split_name.value,
                 val_fraction=args.val_fraction.value, seed=args.seed.value,
                 num_shards=args.num_shards.value,
                 allow_unlabeled=args.allow_unlabeled.value)


if __name__ == '__main__':
  launch_app.run(functools.partial(main, args=_define_flags()))
