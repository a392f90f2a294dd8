"""Data set descriptors: classes, ignore label, split sizes, palette.

Shared by the converters (which write records and `dataset_info.json`) and the input
pipeline, training and evaluation (which read them). A converted directory carries its
own `dataset_info.json`, so a user's own data set needs no code change.
"""

import dataclasses
import json
import os
from typing import Dict, Optional, Tuple

import numpy as np
from PIL import Image

from datasets import file_io

INFO_FILENAME = 'dataset_info.json'

VOC_CLASSES = (
    'background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car',
    'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person',
    'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor')

COCO_THING_CLASSES = (
    'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck',
    'boat', 'traffic light', 'fire hydrant', 'stop sign', 'parking meter', 'bench',
    'bird', 'cat', 'dog', 'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra',
    'giraffe', 'backpack', 'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee',
    'skis', 'snowboard', 'sports ball', 'kite', 'baseball bat', 'baseball glove',
    'skateboard', 'surfboard', 'tennis racket', 'bottle', 'wine glass', 'cup',
    'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple', 'sandwich', 'orange',
    'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch',
    'potted plant', 'bed', 'dining table', 'toilet', 'tv', 'laptop', 'mouse',
    'remote', 'keyboard', 'cell phone', 'microwave', 'oven', 'toaster', 'sink',
    'refrigerator', 'book', 'clock', 'vase', 'scissors', 'teddy bear',
    'hair drier', 'toothbrush')


def voc_palette(num_colors=256):
  """Returns the PASCAL VOC colour map, [num_colors, 3] uint8 (bit-interleaved)."""
  palette = np.zeros((num_colors, 3), dtype=np.uint8)
  for i in range(num_colors):
    c, r, g, b = i, 0, 0, 0
    for j in range(8):
      r |= ((c >> 0) & 1) << (7 - j)
      g |= ((c >> 1) & 1) << (7 - j)
      b |= ((c >> 2) & 1) << (7 - j)
      c >>= 3
    palette[i] = (r, g, b)
  return palette


def write_palette_png(path, class_ids, palette=None):
  """Writes [H, W] class ids as a palette PNG (PIL mode 'P'), as VOC's masks are.

  Args:
    path: the PNG to write.
    class_ids: [H, W] integers in [0, 255].
    palette: [N, 3] uint8 colours of ids 0..N-1 (default: VOC's 256).
  """
  image = Image.fromarray(np.asarray(class_ids, np.uint8), mode='P')
  image.putpalette(np.asarray(
      voc_palette(256) if palette is None else palette, np.uint8).reshape(
          -1).tolist())
  image.save(path, format='PNG')


@dataclasses.dataclass(frozen=True)
class DatasetDescriptor:
  """What readers and writers must agree on about one data set."""
  name: str
  num_classes: int  # Including background (class 0).
  class_names: Tuple[str, ...]
  splits_to_sizes: Dict[str, int]
  ignore_label: int = 255
  # Optional [r, g, b] (0-255) of each class, in class order, for pictures
  # ("colors" in dataset_info.json); the VOC colour map otherwise.
  colors: Tuple[Tuple[int, int, int], ...] = ()

  def __post_init__(self):
    if len(self.class_names) != self.num_classes:
      raise ValueError('%s: %d class names for %d classes' %
                       (self.name, len(self.class_names), self.num_classes))
    if self.colors and (
        len(self.colors) != self.num_classes or
        any(len(c) != 3 or not all(0 <= v <= 255 for v in c)
            for c in self.colors)):
      raise ValueError('%s: colors must be one [r, g, b] (0-255) per class, '
                       '%d of them' % (self.name, self.num_classes))

  @property
  def palette(self):
    """[256, 3] uint8 colours for visualising masks; index 255 = ignore."""
    palette = voc_palette(256)
    if self.colors:
      palette[:len(self.colors)] = np.asarray(self.colors, np.uint8)
    return palette

  def to_json(self):
    d = dataclasses.asdict(self)
    if not d['colors']:
      del d['colors']  # The files of data sets without colours stay as they were.
    return json.dumps(d, indent=2, sort_keys=True)

  @classmethod
  def from_json(cls, text):
    d = json.loads(text)
    d['class_names'] = tuple(d['class_names'])
    if 'colors' in d:
      d['colors'] = tuple(tuple(c) for c in d['colors'])
    return cls(**d)

  def with_split_sizes(self, splits_to_sizes):
    return dataclasses.replace(self, splits_to_sizes=dict(splits_to_sizes))


_REGISTRY = {
    'pascal_voc_seg': DatasetDescriptor(
        name='pascal_voc_seg', num_classes=21, class_names=VOC_CLASSES,
        splits_to_sizes={'train_aug': 10582, 'train': 1464, 'val': 1449}),
    'coco': DatasetDescriptor(
        name='coco', num_classes=81,
        class_names=('background',) + COCO_THING_CLASSES,
        splits_to_sizes={'train': 118287, 'val': 5000}),
}


def register(descriptor):
  """Adds a descriptor to the registry (e.g. the embedded synthetic set)."""
  _REGISTRY[descriptor.name] = descriptor


def registered_names():
  return sorted(_REGISTRY)


def get_descriptor(name):
  """Returns a registered descriptor by name."""
  if name not in _REGISTRY:
    raise ValueError('Unknown data set %r; known: %s' % (name, registered_names()))
  return _REGISTRY[name]


def write_info(output_dir, descriptor):
  """Writes `dataset_info.json` next to the shards (atomically)."""
  file_io.write_text_atomic(os.path.join(output_dir, INFO_FILENAME),
                            descriptor.to_json())


def load_info(record_dir, default_name: Optional[str] = None):
  """Reads `dataset_info.json` from a record directory, else the registry entry."""
  path = os.path.join(record_dir, INFO_FILENAME)
  if os.path.exists(path):
    with open(path) as f:
      try:
        return DatasetDescriptor.from_json(f.read())
      except (ValueError, TypeError, KeyError) as e:
        raise ValueError('%s: not a valid data set description (%s)' % (path, e))
  if not os.path.isdir(record_dir):
    raise FileNotFoundError('Record directory not found: %s' % record_dir)
  if default_name is None or default_name not in registered_names():
    raise FileNotFoundError(
        '%s not found; convert the data with one of the datasets/build_*.py tools '
        'or pass a registered data set name (%s).' % (path, registered_names()))
  return get_descriptor(default_name)
