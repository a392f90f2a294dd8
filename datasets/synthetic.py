"""The embedded data set: procedural scenes written in the PASCAL VOC layout.

A small from-scratch network on a CPU learns colour and texture fast and outline shape
slowly, so each foreground class is identified mainly by a texture family that survives
PseudoSeg's strong colour jitter (hue +-0.25, saturation/contrast [0.5, 1.5], brightness
+-0.5); its outline family and its colours are weaker cues:

  class        texture (in the object's own rotated frame)       preferred outline
  stripes      square-wave stripes, period 5-10 px               ellipse
  dots         jittered lattice of round dots, pitch 6-11 px     rounded square
  checker      checkerboard, cell 3-6 px                         diamond
  rings        concentric rings about an off-centre point        circle
  crosshatch   thin lines in two directions, pitch 6-11 px       triangle
  grain        1-2 px random speckle                             star

(pixel sizes at image_size 128; they scale with the image). Colours come from
overlapping palettes: each class prefers a hue but draws a random one 40% of the time,
and distractor blobs, whose textures are no class's (flat or graded fills, camouflage
blotches, wide soft waves), and the background (gradients, low-frequency noise,
sometimes a faint wave or blotch texture) use any colour. Every instance jitters its
texture's scale, phase, orientation, duty cycle and contrast, so twenty labeled images
do not cover a class's appearance. Scenes hold 1-4 objects of varied size (some small),
rotated, occluding each other and occluded by distractors.

`ClassCues` sets how often an object takes its class's hue (and how close to it) and
its class's outline; the default is the benchmark (0.6, +-0.08, 0.6). Other values
make the variants of the calibration study (docs/experiments.md "Recalibrating the
generator, tried"; make_synthetic_voc.py --class_hue_prob, --class_hue_spread,
--class_shape_prob): with hue and outline on every object a from-scratch network
learns the classes in a few hundred steps, but the hue then decides the class, and
PseudoSeg's hue jitter moves it to a neighbour's.

Labels follow VOC: class ids, background 0, and IGNORE_LABEL on a band of about two
pixels along every boundary between different classes.

Generation is deterministic given a seed: image `i` of a split depends only on
(seed, split, i), not on the sizes of the splits.

A second texture set, 'source', draws the same kind of scenes (backgrounds, outlines,
distractors, colours) with six *other* texture families: zigzag, bricks, spiral, plus
signs, fish scales and basket weave. It is the embedded stand-in for ImageNet: a
backbone pretrained on it (scripts/pretrain_source.sh) has seen textured objects, but
none of the target classes, their textures or the target images.

A third, 'broad' (datasets/broad_textures.py), relates to the benchmark as ImageNet to
VOC: a superset. Its 30 classes are the target's six, the source's six and eighteen
distractor textures of other geometry, in scenes of the same kind that vary more:
each object's texture scale varies by a further factor of 0.75-1.35, objects are
10-56 px in radius (14-48 in the others), the background carries a faint texture
more often (60% vs 35%) and more strongly, and each image has a colour cast (a
per-channel gain of +-15%). Drawn with its own seed, it shares no image with the
benchmark; it pretrains a backbone by image-level classification
(pretrain_classifier.py, scripts/build_broad_backbone.sh). The target and source
sets draw exactly as they did before it existed.
"""

import colorsys
import dataclasses
import json
import os
from typing import Tuple

import numpy as np
from PIL import Image

from datasets import broad_textures
from datasets import descriptors
from datasets import patterns
from datasets import file_io

NAME = 'synthetic'
CLASS_NAMES = ('background', 'stripes', 'dots', 'checker', 'rings',
               'crosshatch', 'grain')
NUM_CLASSES = len(CLASS_NAMES)
SOURCE_NAME = 'synthetic_source'
SOURCE_CLASS_NAMES = ('background', 'zigzag', 'bricks', 'spiral', 'plus',
                      'scales', 'weave')
IGNORE_LABEL = 255
DEFAULT_IMAGE_SIZE = 128
MIN_IMAGE_SIZE = 32  # Smaller scenes leave no room for their objects.
DEFAULT_NUM_TRAIN = 1000
DEFAULT_NUM_VAL = 200
JPEG_QUALITY = 90
GENERATOR_FILENAME = 'generator.json'

# Hue each foreground class prefers (index = class id - 1), per texture set.
_CLASS_HUES = (0.0, 0.15, 0.33, 0.5, 0.62, 0.8)
_SOURCE_CLASS_HUES = (0.07, 0.24, 0.42, 0.56, 0.7, 0.9)
_SHAPES = ('ellipse', 'roundsquare', 'diamond', 'circle', 'triangle', 'star', 'blob')
_CLASS_SHAPES = ('ellipse', 'roundsquare', 'diamond', 'circle', 'triangle', 'star')
_SOURCE_CLASS_SHAPES = ('star', 'triangle', 'circle', 'diamond', 'ellipse',
                        'roundsquare')
BROAD_NAME = 'synthetic_broad'
# The target's classes first (same order), then the source's, then the distractors.
BROAD_CLASS_NAMES = (('background',) + CLASS_NAMES[1:] + SOURCE_CLASS_NAMES[1:] +
                     broad_textures.NAMES)
# The target and source classes keep their hues and outlines; the distractors'
# hues are spread by the golden ratio.
_BROAD_CLASS_HUES = _CLASS_HUES + _SOURCE_CLASS_HUES + tuple(
    round((0.13 + 0.618034 * i) % 1.0, 3)
    for i in range(len(broad_textures.NAMES)))
_BROAD_CLASS_SHAPES = _CLASS_SHAPES + _SOURCE_CLASS_SHAPES + tuple(
    _CLASS_SHAPES[i % len(_CLASS_SHAPES)]
    for i in range(len(broad_textures.NAMES)))
_DISTRACTOR_TEXTURES = ('flat', 'blotch', 'wave')
_SPLIT_CODES = {'train': 0, 'val': 1}


@dataclasses.dataclass(frozen=True)
class ClassCues:
  """How strongly a foreground class's hue and outline give it away.

  Attributes:
    hue_prob: probability that an object takes its class's hue (else any hue).
    hue_spread: half-width of the hue range around the class's hue.
    shape_prob: probability that an object takes its class's outline.
  """
  hue_prob: float = 0.6
  hue_spread: float = 0.08
  shape_prob: float = 0.6

  def __post_init__(self):
    for name in ('hue_prob', 'shape_prob'):
      if not 0.0 <= getattr(self, name) <= 1.0:
        raise ValueError('%s must be in [0, 1], got %r' %
                         (name, getattr(self, name)))
    if not 0.0 <= self.hue_spread <= 0.5:
      raise ValueError('hue_spread must be in [0, 0.5], got %r' % self.hue_spread)


# The embedded benchmark's cues (README "The embedded benchmark").
DEFAULT_CUES = ClassCues()

DESCRIPTOR = descriptors.DatasetDescriptor(
    name=NAME, num_classes=NUM_CLASSES, class_names=CLASS_NAMES,
    splits_to_sizes={'train': DEFAULT_NUM_TRAIN, 'val': DEFAULT_NUM_VAL,
                     'trainval': DEFAULT_NUM_TRAIN + DEFAULT_NUM_VAL})
descriptors.register(DESCRIPTOR)
SOURCE_DESCRIPTOR = descriptors.DatasetDescriptor(
    name=SOURCE_NAME, num_classes=len(SOURCE_CLASS_NAMES),
    class_names=SOURCE_CLASS_NAMES,
    splits_to_sizes=dict(DESCRIPTOR.splits_to_sizes))
descriptors.register(SOURCE_DESCRIPTOR)
BROAD_DESCRIPTOR = descriptors.DatasetDescriptor(
    name=BROAD_NAME, num_classes=len(BROAD_CLASS_NAMES),
    class_names=BROAD_CLASS_NAMES,
    splits_to_sizes=dict(DESCRIPTOR.splits_to_sizes))
descriptors.register(BROAD_DESCRIPTOR)


@dataclasses.dataclass(frozen=True)
class _TextureSet:
  """A texture set's classes and how widely its scenes vary.

  Attributes:
    descriptor: its classes.
    hues: the hue each foreground class prefers (index = class id - 1).
    shapes: the outline each foreground class prefers.
    texture_scale: (low, high) of a log-uniform factor on each object's texture
      scale; (1, 1) draws none.
    radius: (low, high) of an object's log-uniform radius, px at 128.
    background_texture_prob: probability of a faint background texture.
    background_texture_strength: (low, high) of its strength.
    colour_cast: half-width of a per-channel gain of the whole image; 0 draws
      none.
  """
  descriptor: descriptors.DatasetDescriptor
  hues: Tuple[float, ...]
  shapes: Tuple[str, ...]
  texture_scale: Tuple[float, float] = (1.0, 1.0)
  radius: Tuple[float, float] = (14.0, 48.0)
  background_texture_prob: float = 0.35
  background_texture_strength: Tuple[float, float] = (0.05, 0.2)
  colour_cast: float = 0.0


TEXTURE_SETS = {
    'target': _TextureSet(DESCRIPTOR, _CLASS_HUES, _CLASS_SHAPES),
    'source': _TextureSet(SOURCE_DESCRIPTOR, _SOURCE_CLASS_HUES,
                          _SOURCE_CLASS_SHAPES),
    'broad': _TextureSet(BROAD_DESCRIPTOR, _BROAD_CLASS_HUES,
                         _BROAD_CLASS_SHAPES, texture_scale=(0.75, 1.35),
                         radius=(10.0, 56.0), background_texture_prob=0.6,
                         background_texture_strength=(0.05, 0.3),
                         colour_cast=0.15),
}


def _texture_set(name):
  if name not in TEXTURE_SETS:
    raise ValueError('texture_set must be one of %s, got %r' %
                     (sorted(TEXTURE_SETS), name))
  return TEXTURE_SETS[name]


def _hsv(h, s, v):
  return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), np.float32)


def _color_pair(rng, hue):
  """Returns two RGB colours in [0, 1] of one hue family with a random contrast."""
  s = rng.uniform(0.35, 1.0)
  contrast = rng.uniform(0.35, 0.8)
  v_low = rng.uniform(0.1, 1.0 - contrast)
  v_high = v_low + contrast
  if rng.random() < 0.5:  # Second colour of another hue now and then.
    hue_b = hue + rng.uniform(-0.5, 0.5)
  else:
    hue_b = hue + rng.uniform(-0.05, 0.05)
  a = _hsv(hue, s, v_high)
  b = _hsv(hue_b, rng.uniform(0.2, 1.0), v_low)
  if rng.random() < 0.5:
    a, b = b, a
  return a, b


# Shared with datasets/broad_textures.py.
_lowfreq_noise = patterns.lowfreq_noise
_square_wave = patterns.square_wave


def _class_texture(rng, name, u, v, scale):
  """Texture of a foreground class in [0, 1] on object-frame coordinates (px).

  Args:
    rng: np.random.Generator.
    name: a foreground class name of any texture set.
    u: [h, w] float32 coordinates along the texture's first axis, in pixels.
    v: [h, w] float32 coordinates along its second axis.
    scale: image_size / 128.

  Returns:
    [h, w] float32 pattern in [0, 1].
  """
  sharp = rng.uniform(2.0, 6.0)
  if name == 'stripes':
    period = rng.uniform(5.0, 10.0) * scale
    return _square_wave(u / period + rng.random(), sharp)
  if name == 'dots':
    pitch = rng.uniform(6.0, 11.0) * scale
    radius = rng.uniform(0.22, 0.36) * pitch
    # Stagger alternate rows half the time (hexagonal vs square lattice).
    row = np.floor(v / pitch + rng.random())
    shift = 0.5 * (row % 2) if rng.random() < 0.5 else 0.0
    du = (u / pitch + rng.random() + shift) % 1.0 - 0.5
    dv = (v / pitch + rng.random()) % 1.0 - 0.5
    dist = np.sqrt(du * du + dv * dv) * pitch
    return np.clip(radius - dist + 0.5, 0.0, 1.0)
  if name == 'checker':
    cell = rng.uniform(3.0, 6.0) * scale
    a = np.sin(np.pi * (u / cell + rng.random()))
    b = np.sin(np.pi * (v / cell + rng.random()))
    return 0.5 + 0.5 * np.clip(sharp * a * b, -1.0, 1.0)
  if name == 'rings':
    period = rng.uniform(5.0, 10.0) * scale
    cu, cv = rng.normal(0.0, 4.0 * scale, size=2)
    r = np.sqrt((u - cu) ** 2 + (v - cv) ** 2)
    return _square_wave(r / period + rng.random(), sharp)
  if name == 'crosshatch':
    pitch = rng.uniform(6.0, 11.0) * scale
    width = rng.uniform(1.5, 3.0) * scale
    # The second set of lines crosses at 60-90 degrees.
    angle = np.deg2rad(rng.uniform(60.0, 90.0))
    w2 = u * np.cos(angle) + v * np.sin(angle)
    la = np.abs((u / pitch + rng.random()) % 1.0 - 0.5) * pitch
    lb = np.abs((w2 / pitch + rng.random()) % 1.0 - 0.5) * pitch
    line = np.maximum(np.clip(width / 2 - (pitch / 2 - la) + 0.5, 0, 1),
                      np.clip(width / 2 - (pitch / 2 - lb) + 0.5, 0, 1))
    return line
  if name == 'grain':
    cell = max(1, int(round((1 if rng.random() < 0.5 else 2) * scale)))
    h, w = u.shape
    noise = rng.random(((h + cell - 1) // cell, (w + cell - 1) // cell))
    noise = np.repeat(np.repeat(noise, cell, 0), cell, 1)[:h, :w]
    density = rng.uniform(0.3, 0.6)
    return (noise < density).astype(np.float32)
  if name in broad_textures.TEXTURES:
    return broad_textures.texture(rng, name, u, v, scale, sharp)
  return _source_texture(rng, name, u, v, scale, sharp)


def _source_texture(rng, name, u, v, scale, sharp):
  """The source set's textures; same contract as `_class_texture`."""
  if name == 'zigzag':
    period = rng.uniform(6.0, 11.0) * scale
    zig = 2.0 * np.abs((v / rng.uniform(8.0, 16.0) / scale) % 1.0 - 0.5)
    return _square_wave(u / period + rng.uniform(0.4, 1.0) * zig + rng.random(),
                        sharp)
  if name == 'bricks':
    height = rng.uniform(5.0, 9.0) * scale
    length = height * rng.uniform(1.8, 3.0)
    mortar = rng.uniform(1.0, 2.0) * scale
    row = np.floor(v / height)
    du = ((u / length + 0.5 * (row % 2)) % 1.0) * length
    dv = (v % height)
    gap = np.minimum(np.minimum(du, length - du), np.minimum(dv, height - dv))
    return np.clip(gap - mortar / 2 + 0.5, 0.0, 1.0)
  if name == 'spiral':
    period = rng.uniform(6.0, 11.0) * scale
    r = np.sqrt(u * u + v * v)
    arms = rng.integers(1, 4)
    return _square_wave(r / period + arms * np.arctan2(v, u) / (2 * np.pi) +
                        rng.random(), sharp)
  if name == 'plus':
    pitch = rng.uniform(7.0, 12.0) * scale
    arm = rng.uniform(0.28, 0.4) * pitch
    width = rng.uniform(1.2, 2.2) * scale
    du = np.abs((u / pitch + rng.random()) % 1.0 - 0.5) * pitch
    dv = np.abs((v / pitch + rng.random()) % 1.0 - 0.5) * pitch
    bar_a = np.minimum(width / 2 - du + 0.5, arm - dv + 0.5)
    bar_b = np.minimum(width / 2 - dv + 0.5, arm - du + 0.5)
    return np.clip(np.maximum(bar_a, bar_b), 0.0, 1.0)
  if name == 'scales':
    pitch = rng.uniform(7.0, 12.0) * scale
    row = np.floor(v / pitch)
    du = (u / pitch + 0.5 * (row % 2)) % 1.0 - 0.5
    dv = (v / pitch) % 1.0
    # Arcs of circles centred on each cell's top edge: a fish-scale outline.
    r = np.sqrt(du * du + dv * dv) * pitch
    return _square_wave(r / pitch * 2.0, sharp)
  if name == 'weave':
    block = rng.uniform(8.0, 14.0) * scale
    lines = rng.integers(2, 4)
    parity = (np.floor(u / block) + np.floor(v / block)) % 2
    along = np.where(parity > 0, u, v)
    return _square_wave(along / block * lines + rng.random(), sharp)
  raise ValueError('Unknown class %r' % name)


def _distractor_texture(rng, kind, u, v, scale):
  """A texture that belongs to no class, in [0, 1]."""
  h, w = u.shape
  if kind == 'flat':
    # A fill with a gentle gradient.
    ramp = u / max(1.0, float(np.abs(u).max()))
    return np.clip(0.5 + rng.uniform(-0.5, 0.5) * ramp, 0.0, 1.0)
  if kind == 'blotch':
    noise = _lowfreq_noise(rng, h, w, rng.uniform(8.0, 16.0) * scale)
    return np.clip((noise - 0.5) * 6.0 + 0.5, 0.0, 1.0)
  if kind == 'wave':
    period = rng.uniform(16.0, 28.0) * scale
    wobble = rng.uniform(0.0, 0.25) * np.sin(
        2 * np.pi * v / rng.uniform(20.0, 40.0) / scale)
    return _square_wave(u / period + wobble + rng.random(), 1.0)
  raise ValueError('Unknown distractor texture %r' % kind)


def _shape_radius(rng, shape, theta, u, v):
  """Returns the normalised radial coordinate: <= 1 inside the outline.

  Args:
    rng: np.random.Generator.
    shape: one of _SHAPES.
    theta: [h, w] polar angle in the shape's frame.
    u: [h, w] shape-frame coordinates divided by the object's radius.
    v: likewise, second axis (already divided by the aspect ratio).

  Returns:
    [h, w] float32; the outline is the level set 1.
  """
  rho = np.sqrt(u * u + v * v)
  if shape in ('ellipse', 'circle'):
    bound = np.ones_like(rho)
  elif shape == 'roundsquare':
    n = rng.uniform(3.0, 6.0)
    return (np.abs(u) ** n + np.abs(v) ** n) ** (1.0 / n) * 1.05
  elif shape in ('diamond', 'triangle'):
    sides = 4 if shape == 'diamond' else 3
    sector = 2 * np.pi / sides
    bound = np.cos(np.pi / sides) / np.cos(
        (theta % sector) - np.pi / sides) * (1.25 if sides == 3 else 1.1)
  elif shape == 'star':
    k = rng.integers(4, 7)
    bound = 1.0 + rng.uniform(0.25, 0.4) * np.cos(k * theta + rng.random() * 6.3)
  elif shape == 'blob':
    bound = np.ones_like(rho)
    for k in range(2, 5):
      bound = bound + rng.uniform(0.0, 0.25 / k * 2) * np.cos(
          k * theta + rng.random() * 6.3)
  else:
    raise ValueError('Unknown shape %r' % shape)
  # A slight wobble so that no two outlines are the same.
  bound = bound * (1.0 + rng.uniform(0.0, 0.06) * np.cos(
      rng.integers(2, 6) * theta + rng.random() * 6.3))
  return rho / np.maximum(bound, 1e-3)


def _paint_layer(rng, image, label, layer_class, texture_fn, shape, scale,
                 hues=_CLASS_HUES, cues=DEFAULT_CUES,
                 radius_range=(14.0, 48.0)):
  """Draws one object or distractor over `image` and `label` in place.

  Args:
    rng: np.random.Generator.
    image: [size, size, 3] float32 canvas in [0, 1].
    label: [size, size] uint8 class ids.
    layer_class: class id written where the layer covers, 0 for a distractor.
    texture_fn: fn(u, v) -> [h, w] pattern in [0, 1] on texture-frame pixels.
    shape: one of _SHAPES.
    scale: image_size / 128.
    hues: the hue each foreground class prefers (index = class id - 1).
    cues: ClassCues; how often an object takes its class's hue.
    radius_range: (low, high) of the log-uniform radius, px at 128.
  """
  size = label.shape[0]
  # Log-uniform radius: many small objects, some spanning most of the image.
  radius = float(np.exp(rng.uniform(np.log(radius_range[0]),
                                     np.log(radius_range[1])))) * scale
  aspect = 1.0 if shape == 'circle' else rng.uniform(0.55, 1.0)
  cy, cx = rng.uniform(0.08, 0.92, size=2) * size
  reach = radius * 1.6
  y0, y1 = int(max(0, cy - reach)), int(min(size, cy + reach + 1))
  x0, x1 = int(max(0, cx - reach)), int(min(size, cx + reach + 1))
  if y1 <= y0 or x1 <= x0:
    return
  yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
  dy, dx = yy + 0.5 - cy, xx + 0.5 - cx
  angle = rng.uniform(0.0, 2 * np.pi)
  ca, sa = np.cos(angle), np.sin(angle)
  su, sv = ca * dx + sa * dy, -sa * dx + ca * dy
  nu, nv = su / radius, sv / (radius * aspect)
  theta = np.arctan2(nv, nu)
  rel = _shape_radius(rng, shape, theta, nu, nv)
  # Antialiased edge: (1 - rel) * radius approximates the signed distance in px.
  alpha = np.clip((1.0 - rel) * radius * aspect + 0.5, 0.0, 1.0)
  if not np.any(alpha > 0.5):
    return
  tex_angle = rng.uniform(0.0, 2 * np.pi)
  ct, st = np.cos(tex_angle), np.sin(tex_angle)
  pattern = texture_fn(ct * dx + st * dy, -st * dx + ct * dy).astype(np.float32)
  if layer_class > 0:
    if rng.random() < cues.hue_prob:
      hue = hues[layer_class - 1] + rng.uniform(-cues.hue_spread, cues.hue_spread)
    else:
      hue = rng.random()
  else:
    hue = rng.random()
  a, b = _color_pair(rng, hue)
  fill = pattern[..., None] * a + (1.0 - pattern[..., None]) * b
  # Soft shading across the object so the fill is not flat.
  shade = 1.0 + rng.uniform(-0.15, 0.15) * nu[..., None]
  fill = fill * shade
  region = image[y0:y1, x0:x1]
  region[:] = alpha[..., None] * fill + (1.0 - alpha[..., None]) * region
  label[y0:y1, x0:x1][alpha > 0.5] = layer_class


def _background(rng, size, scale, texture_prob=0.35,
                texture_strength=(0.05, 0.2)):
  """[size, size, 3] float32 background: gradient, low-frequency noise, faint texture.

  Args:
    rng: np.random.Generator.
    size: side in pixels.
    scale: size / 128.
    texture_prob: probability of the faint texture.
    texture_strength: (low, high) of its strength.
  """
  base = _hsv(rng.random(), rng.uniform(0.0, 0.7), rng.uniform(0.25, 0.85))
  other = _hsv(rng.random(), rng.uniform(0.0, 0.7), rng.uniform(0.25, 0.85))
  yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
  angle = rng.uniform(0.0, 2 * np.pi)
  ramp = (np.cos(angle) * (xx - 0.5) + np.sin(angle) * (yy - 0.5)) + 0.5
  ramp = ramp * rng.uniform(0.0, 0.8)
  image = base + ramp[..., None] * (other - base)
  noise = _lowfreq_noise(rng, size, size, rng.uniform(16.0, 48.0) * scale)
  image = image + (noise[..., None] - 0.5) * rng.uniform(0.05, 0.25)
  if rng.random() < texture_prob:
    kind = ('blotch', 'wave')[rng.integers(2)]
    pattern = _distractor_texture(rng, kind, (xx - 0.5) * size,
                                  (yy - 0.5) * size, scale)
    # A faint texture, tinted by a random per-channel gain.
    gain = rng.uniform(0.5, 1.5, size=3).astype(np.float32)
    image = image + (pattern[..., None] - 0.5) * rng.uniform(*texture_strength) * gain
  return image.astype(np.float32)


def ignore_boundaries(label, ignore_label=IGNORE_LABEL):
  """Sets pixels next to a different class (4-neighbourhood) to `ignore_label`.

  Args:
    label: [height, width] uint8 class ids.
    ignore_label: value written on boundaries.

  Returns:
    A new [height, width] uint8 array; the band is two pixels wide (one each side).
  """
  edge = np.zeros(label.shape, bool)
  dv = label[1:, :] != label[:-1, :]
  dh = label[:, 1:] != label[:, :-1]
  edge[1:, :] |= dv
  edge[:-1, :] |= dv
  edge[:, 1:] |= dh
  edge[:, :-1] |= dh
  out = label.copy()
  out[edge] = ignore_label
  return out


def generate_scene(rng, image_size=DEFAULT_IMAGE_SIZE, ignore_band=True,
                   texture_set='target', cues=DEFAULT_CUES):
  """Draws one scene.

  Args:
    rng: np.random.Generator (or an int seed).
    image_size: side of the square image in pixels.
    ignore_band: whether to mark class boundaries with IGNORE_LABEL.
    texture_set: 'target' (the embedded benchmark's classes), 'source' (the
      segmentation pretraining set's) or 'broad' (the classification
      pretraining superset's); module docstring.
    cues: ClassCues; how strongly hue and outline give a class away (the
      default is the benchmark's; other values make variants for calibration).

  Returns:
    image: [image_size, image_size, 3] uint8 RGB.
    label: [image_size, image_size] uint8 class ids in [0, NUM_CLASSES) or
      IGNORE_LABEL.
  """
  tex = _texture_set(texture_set)
  class_names = tex.descriptor.class_names
  rng = np.random.default_rng(rng)
  scale = image_size / 128.0
  image = _background(rng, image_size, scale, tex.background_texture_prob,
                      tex.background_texture_strength)
  label = np.zeros((image_size, image_size), np.uint8)
  num_objects = int(rng.choice([1, 2, 3, 4], p=[0.25, 0.35, 0.25, 0.15]))
  num_distractors = int(rng.choice([0, 1, 2], p=[0.35, 0.4, 0.25]))
  layers = [1] * num_objects + [0] * num_distractors
  rng.shuffle(layers)
  for is_object in layers:
    if is_object:
      class_id = int(rng.integers(1, len(class_names)))
      if rng.random() < cues.shape_prob:
        shape = tex.shapes[class_id - 1]
      else:
        shape = _SHAPES[rng.integers(len(_SHAPES))]
      sub = np.random.default_rng(rng.integers(1 << 62))
      texture_scale = scale
      if tex.texture_scale != (1.0, 1.0):  # No draw otherwise: same scenes.
        texture_scale = scale * float(np.exp(sub.uniform(
            np.log(tex.texture_scale[0]), np.log(tex.texture_scale[1]))))
      texture_fn = (lambda u, v, c=class_names[class_id], r=sub,
                    s=texture_scale: _class_texture(r, c, u, v, s))
    else:
      class_id = 0
      shape = _SHAPES[rng.integers(len(_SHAPES))]
      kind = _DISTRACTOR_TEXTURES[rng.integers(len(_DISTRACTOR_TEXTURES))]
      sub = np.random.default_rng(rng.integers(1 << 62))
      texture_fn = (lambda u, v, k=kind, r=sub:
                    _distractor_texture(r, k, u, v, scale))
    _paint_layer(rng, image, label, class_id, texture_fn, shape, scale,
                 tex.hues, cues, tex.radius)
  if tex.colour_cast:
    image = image * rng.uniform(1.0 - tex.colour_cast, 1.0 + tex.colour_cast,
                                size=3).astype(np.float32)
  # Global photometric variation and sensor noise.
  image = (image - 0.5) * rng.uniform(0.8, 1.1) + 0.5 + rng.uniform(-0.08, 0.08)
  image = image + rng.normal(0.0, rng.uniform(0.005, 0.03), image.shape)
  image = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
  if ignore_band:
    label = ignore_boundaries(label)
  return image, label


def scene_rng(seed, split, index):
  """The generator of image `index` of `split`; independent of the split sizes."""
  return np.random.default_rng([int(seed), _SPLIT_CODES[split], int(index)])


def image_id(split, index):
  return '%s_%06d' % (split, index)


def generate_voc_layout(output_root, num_train=DEFAULT_NUM_TRAIN,
                        num_val=DEFAULT_NUM_VAL, image_size=DEFAULT_IMAGE_SIZE,
                        seed=0, texture_set='target', cues=DEFAULT_CUES):
  """Writes the synthetic set in the PASCAL VOC 2012 directory layout.

  Creates, under `output_root/VOCdevkit/VOC2012/`:
    JPEGImages/ID.jpg             RGB, JPEG quality 90
    SegmentationClass/ID.png      palette PNG (mode 'P', VOC colours) of class ids,
                                  255 on class boundaries
    ImageSets/Segmentation/{train,val,trainval}.txt   one ID a line
    dataset_info.json             the texture set's descriptor ('synthetic',
                                  'synthetic_source' or 'synthetic_broad') with
                                  these split sizes
    generator.json                how it was drawn: seed, image size, split sizes,
                                  texture set and class cues (a variant's record)

  Args:
    output_root: directory to write into (created if missing).
    num_train: images in the train split.
    num_val: images in the val split.
    image_size: side of the square images in pixels.
    seed: base seed; the same seed gives byte-identical files.
    texture_set: 'target', 'source' or 'broad' (module docstring).
    cues: ClassCues of every scene (generate_scene).

  Returns:
    (voc_root, descriptor): the VOC2012 directory and the descriptor written there.
  """
  if num_train < 1 or num_val < 1:
    raise ValueError('num_train and num_val must be >= 1, got %d and %d' %
                     (num_train, num_val))
  if image_size < MIN_IMAGE_SIZE:
    raise ValueError('image_size must be >= %d, got %d' % (MIN_IMAGE_SIZE,
                                                          image_size))
  tex = _texture_set(texture_set)
  voc_root = os.path.join(output_root, 'VOCdevkit', 'VOC2012')
  image_dir = os.path.join(voc_root, 'JPEGImages')
  label_dir = os.path.join(voc_root, 'SegmentationClass')
  list_dir = os.path.join(voc_root, 'ImageSets', 'Segmentation')
  for d in (image_dir, label_dir, list_dir):
    os.makedirs(d, exist_ok=True)
  ids = {}
  for split, count in (('train', num_train), ('val', num_val)):
    ids[split] = []
    for i in range(count):
      image, label = generate_scene(scene_rng(seed, split, i), image_size,
                                    texture_set=texture_set, cues=cues)
      name = image_id(split, i)
      Image.fromarray(image).save(os.path.join(image_dir, name + '.jpg'),
                                  quality=JPEG_QUALITY)
      descriptors.write_palette_png(os.path.join(label_dir, name + '.png'),
                                    label)
      ids[split].append(name)
  ids['trainval'] = ids['train'] + ids['val']
  for split, names in ids.items():
    file_io.write_text_atomic(os.path.join(list_dir, split + '.txt'),
                              ''.join(n + '\n' for n in names))
  descriptor = tex.descriptor.with_split_sizes(
      {split: len(names) for split, names in ids.items()})
  descriptors.write_info(voc_root, descriptor)
  file_io.write_text_atomic(
      os.path.join(voc_root, GENERATOR_FILENAME),
      json.dumps({'seed': seed, 'image_size': image_size,
                  'num_train': num_train, 'num_val': num_val,
                  'texture_set': texture_set,
                  'cues': dataclasses.asdict(cues)}, indent=2,
                 sort_keys=True) + '\n')
  return voc_root, descriptor
