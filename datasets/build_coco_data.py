r"""Converts COCO 2017 instance annotations to semantic-segmentation TFRecords.

Run from the repository root:

  python datasets/build_coco_data.py \
    --coco_root=data/coco --output_dir=data/coco_records

Expected result: shards `train-*` (118287 records) and `val-*` (5000), plus
`dataset_info.json` (81 classes: background + the 80 thing classes).

Inputs:
  COCO_ROOT/annotations/instances_{train,val}2017.json
  COCO_ROOT/{train,val}2017/*.jpg

The semantic mask is built from the instance masks:
  * background (no instance) is 0; each thing category gets its index in the
    descriptor's class list (COCO's 80 category ids 1..90 with gaps become 1..80,
    matched by category name);
  * where instances overlap, the smaller one wins: instances are painted from the
    largest pixel area to the smallest, so a cup on a table stays a cup;
  * crowd regions (`iscrowd=1`) become the ignore label 255, except where a
    non-crowd instance covers them (the precise outline is kept);
  * images without any annotation are kept, all background (COCO labels every
    thing instance, so that is their true label).

The json must hold 'images', 'annotations' and 'categories' lists (a file without
'annotations' is refused, not read as all background), and every entry the keys
the converter reads; a missing one is named with the file and the entry's id.
"""

if __name__ == '__main__':
  # First, when run as a tool: keeps TensorFlow's start-up noise off the screen.
  from launch import quiet_start  # pylint: disable=g-import-not-at-top,unused-import

import os

import contextlib
import functools
import io
import json
import types
from typing import Dict, Optional, Sequence

from absl import flags
from absl import logging
import numpy as np

from datasets import convert_utils
from datasets import descriptors
from datasets import record_format
from launch import app as launch_app

ConversionError = convert_utils.ConversionError

COCO_SPLITS = ('train', 'val')


def annotation_path(coco_root, split):
  return os.path.join(coco_root, 'annotations', 'instances_%s2017.json' % split)


def image_dir(coco_root, split):
  return os.path.join(coco_root, '%s2017' % split)


# Keys the converter reads, by section of the json; an entry lacking one is named.
_REQUIRED_KEYS = {
    'images': ('id', 'file_name', 'height', 'width'),
    'annotations': ('id', 'image_id', 'category_id'),
    'categories': ('id', 'name'),
}


def check_coco_json(data, source):
  """Raises `ConversionError` unless `data` has every key the converter reads.

  Args:
    data: the parsed instances json.
    source: its file name, for the message.
  """
  if not isinstance(data, dict):
    raise ConversionError('%s: expected a json object with %s, got %s.' %
                          (source, ', '.join(_REQUIRED_KEYS),
                           type(data).__name__))
  for section, keys in _REQUIRED_KEYS.items():
    if section not in data:
      raise ConversionError("%s has no '%s' key (a COCO instances file has "
                            "'images', 'annotations' and 'categories'; an "
                            "image without objects has no annotation)." %
                            (source, section))
    entries = data[section]
    if not isinstance(entries, list):
      raise ConversionError("%s: '%s' is a %s, not a list." %
                            (source, section, type(entries).__name__))
    what = section[:-1]
    for n, entry in enumerate(entries, start=1):
      where = "entry %d of '%s'" % (n, section)
      if not isinstance(entry, dict):
        raise ConversionError('%s: %s is not an object.' % (source, where))
      if 'id' in entry:
        where = '%s %s (%s)' % (what, entry['id'], where)
      for key in keys:
        if key not in entry:
          raise ConversionError("%s: %s has no '%s'." % (source, where, key))


def load_coco(path):
  """Loads and checks an instances json, indexed by pycocotools.

  pycocotools' progress prints go to the log.
  """
  from pycocotools import coco as coco_lib
  convert_utils.require_file(path, 'COCO annotation file')
  try:
    with open(path, encoding='utf-8') as f:
      data = json.load(f)
  except (ValueError, UnicodeError) as e:
    raise ConversionError('Cannot read COCO annotations %s: %s' %
                          (path, e)) from e
  check_coco_json(data, path)
  out = io.StringIO()
  try:
    with contextlib.redirect_stdout(out):
      api = coco_lib.COCO()
      api.dataset = data
      api.createIndex()
  except (ValueError, KeyError, TypeError, AssertionError) as e:
    raise ConversionError('Cannot read COCO annotations %s: %s' %
                          (path, e)) from e
  logging.info('%s', out.getvalue().strip())
  return api


def category_to_class_id(categories, class_names, source):
  """Maps COCO category ids to our class ids by category name.

  Args:
    categories: the json's 'categories' list of {'id', 'name'} dicts.
    class_names: the descriptor's class names, background first.
    source: annotation file name for messages.

  Returns:
    dict COCO category id -> class id in [1, len(class_names)).
  """
  index = {name: i for i, name in enumerate(class_names) if i > 0}
  mapping = {}
  for cat in categories:
    if cat['name'] not in index:
      raise ConversionError('%s: category %r (id %d) is not a class of the '
                            'data set.' % (source, cat['name'], cat['id']))
    mapping[cat['id']] = index[cat['name']]
  return mapping


def semantic_mask(api, image_info, cat_map, source,
                  ignore_label=record_format.IGNORE_LABEL):
  """Paints one image's instances into a [height, width] uint8 class-id mask.

  Args:
    api: a `pycocotools.coco.COCO`.
    image_info: the image's entry in the json.
    cat_map: COCO category id -> class id.
    source: annotation file name for messages.
    ignore_label: value for crowd regions.

  Returns:
    [height, width] uint8 mask (see the module docstring for the rules).
  """
  height, width = image_info['height'], image_info['width']
  mask = np.zeros((height, width), np.uint8)
  anns = api.loadAnns(api.getAnnIds(imgIds=[image_info['id']], iscrowd=None))
  things = []
  for ann in anns:
    if ann['category_id'] not in cat_map:
      raise ConversionError('%s: annotation %s has unknown category id %s.' %
                            (source, ann.get('id'), ann['category_id']))
    try:
      m = api.annToMask(ann).astype(bool)
    except Exception as e:  # pylint: disable=broad-except
      raise ConversionError('%s: cannot rasterise annotation %s of image %s: %s'
                            % (source, ann.get('id'), image_info['file_name'],
                               e)) from e
    if ann.get('iscrowd', 0):
      mask[m] = ignore_label
    else:
      things.append((int(m.sum()), ann.get('id', 0), m,
                     cat_map[ann['category_id']]))
  # Largest first, so smaller instances are painted last and win overlaps.
  for _, _, m, class_id in sorted(things, key=lambda t: (-t[0], t[1])):
    mask[m] = class_id
  return mask


def convert_coco(coco_root: str,
                 output_dir: str,
                 splits: Optional[Sequence[str]] = None,
                 num_shards: int = 4,
                 max_images: Optional[int] = None,
                 descriptor: Optional[descriptors.DatasetDescriptor] = None
                 ) -> Dict[str, int]:
  """Converts COCO instance annotations to sharded semantic records.

  Args:
    coco_root: folder with `annotations/` and `{train,val}2017/`.
    output_dir: where shards and `dataset_info.json` go.
    splits: subset of 'train', 'val'; default both.
    num_shards: shards per split (fewer for tiny splits).
    max_images: if set, only the first this many images (by id) of each split.
    descriptor: default the registered 'coco' descriptor.

  Returns:
    split name -> number of records.

  Raises:
    ConversionError: missing or malformed input (nothing is written then).
  """
  convert_utils.require_output_dir(output_dir)
  descriptor = descriptor or descriptors.get_descriptor('coco')
  convert_utils.require_dir(coco_root, 'COCO root')
  splits = tuple(splits or COCO_SPLITS)
  for split in splits:
    if split not in COCO_SPLITS:
      raise ConversionError('Unknown COCO split %r; known: %s' %
                            (split, COCO_SPLITS))
  apis, cat_maps, items = {}, {}, {}
  for split in splits:
    source = annotation_path(coco_root, split)
    convert_utils.require_dir(image_dir(coco_root, split),
                              'COCO %s image folder' % split)
    apis[split] = load_coco(source)
    cat_maps[split] = category_to_class_id(
        apis[split].dataset['categories'], descriptor.class_names,
        source)
    ids = sorted(apis[split].getImgIds())
    if not ids:
      raise ConversionError("%s lists no image ('images' is empty)." % source)
    if max_images is not None:
      ids = ids[:max_images]
    items[split] = ids

  def make_example(split, image_id):
    api, source = apis[split], annotation_path(coco_root, split)
    info = api.loadImgs([image_id])[0]
    path = os.path.join(image_dir(coco_root, split), info['file_name'])
    mask = semantic_mask(api, info, cat_maps[split], source,
                         descriptor.ignore_label)
    return convert_utils.make_segmentation_example(
        os.path.splitext(info['file_name'])[0], path, mask,
        descriptor.num_classes,
        mask_source='%s (annotations of %s)' % (source, path),
        ignore_label=descriptor.ignore_label)

  return convert_utils.write_splits(output_dir, items, make_example,
                                    num_shards, descriptor)


def _define_flags() -> types.SimpleNamespace:
  """Defines this script's flags (only when run as a script).

  Returns:
    The flag holders, by flag name.
  """
  args = types.SimpleNamespace(
      coco_root=flags.DEFINE_string(
          'coco_root', None, 'Folder with annotations/ and {train,val}2017/.'),
      output_dir=flags.DEFINE_string('output_dir', None, 'Record directory.'),
      num_shards=flags.DEFINE_integer('num_shards', 4, 'Shards per split.',
                                      lower_bound=1),
      splits=flags.DEFINE_string('splits', '',
                                 'Comma-separated subset of train,val.'),
      max_images=flags.DEFINE_integer(
          'max_images', None,
          'Convert only this many images per split (testing).',
          lower_bound=1))
  flags.mark_flags_as_required(['coco_root', 'output_dir'])
  return args


def main(argv: Sequence[str], args: types.SimpleNamespace):
  """Converts the inputs named by the flags.

  Args:
    argv: command line left after flag parsing (unused).
    args: the flag holders from `_define_flags()`.
  """
  del argv
  convert_coco(args.coco_root.value, args.output_dir.value,
               splits=convert_utils.split_names_arg(args.splits.value),
               num_shards=args.num_shards.value,
               max_images=args.max_images.value)


if __name__ == '__main__':
  launch_app.run(functools.partial(main, args=_define_flags()))
