r"""Converts PASCAL VOC 2012 (optionally with SBD) to TFRecords.

Run from the repository root:

  python datasets/build_voc2012_data.py \
    --voc_root=data/VOCdevkit/VOC2012 \
    --sbd_root=data/benchmark_RELEASE/dataset \
    --output_dir=data/voc_records

Expected result: shards `train-*` (1464 records), `val-*` (1449) and, with SBD,
`train_aug-*` (10582), plus `dataset_info.json` with those sizes.

Inputs:
  VOC_ROOT/JPEGImages/ID.jpg
  VOC_ROOT/SegmentationClass/ID.png        palette (or grey-level) PNG of class ids
  VOC_ROOT/ImageSets/Segmentation/{train,val}.txt
  SBD_ROOT/cls/ID.mat                      GTcls.Segmentation: [H, W] class ids
  SBD_ROOT/{train,val}.txt

`train_aug` = VOC train + SBD train + SBD val, less every VOC val id. Its masks come
from VOC's PNGs where VOC has one, otherwise from SBD; images always from VOC.

The same tool converts any data set laid out like VOC (e.g. the embedded synthetic
set): if VOC_ROOT holds a `dataset_info.json`, its classes are used; otherwise the
registered data set `--dataset`.
"""

if __name__ == '__main__':
  # First, when run as a tool: keeps TensorFlow's start-up noise off the screen.
  from launch import quiet_start  # pylint: disable=g-import-not-at-top,unused-import

import functools
import os
import types

from typing import Dict, List, Optional, Sequence

from absl import flags
from absl import logging
import numpy as np
import scipy.io

from datasets import convert_utils
from datasets import descriptors
from datasets import splits as splits_lib
from launch import app as launch_app

ConversionError = convert_utils.ConversionError

VOC_SPLITS = ('train', 'val')
TRAIN_AUG = 'train_aug'


def _voc_list_path(voc_root, split):
  return os.path.join(voc_root, 'ImageSets', 'Segmentation', split + '.txt')


def _read_list(path, what):
  convert_utils.require_file(path, what)
  try:
    return splits_lib.read_id_list(path)
  except ValueError as e:
    raise ConversionError(str(e)) from e


def voc_image_path(voc_root, image_id):
  return os.path.join(voc_root, 'JPEGImages', image_id + '.jpg')


def voc_mask_path(voc_root, image_id):
  return os.path.join(voc_root, 'SegmentationClass', image_id + '.png')


def sbd_mask_path(sbd_root, image_id):
  return os.path.join(sbd_root, 'cls', image_id + '.mat')


def load_sbd_mask(path):
  """Reads an SBD `cls/ID.mat` file as a [height, width] uint8 class-id mask."""
  convert_utils.require_file(path, 'SBD mask')
  try:
    mat = scipy.io.loadmat(path)
    mask = np.asarray(mat['GTcls'][0]['Segmentation'][0])
  except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
    raise ConversionError(
        'Cannot read SBD mask %s (expected GTcls.Segmentation): %s' %
        (path, e)) from e
  if mask.ndim != 2:
    raise ConversionError('SBD mask %s has shape %s; expected [height, width].'
                          % (path, mask.shape))
  if mask.size and (mask.min() < 0 or mask.max() > 255):
    raise ConversionError('SBD mask %s has values outside [0, 255].' % path)
  return mask.astype(np.uint8)


def voc_split_ids(voc_root: str,
                  sbd_root: Optional[str] = None,
                  splits: Optional[Sequence[str]] = None) -> Dict[str, List[str]]:
  """Returns split name -> image ids.

  Args:
    voc_root: the VOC2012 folder.
    sbd_root: SBD's `benchmark_RELEASE/dataset` folder, or None.
    splits: which of 'train', 'val', 'train_aug' to return; default all that the
      inputs allow ('train_aug' only with SBD).

  Raises:
    ConversionError: a missing folder or list, or 'train_aug' without SBD.
  """
  convert_utils.require_dir(voc_root, 'VOC root')
  if sbd_root:
    convert_utils.require_dir(sbd_root, 'SBD root')
  available = VOC_SPLITS + ((TRAIN_AUG,) if sbd_root else ())
  if splits is None:
    splits = available
    if not sbd_root:
      logging.info('No --sbd_root: writing only %s (no %s).',
                   ', '.join(VOC_SPLITS), TRAIN_AUG)
  for split in splits:
    if split not in available:
      raise ConversionError(
          'Unknown or unavailable split %r; available: %s%s' %
          (split, available, '' if sbd_root else ' (train_aug needs SBD)'))
  voc = {}
  for split in VOC_SPLITS:
    if split in splits or TRAIN_AUG in splits:
      voc[split] = _read_list(_voc_list_path(voc_root, split),
                              'VOC %s list' % split)
  result = {}
  for split in splits:
    if split in VOC_SPLITS:
      result[split] = voc[split]
    else:
      sbd_ids = []
      for name in ('train', 'val'):
        sbd_ids += _read_list(os.path.join(sbd_root, name + '.txt'),
                              'SBD %s list' % name)
      val = set(voc['val'])
      result[split] = sorted((set(voc['train']) | set(sbd_ids)) - val)
  return result


def resolve_descriptor(voc_root: str,
                       dataset: str = 'pascal_voc_seg'
                       ) -> descriptors.DatasetDescriptor:
  """Returns VOC_ROOT/dataset_info.json if present, else the registered `dataset`."""
  convert_utils.require_dir(voc_root, 'VOC root')
  if os.path.exists(os.path.join(voc_root, descriptors.INFO_FILENAME)):
    logging.info('Using classes from %s.',
                 os.path.join(voc_root, descriptors.INFO_FILENAME))
  try:
    return descriptors.load_info(voc_root, default_name=dataset)
  except (ValueError, FileNotFoundError) as e:
    raise ConversionError(str(e)) from e


def convert_voc(voc_root: str,
                output_dir: str,
                sbd_root: Optional[str] = None,
                splits: Optional[Sequence[str]] = None,
                num_shards: int = 4,
                descriptor: Optional[descriptors.DatasetDescriptor] = None
                ) -> Dict[str, int]:
  """Converts VOC (+ SBD) to sharded records and `dataset_info.json`.

  Args:
    voc_root: the VOC2012 folder.
    output_dir: where shards and `dataset_info.json` go.
    sbd_root: SBD's dataset folder, or None.
    splits: subset of 'train', 'val', 'train_aug'; default all available.
    num_shards: shards per split (fewer for tiny splits).
    descriptor: classes and ignore label; default `resolve_descriptor(voc_root)`.

  Returns:
    split name -> number of records.

  Raises:
    ConversionError: missing or malformed input (nothing is written then).
  """
  convert_utils.require_output_dir(output_dir)
  if descriptor is None:
    descriptor = resolve_descriptor(voc_root)
  split_ids = voc_split_ids(voc_root, sbd_root, splits)

  def make_example(split, image_id):
    mask_path = voc_mask_path(voc_root, image_id)
    if os.path.isfile(mask_path):
      mask = convert_utils.load_index_mask(mask_path)
    elif split == TRAIN_AUG and os.path.isfile(sbd_mask_path(sbd_root,
                                                              image_id)):
      mask_path = sbd_mask_path(sbd_root, image_id)
      mask = load_sbd_mask(mask_path)
    else:
      raise ConversionError(
          'Id %r of split %s has no mask: %s not found%s.' %
          (image_id, split, mask_path,
           ' and neither is ' + sbd_mask_path(sbd_root, image_id)
           if split == TRAIN_AUG else ''))
    return convert_utils.make_segmentation_example(
        image_id, voc_image_path(voc_root, image_id), mask,
        descriptor.num_classes, mask_source=mask_path,
        ignore_label=descriptor.ignore_label)

  return convert_utils.write_splits(output_dir, split_ids, make_example,
                                    num_shards, descriptor)


def _define_flags() -> types.SimpleNamespace:
  """Defines this script's flags (only when run as a script).

  Returns:
    The flag holders, by flag name.
  """
  args = types.SimpleNamespace(
      voc_root=flags.DEFINE_string(
          'voc_root', None, 'VOCdevkit/VOC2012 folder (or the same layout).'),
      sbd_root=flags.DEFINE_string(
          'sbd_root', None, 'Optional SBD benchmark_RELEASE/dataset folder.'),
      output_dir=flags.DEFINE_string('output_dir', None, 'Record directory.'),
      num_shards=flags.DEFINE_integer('num_shards', 4, 'Shards per split.',
                                      lower_bound=1),
      splits=flags.DEFINE_string(
          'splits', '', 'Comma-separated subset of train,val,train_aug; '
          'default all available.'),
      dataset=flags.DEFINE_string(
          'dataset', 'pascal_voc_seg',
          'Registered data set name, used when VOC_ROOT has no '
          'dataset_info.json.'))
  flags.mark_flags_as_required(['voc_root', 'output_dir'])
  return args


def main(argv: Sequence[str], args: types.SimpleNamespace):
  """Converts the inputs named by the flags.

  Args:
    argv: command line left after flag parsing (unused).
    args: the flag holders from `_define_flags()`.
  """
  del argv
  convert_utils.require_output_dir(args.output_dir.value)
  descriptor = resolve_descriptor(args.voc_root.value, args.dataset.value)
  convert_voc(args.voc_root.value, args.output_dir.value,
              sbd_root=args.sbd_root.value,
              splits=convert_utils.split_names_arg(args.splits.value),
              num_shards=args.num_shards.value, descriptor=descriptor)


if __name__ == '__main__':
  launch_app.run(functools.partial(main, args=_define_flags()))
