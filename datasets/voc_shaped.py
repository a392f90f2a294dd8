"""A stand-in for PASCAL VOC 2012 + SBD at VOC's shapes, for rehearsing the paper's
recipe where the real data cannot be downloaded (scripts/rehearse_voc.sh).

The images carry VOC's ids (the shipped lists', so that the recipes' labeled lists
find their images), VOC's size (500 x 375 by default) and its 21 classes; a scene is
a noisy background with a few ellipses of random classes, each in its class's VOC
colour. The content means nothing: what is rehearsed is the shapes, the ids, the
layout, and the time and memory of the real model on them.
"""

import os
from typing import Sequence

import numpy as np
from PIL import Image
import scipy.io

from datasets import descriptors
from datasets import file_io
from datasets import synthetic

NUM_CLASSES = 21
# Ids of the SBD-only and the val images: VOC's form, years no VOC id has.
SBD_ID_FORMAT = '2013_%06d'
VAL_ID_FORMAT = '2014_%06d'
_PALETTE = descriptors.voc_palette(256)


def draw_scene(rng, width, height, num_classes=NUM_CLASSES):
  """(image [height, width, 3] uint8, mask [height, width] uint8): 1-4
  ellipses of random foreground classes on a noisy background, 255 on the class
  boundaries as VOC has."""
  image = rng.integers(0, 256, size=(1, 1, 3)) + rng.normal(
      0, 20, size=(height, width, 3))
  mask = np.zeros((height, width), np.uint8)
  yy, xx = np.mgrid[0:height, 0:width]
  for _ in range(rng.integers(1, 5)):
    cls = int(rng.integers(1, num_classes))
    cy, cx = rng.uniform(0, height), rng.uniform(0, width)
    ry, rx = rng.uniform(0.1, 0.4) * height, rng.uniform(0.1, 0.4) * width
    inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
    mask[inside] = cls
    image[inside] = _PALETTE[cls] + rng.normal(0, 20, size=(int(inside.sum()), 3))
  image = np.clip(image, 0, 255).astype(np.uint8)
  return image, synthetic.ignore_boundaries(mask)


def write_voc_shaped(output_root, train_ids: Sequence[str],
                     val_ids: Sequence[str], num_sbd=0, width=500, height=375,
                     seed=0):
  """Writes VOC 2012's layout and, with `num_sbd`, SBD's.

  Creates OUTPUT_ROOT/VOCdevkit/VOC2012/{JPEGImages/ID.jpg,
  SegmentationClass/ID.png, ImageSets/Segmentation/{train,val}.txt} for
  `train_ids` and `val_ids`, and OUTPUT_ROOT/benchmark_RELEASE/dataset/
  {cls/ID.mat, train.txt, val.txt} for `num_sbd` more images (ids
  SBD_ID_FORMAT; their JPEGs in VOC's JPEGImages, as in VOC's own release).

  Returns:
    (voc_root, sbd_root or None).
  """
  voc_root = os.path.join(output_root, 'VOCdevkit', 'VOC2012')
  sbd_root = os.path.join(output_root, 'benchmark_RELEASE', 'dataset')
  dirs = [os.path.join(voc_root, d) for d in (
      'JPEGImages', 'SegmentationClass', os.path.join('ImageSets',
                                                      'Segmentation'))]
  if num_sbd:
    dirs.append(os.path.join(sbd_root, 'cls'))
  for d in dirs:
    os.makedirs(d, exist_ok=True)
  sbd_ids = [SBD_ID_FORMAT % i for i in range(num_sbd)]
  for index, image_id in enumerate(list(train_ids) + list(val_ids) + sbd_ids):
    rng = np.random.default_rng([int(seed), index])
    image, mask = draw_scene(rng, width, height)
    Image.fromarray(image).save(
        os.path.join(voc_root, 'JPEGImages', image_id + '.jpg'),
        quality=synthetic.JPEG_QUALITY)
    if index < len(train_ids) + len(val_ids):
      descriptors.write_palette_png(
          os.path.join(voc_root, 'SegmentationClass', image_id + '.png'), mask)
    else:
      scipy.io.savemat(os.path.join(sbd_root, 'cls', image_id + '.mat'),
                       {'GTcls': {'Segmentation': mask}})
  lists = {os.path.join(voc_root, 'ImageSets', 'Segmentation', 'train.txt'):
               train_ids,
           os.path.join(voc_root, 'ImageSets', 'Segmentation', 'val.txt'):
               val_ids}
  if num_sbd:
    half = num_sbd // 2
    lists[os.path.join(sbd_root, 'train.txt')] = sbd_ids[:num_sbd - half]
    lists[os.path.join(sbd_root, 'val.txt')] = sbd_ids[num_sbd - half:]
  for path, ids in lists.items():
    file_io.write_text_atomic(path, ''.join(i + '\n' for i in ids))
  return voc_root, (sbd_root if num_sbd else None)
