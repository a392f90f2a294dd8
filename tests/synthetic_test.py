"""Tests for the embedded synthetic data set (datasets/synthetic.py)."""

import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image
import tensorflow as tf

from datasets import descriptors
from datasets import synthetic

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read_lines(path):
  with open(path) as f:
    return f.read().splitlines()


def _tree_bytes(root):
  """{relative path: bytes} of every file under `root`."""
  out = {}
  for dirpath, _, filenames in os.walk(root):
    for name in filenames:
      path = os.path.join(dirpath, name)
      with open(path, 'rb') as f:
        out[os.path.relpath(path, root)] = f.read()
  return out


def _label_counts(texture_set='target', num_scenes=60):
  """Pixel count of every label value over scenes 0..num_scenes-1 (64 px, seed 0)."""
  counts = np.zeros(256, np.int64)
  for i in range(num_scenes):
    _, label = synthetic.generate_scene(synthetic.scene_rng(0, 'train', i), 64,
                                        texture_set=texture_set)
    counts += np.bincount(label.ravel(), minlength=256)
  return counts


def _run_script(out, *flags):
  """Runs datasets/make_synthetic_voc.py (2 train, 1 val, 48 px); returns VOC2012/."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  subprocess.run(
      [sys.executable, os.path.join('datasets', 'make_synthetic_voc.py'),
       '--output_root=' + out, '--num_train=2', '--num_val=1',
       '--image_size=48'] + list(flags),
      cwd=_REPO_ROOT, env=env, check=True, capture_output=True)
  return os.path.join(out, 'VOCdevkit', 'VOC2012')


class SyntheticSceneTest(tf.test.TestCase):

  def test_scene_shapes_and_values(self):
    image, label = synthetic.generate_scene(np.random.default_rng(3), 96)
    self.assertEqual(image.shape, (96, 96, 3))
    self.assertEqual(image.dtype, np.uint8)
    self.assertEqual(label.shape, (96, 96))
    self.assertEqual(label.dtype, np.uint8)
    values = set(np.unique(label).tolist())
    self.assertTrue(values <= set(range(synthetic.NUM_CLASSES)) | {255})

  def test_same_seed_same_scene(self):
    a = synthetic.generate_scene(synthetic.scene_rng(7, 'train', 5))
    b = synthetic.generate_scene(synthetic.scene_rng(7, 'train', 5))
    c = synthetic.generate_scene(synthetic.scene_rng(8, 'train', 5))
    self.assertAllEqual(a[0], b[0])
    self.assertAllEqual(a[1], b[1])
    self.assertNotAllEqual(a[0], c[0])

  def test_every_class_appears(self):
    counts = _label_counts()
    for c in range(synthetic.NUM_CLASSES):
      self.assertGreater(counts[c], 0, synthetic.CLASS_NAMES[c])
    self.assertGreater(counts[255], 0)  # Boundaries are ignored.
    # Background dominates, as in VOC, but objects are no rarity.
    self.assertBetween(counts[0] / counts.sum(), 0.5, 0.95)

  def _worst_class_hue_share(self, cues):
    """Over 40 scenes, the lowest share of a class's saturated pixels near its hue."""
    worst = np.ones(synthetic.NUM_CLASSES)
    for i in range(40):
      image, label = synthetic.generate_scene(synthetic.scene_rng(7, 'train', i),
                                              cues=cues)
      hsv = tf.image.rgb_to_hsv(image.astype(np.float32) / 255.0).numpy()
      for c in range(1, synthetic.NUM_CLASSES):
        pixels = (label == c) & (hsv[..., 1] > 0.3)
        if pixels.sum() < 20:
          continue
        hue_error = np.abs((hsv[..., 0][pixels] - synthetic._CLASS_HUES[c - 1] +
                            0.5) % 1.0 - 0.5)
        worst[c] = min(worst[c], np.mean(hue_error < 0.1))
    return worst[1:].min()

  def test_class_cues(self):
    # With the hue on every object, no class's pixels lack it in any scene; in the
    # benchmark (hue on 60% of the objects) some scene's objects of a class lack it.
    self.assertGreater(
        self._worst_class_hue_share(synthetic.ClassCues(1.0, 0.04, 1.0)), 0.15)
    self.assertEqual(self._worst_class_hue_share(synthetic.DEFAULT_CUES), 0.0)
    for bad in (dict(hue_prob=1.5), dict(shape_prob=-0.1), dict(hue_spread=0.6)):
      with self.assertRaisesRegex(ValueError, list(bad)[0]):
        synthetic.ClassCues(**bad)

  def test_ignore_boundaries(self):
    label = np.zeros((6, 6), np.uint8)
    label[2:4, 2:4] = 3
    out = synthetic.ignore_boundaries(label)
    expected = np.zeros((6, 6), np.uint8)
    expected[1:5, 2:4] = 255
    expected[2:4, 1:5] = 255
    self.assertAllEqual(out, expected)
    self.assertAllEqual(synthetic.ignore_boundaries(np.ones((4, 4), np.uint8)),
                        np.ones((4, 4), np.uint8))

  def test_descriptor_registered(self):
    d = descriptors.get_descriptor('synthetic')
    self.assertEqual(d.num_classes, synthetic.NUM_CLASSES)
    self.assertEqual(d.class_names[0], 'background')
    self.assertEqual(d.ignore_label, 255)
    source = descriptors.get_descriptor('synthetic_source')
    self.assertEqual(source.class_names, synthetic.SOURCE_CLASS_NAMES)
    # The pretraining set shares no class with the benchmark.
    self.assertEqual(set(source.class_names) & set(d.class_names),
                     {'background'})

  def test_source_texture_set(self):
    rng = lambda i: synthetic.scene_rng(0, 'train', i)  # pylint: disable=g-long-lambda
    default = synthetic.generate_scene(rng(1), 64)
    target = synthetic.generate_scene(rng(1), 64, texture_set='target')
    source = synthetic.generate_scene(rng(1), 64, texture_set='source')
    self.assertAllEqual(default[0], target[0])
    self.assertNotAllEqual(source[0], target[0])
    counts = _label_counts('source')
    for c, name in enumerate(synthetic.SOURCE_CLASS_NAMES):
      self.assertGreater(counts[c], 0, name)
    self.assertEqual(counts[len(synthetic.SOURCE_CLASS_NAMES):255].sum(), 0)
    with self.assertRaisesRegex(ValueError, 'texture_set.*imagenet'):
      synthetic.generate_scene(rng(0), 64, texture_set='imagenet')

  def test_target_scenes_unchanged(self):
    # The benchmark's scenes of seed 1234 as the generator drew them before the
    # broad set existed: label pixel counts and mean colour of three images.
    # A change of the random draws changes every figure; the tolerance absorbs
    # only floating-point differences between machines.
    expected = {
        ('train', 0): ({0: 11615, 2: 3257, 6: 1141, 255: 371},
                       (141.08, 127.21, 108.44)),
        ('train', 1): ({0: 15862, 5: 420, 255: 102}, (67.84, 137.51, 128.1)),
        ('val', 0): ({0: 9899, 1: 2455, 3: 3527, 255: 503},
                     (102.51, 88.68, 93.76)),
    }
    for (split, i), (counts, colour) in expected.items():
      image, label = synthetic.generate_scene(
          synthetic.scene_rng(1234, split, i), 128)
      found = np.bincount(label.ravel(), minlength=256)
      self.assertEqual(set(np.flatnonzero(found)), set(counts), (split, i))
      for value, count in counts.items():
        self.assertAllClose(found[value], count, atol=10, msg=(split, i, value))
      self.assertAllClose(image.reshape(-1, 3).mean(0), colour, atol=0.1)


class BroadTextureSetTest(tf.test.TestCase):

  def test_a_superset_of_the_target_and_source_classes(self):
    names = synthetic.BROAD_CLASS_NAMES
    self.assertGreaterEqual(len(names) - 1, 30)
    self.assertLen(set(names), len(names))
    self.assertEqual(names[0], 'background')
    # The target's classes first, in their order, then the source's.
    self.assertEqual(names[:synthetic.NUM_CLASSES], synthetic.CLASS_NAMES)
    self.assertContainsSubset(synthetic.SOURCE_CLASS_NAMES, names)
    broad = descriptors.get_descriptor('synthetic_broad')
    self.assertEqual(broad.class_names, names)
    self.assertEqual(broad.num_classes, len(names))

  def test_textures_in_range_and_distinct(self):
    yy, xx = np.mgrid[0:40, 0:40].astype(np.float32) - 20
    patterns = []
    for name in synthetic.BROAD_CLASS_NAMES[1:]:
      pattern = synthetic._class_texture(np.random.default_rng(5), name, xx, yy,
                                         1.0)
      self.assertEqual(pattern.shape, (40, 40))
      self.assertGreaterEqual(float(pattern.min()), 0.0, name)
      self.assertLessEqual(float(pattern.max()), 1.0, name)
      self.assertGreater(float(pattern.std()), 0.05, name)  # Not a flat fill.
      patterns.append(pattern.ravel())
    # No two textures draw the same pattern from the same generator.
    patterns = np.array(patterns)
    distance = np.abs(patterns[:, None] - patterns[None]).mean(-1)
    np.fill_diagonal(distance, 1.0)
    self.assertGreater(distance.min(), 0.05)

  def test_every_class_appears_and_no_other(self):
    counts = _label_counts('broad', num_scenes=120)
    names = synthetic.BROAD_CLASS_NAMES
    for c, name in enumerate(names):
      self.assertGreater(counts[c], 0, name)
    self.assertEqual(counts[len(names):255].sum(), 0)

  def test_varies_more_than_the_target(self):
    # Object sizes: the broad set's spread of foreground share per image is
    # wider (radii 10-56 px vs 14-48) and its images' mean colours spread more
    # (colour cast, stronger backgrounds).
    def stats(texture_set):
      shares, colours = [], []
      for i in range(60):
        image, label = synthetic.generate_scene(
            synthetic.scene_rng(11, 'train', i), 64, texture_set=texture_set)
        shares.append(np.mean((label > 0) & (label < 255)))
        colours.append(image.reshape(-1, 3).mean(0))
      return np.std(shares), np.std(np.array(colours) -
                                    np.mean(colours, axis=1, keepdims=True))
    broad, target = stats('broad'), stats('target')
    self.assertGreater(broad[0], target[0])
    self.assertGreater(broad[1], target[1])


class VocLayoutTest(tf.test.TestCase):

  def _generate(self, name, seed=0):
    root = os.path.join(self.get_temp_dir(), name)
    voc_root, descriptor = synthetic.generate_voc_layout(
        root, num_train=6, num_val=3, image_size=64, seed=seed)
    return root, voc_root, descriptor

  def test_layout(self):
    _, voc_root, descriptor = self._generate('layout')
    self.assertEqual(voc_root.split(os.sep)[-2:], ['VOCdevkit', 'VOC2012'])
    list_dir = os.path.join(voc_root, 'ImageSets', 'Segmentation')
    train = _read_lines(os.path.join(list_dir, 'train.txt'))
    val = _read_lines(os.path.join(list_dir, 'val.txt'))
    trainval = _read_lines(os.path.join(list_dir, 'trainval.txt'))
    self.assertLen(train, 6)
    self.assertLen(val, 3)
    self.assertEqual(trainval, train + val)
    self.assertEmpty(set(train) & set(val))
    self.assertEqual(
        sorted(os.listdir(os.path.join(voc_root, 'JPEGImages'))),
        sorted(i + '.jpg' for i in trainval))
    self.assertEqual(
        sorted(os.listdir(os.path.join(voc_root, 'SegmentationClass'))),
        sorted(i + '.png' for i in trainval))
    palette = descriptors.voc_palette(256).reshape(-1).tolist()
    for image_id in trainval:
      image = Image.open(os.path.join(voc_root, 'JPEGImages', image_id + '.jpg'))
      label = Image.open(
          os.path.join(voc_root, 'SegmentationClass', image_id + '.png'))
      self.assertEqual(image.format, 'JPEG')
      self.assertEqual(image.mode, 'RGB')
      self.assertEqual(label.format, 'PNG')
      self.assertEqual(label.mode, 'P')
      self.assertEqual(label.getpalette()[:len(palette)], palette)
      self.assertEqual(image.size, (64, 64))
      self.assertEqual(label.size, image.size)
      values = set(np.unique(np.asarray(label)).tolist())
      self.assertTrue(values <= set(range(descriptor.num_classes)) | {255})
    self.assertEqual(descriptor.splits_to_sizes,
                     {'train': 6, 'val': 3, 'trainval': 9})
    with open(os.path.join(voc_root, synthetic.GENERATOR_FILENAME)) as f:
      self.assertEqual(json.load(f), {
          'seed': 0, 'image_size': 64, 'num_train': 6, 'num_val': 3,
          'texture_set': 'target',
          'cues': {'hue_prob': 0.6, 'hue_spread': 0.08, 'shape_prob': 0.6}})

  def test_info_loads(self):
    _, voc_root, descriptor = self._generate('info')
    loaded = descriptors.load_info(voc_root)
    self.assertEqual(loaded, descriptor)
    self.assertEqual(loaded.name, 'synthetic')
    self.assertEqual(loaded.class_names, synthetic.CLASS_NAMES)

  def test_deterministic_bytes(self):
    root_a, _, _ = self._generate('a', seed=4)
    root_b, _, _ = self._generate('b', seed=4)
    root_c, _, _ = self._generate('c', seed=5)
    bytes_a = _tree_bytes(root_a)
    self.assertEqual(bytes_a, _tree_bytes(root_b))
    bytes_c = _tree_bytes(root_c)
    self.assertEqual(set(bytes_a), set(bytes_c))
    self.assertNotEqual(bytes_a, bytes_c)

  def test_images_independent_of_split_sizes(self):
    root = os.path.join(self.get_temp_dir(), 'bigger')
    voc_bigger, _ = synthetic.generate_voc_layout(
        root, num_train=8, num_val=4, image_size=64, seed=0)
    _, voc_root, _ = self._generate('smaller', seed=0)
    for name in ('JPEGImages/train_000005.jpg', 'JPEGImages/val_000002.jpg',
                 'SegmentationClass/train_000005.png'):
      with open(os.path.join(voc_root, name), 'rb') as f:
        small = f.read()
      with open(os.path.join(voc_bigger, name), 'rb') as f:
        self.assertEqual(f.read(), small)

  def test_script(self):
    voc_root = _run_script(os.path.join(self.get_temp_dir(), 'script'),
                           '--seed=1')
    self.assertEqual(descriptors.load_info(voc_root).splits_to_sizes,
                     {'train': 2, 'val': 1, 'trainval': 3})
    self.assertEqual(descriptors.load_info(voc_root).name, 'synthetic')

  def test_script_class_cues(self):
    default = _tree_bytes(_run_script(os.path.join(self.get_temp_dir(), 'a')))
    cues = _tree_bytes(_run_script(
        os.path.join(self.get_temp_dir(), 'b'), '--class_hue_prob=1',
        '--class_hue_spread=0.04', '--class_shape_prob=1'))
    self.assertEqual(sorted(default), sorted(cues))
    self.assertNotEqual(default, cues)
    self.assertEqual(json.loads(cues[synthetic.GENERATOR_FILENAME])['cues'],
                     {'hue_prob': 1.0, 'hue_spread': 0.04, 'shape_prob': 1.0})
    with self.assertRaisesRegex(subprocess.CalledProcessError, 'exit status') as e:
      _run_script(os.path.join(self.get_temp_dir(), 'c'), '--class_hue_prob=2')
    self.assertIn(b'hue_prob must be in [0, 1]', e.exception.stderr)

  def test_script_source_set(self):
    info = descriptors.load_info(_run_script(
        os.path.join(self.get_temp_dir(), 'source'), '--texture_set=source'))
    self.assertEqual(info.name, 'synthetic_source')
    self.assertEqual(info.class_names, synthetic.SOURCE_CLASS_NAMES)

  def test_script_broad_set(self):
    voc_root = _run_script(os.path.join(self.get_temp_dir(), 'broad'),
                           '--texture_set=broad')
    info = descriptors.load_info(voc_root)
    self.assertEqual(info.name, 'synthetic_broad')
    self.assertEqual(info.class_names, synthetic.BROAD_CLASS_NAMES)
    with open(os.path.join(voc_root, synthetic.GENERATOR_FILENAME)) as f:
      self.assertEqual(json.load(f)['texture_set'], 'broad')


if __name__ == '__main__':
  tf.test.main()
