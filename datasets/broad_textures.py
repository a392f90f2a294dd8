"""The broad texture set's own classes: eighteen textures beside the target's and source's.

The 'broad' set of datasets/synthetic.py draws its objects from 30 textures: the
benchmark's six, the source set's six, and these, which differ from those and from each
other in geometry (lattices of lines at 60 and 90 degrees, hexagons, Voronoi cells,
quarter-circle tiles, rays, square rings, noise bands) and in frequency:

  hexgrid      honeycomb outline, cell 7-12 px
  trigrid      three families of thin lines at 60 degrees, pitch 7-12 px
  wavy         stripes bent by a sine, period 5-9 px
  tiles        square tiles shaded as pyramids, tile 6-10 px
  frames       concentric squares about an off-centre point, period 5-9 px
  rays         sunburst of 8-20 rays about an off-centre point
  marble       stripes bent by low-frequency noise (noise bands)
  cells        Voronoi cell outlines of a jittered lattice, pitch 8-13 px
  herringbone  columns of stripes at +-45 degrees, alternating
  dashes       staggered rows of dashes
  bubbles      lattice of ring outlines, pitch 8-13 px
  diamonds     elongated diamond (argyle) lattice
  vermiculate  thin worm-like lines along a noise level set
  dotted       rows of small dots, dense along the row
  truchet      quarter-circle arcs on randomly turned tiles (a maze of curves)
  plaid        wide and thin bands in two directions, three levels
  pinstripes   hairlines, pitch 5-9 px
  woodgrain    fine rings about a distant point, bent by noise

Pixel sizes are at image_size 128 and scale with `scale`. Every function takes
(rng, u, v, scale, sharp): object-frame coordinates in pixels, [h, w] float32, and the
square-wave sharpness the caller drew, and returns an [h, w] pattern in [0, 1].
"""

import numpy as np

from datasets import patterns


def _hexgrid(rng, u, v, scale, sharp):
  del sharp
  r = rng.uniform(3.5, 6.0) * scale  # Inradius: half the distance between centres.
  width = rng.uniform(1.0, 2.0) * scale
  big = 2.0 * np.sqrt(3.0) * r  # Two rows of hexagons (1.5 circumradii each).
  best = None
  for ox, oy in ((0.0, 0.0), (r, big / 2.0)):  # Two rectangular lattices.
    du = (u - ox) - 2.0 * r * np.round((u - ox) / (2.0 * r))
    dv = (v - oy) - big * np.round((v - oy) / big)
    norm = np.maximum(np.abs(du), 0.5 * np.abs(du) + np.sqrt(3.0) / 2 * np.abs(dv))
    best = norm if best is None else np.minimum(best, norm)
  return patterns.line(r - best, width)


def _trigrid(rng, u, v, scale, sharp):
  del sharp
  pitch = rng.uniform(7.0, 12.0) * scale
  width = rng.uniform(1.0, 2.0) * scale
  out = np.zeros_like(u)
  for k in range(3):
    angle = np.pi / 3.0 * k
    w = u * np.cos(angle) + v * np.sin(angle)
    out = np.maximum(out, patterns.line(
        patterns.fold(w / pitch + rng.random()) * pitch, width))
  return out


def _wavy(rng, u, v, scale, sharp):
  period = rng.uniform(5.0, 9.0) * scale
  amplitude = rng.uniform(0.5, 1.0)  # In periods: clearly bent.
  wavelength = rng.uniform(14.0, 26.0) * scale
  bend = amplitude * np.sin(2 * np.pi * v / wavelength + rng.random() * 6.3)
  return patterns.square_wave(u / period + bend + rng.random(), sharp)


def _tiles(rng, u, v, scale, sharp):
  del sharp
  cell = rng.uniform(6.0, 10.0) * scale
  du = patterns.fold(u / cell + rng.random())
  dv = patterns.fold(v / cell + rng.random())
  # Each tile shaded as a pyramid: bright at its centre, dark at its edges.
  return np.clip(1.0 - 2.0 * np.maximum(du, dv), 0.0, 1.0) ** rng.uniform(0.6, 1.2)


def _frames(rng, u, v, scale, sharp):
  period = rng.uniform(5.0, 9.0) * scale
  cu, cv = rng.normal(0.0, 4.0 * scale, size=2)
  r = np.maximum(np.abs(u - cu), np.abs(v - cv))
  return patterns.square_wave(r / period + rng.random(), sharp)


def _rays(rng, u, v, scale, sharp):
  cu, cv = rng.normal(0.0, 6.0 * scale, size=2)
  rays = rng.integers(8, 21)
  angle = np.arctan2(v - cv, u - cu) / (2 * np.pi)
  return patterns.square_wave(rays * angle + rng.random(), sharp)


def _marble(rng, u, v, scale, sharp):
  period = rng.uniform(6.0, 11.0) * scale
  h, w = u.shape
  noise = patterns.lowfreq_noise(rng, h, w, rng.uniform(8.0, 14.0) * scale)
  turbulence = rng.uniform(1.5, 3.0)
  return patterns.square_wave(u / period + turbulence * (noise - 0.5) +
                              rng.random(), sharp)


def _cells(rng, u, v, scale, sharp):
  del sharp
  pitch = rng.uniform(8.0, 13.0) * scale
  width = rng.uniform(1.0, 2.0) * scale
  table = rng.random((16, 16, 2)) * 0.8 + 0.1  # Each cell's point, in cells.
  iu, iv = np.floor(u / pitch), np.floor(v / pitch)
  d1 = np.full(u.shape, np.inf, np.float32)
  d2 = np.full(u.shape, np.inf, np.float32)
  for di in (-1, 0, 1):
    for dj in (-1, 0, 1):
      cu, cv = iu + di, iv + dj
      jitter = table[cu.astype(np.int64) % 16, cv.astype(np.int64) % 16]
      d = np.hypot((cu + jitter[..., 0]) * pitch - u,
                   (cv + jitter[..., 1]) * pitch - v)
      d2 = np.where(d < d1, d1, np.minimum(d2, d))
      d1 = np.minimum(d1, d)
  return patterns.line((d2 - d1) / 2.0, width)


def _herringbone(rng, u, v, scale, sharp):
  column = rng.uniform(6.0, 10.0) * scale
  period = rng.uniform(4.0, 7.0) * scale
  parity = np.floor(u / column + rng.random()) % 2
  along = v + np.where(parity > 0, u, -u)
  return patterns.square_wave(along / period + rng.random(), sharp)


def _dashes(rng, u, v, scale, sharp):
  del sharp
  pitch = rng.uniform(6.0, 10.0) * scale
  length = rng.uniform(6.0, 12.0) * scale
  width = rng.uniform(2.0, 3.5) * scale
  duty = rng.uniform(0.5, 0.7)
  row = np.floor(v / pitch)
  along = (u / length + 0.5 * (row % 2) + rng.random()) % 1.0
  across = patterns.line(patterns.fold(v / pitch - 0.5) * pitch, width)
  return across * (along < duty).astype(np.float32)


def _bubbles(rng, u, v, scale, sharp):
  del sharp
  pitch = rng.uniform(8.0, 13.0) * scale
  radius = rng.uniform(0.28, 0.4) * pitch
  width = rng.uniform(1.0, 2.0) * scale
  du = patterns.fold(u / pitch + rng.random()) * pitch
  dv = patterns.fold(v / pitch + rng.random()) * pitch
  return patterns.line(np.abs(np.hypot(du, dv) - radius), width)


def _diamonds(rng, u, v, scale, sharp):
  del sharp
  pitch = rng.uniform(6.0, 10.0) * scale
  # Elongated, so that no rotation of the checkerboard is one of them.
  stretch = rng.uniform(1.7, 2.4)
  l1 = (patterns.fold(u / pitch + rng.random()) +
        patterns.fold(v / (pitch * stretch) + rng.random()))
  return np.clip((0.5 - l1) * pitch + 0.5, 0.0, 1.0)


def _vermiculate(rng, u, v, scale, sharp):
  del sharp
  h, w = u.shape
  noise = patterns.lowfreq_noise(rng, h, w, rng.uniform(5.0, 9.0) * scale)
  band = rng.uniform(0.04, 0.07)
  return np.clip(1.0 - np.abs(noise - 0.5) / band, 0.0, 1.0)


def _dotted(rng, u, v, scale, sharp):
  del sharp
  pitch = rng.uniform(7.0, 12.0) * scale
  step = rng.uniform(3.0, 4.5) * scale
  radius = rng.uniform(0.9, 1.4) * scale
  du = patterns.fold(u / step + rng.random()) * step
  dv = patterns.fold(v / pitch + rng.random()) * pitch
  return np.clip(radius - np.hypot(du, dv) + 0.5, 0.0, 1.0)


def _truchet(rng, u, v, scale, sharp):
  del sharp
  cell = rng.uniform(7.0, 12.0) * scale
  width = rng.uniform(1.2, 2.2) * scale
  turned = rng.random((16, 16)) < 0.5
  iu, iv = np.floor(u / cell), np.floor(v / cell)
  fu, fv = u / cell - iu, v / cell - iv
  fu = np.where(turned[iu.astype(np.int64) % 16, iv.astype(np.int64) % 16],
                1.0 - fu, fu)
  # Quarter circles of radius half a tile about two opposite corners.
  d = np.minimum(np.abs(np.hypot(fu, fv) - 0.5),
                 np.abs(np.hypot(1.0 - fu, 1.0 - fv) - 0.5)) * cell
  return patterns.line(d, width)


def _plaid(rng, u, v, scale, sharp):
  del sharp
  period = rng.uniform(12.0, 20.0) * scale
  duty = rng.uniform(0.3, 0.5)
  thin = rng.uniform(1.0, 1.8) * scale
  bands = [((x / period + rng.random()) % 1.0 < duty).astype(np.float32)
           for x in (u, v)]
  lines = [patterns.line(patterns.fold(x / period + rng.random()) * period, thin)
           for x in (u, v)]
  return 0.35 * bands[0] + 0.35 * bands[1] + 0.3 * np.maximum(*lines)


def _pinstripes(rng, u, v, scale, sharp):
  del v, sharp
  pitch = rng.uniform(5.0, 9.0) * scale
  width = rng.uniform(0.9, 1.4) * scale
  return patterns.line(patterns.fold(u / pitch + rng.random()) * pitch, width)


def _woodgrain(rng, u, v, scale, sharp):
  period = rng.uniform(3.0, 5.0) * scale
  distance = rng.uniform(30.0, 60.0) * scale
  angle = rng.uniform(0.0, 2 * np.pi)
  r = np.hypot(u - distance * np.cos(angle), v - distance * np.sin(angle))
  h, w = u.shape
  noise = patterns.lowfreq_noise(rng, h, w, rng.uniform(10.0, 20.0) * scale)
  return patterns.square_wave(r / period + rng.uniform(1.0, 2.0) * noise +
                              rng.random(), sharp)


TEXTURES = {
    'hexgrid': _hexgrid, 'trigrid': _trigrid, 'wavy': _wavy, 'tiles': _tiles,
    'frames': _frames, 'rays': _rays, 'marble': _marble, 'cells': _cells,
    'herringbone': _herringbone, 'dashes': _dashes, 'bubbles': _bubbles,
    'diamonds': _diamonds, 'vermiculate': _vermiculate, 'dotted': _dotted,
    'truchet': _truchet, 'plaid': _plaid, 'pinstripes': _pinstripes,
    'woodgrain': _woodgrain,
}
NAMES = tuple(TEXTURES)


def texture(rng, name, u, v, scale, sharp):
  """The pattern of the broad class `name`; see the module docstring."""
  return TEXTURES[name](rng, u, v, scale, sharp).astype(np.float32)
