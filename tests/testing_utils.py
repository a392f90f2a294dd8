"""Scaffolding shared by the test files (conftest.py holds the pytest fixtures).

- `FixturesMixin`: binds pytest fixtures onto a `tf.test.TestCase` as attributes.
- `run_in_mode`: calls a preprocessing function eagerly or inside tf.data.
- `write_jpeg`, `write_palette_png`, `png_bytes`: fixture image writers.
- `snapshot_dir`, `read_split`: what a converter left on disk.
- `run_command`, `run_command_ok`: a subprocess from the repository root.
- `smoke_model`: a smoke-config model with real batch-norm statistics.
- `assert_checkpoints_finite`: every kept checkpoint of a run holds finite values.
"""

import dataclasses
import os
import subprocess

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class FixturesMixin(object):
  """Binds pytest fixtures onto a `tf.test.TestCase` (which cannot take them).

  A class lists `FIXTURES = {attribute: fixture name}`; an attribute that is a
  tuple of names unpacks the fixture's value (None skips a part). The default
  binds the three that most test classes use.
  """

  FIXTURES = {'records': 'tiny_records', 'binaries': 'binaries',
              'smoke_flags': 'smoke_flags_fn'}

  @pytest.fixture(autouse=True)
  def _bind_fixtures(self, request):
    for attribute, name in self.FIXTURES.items():
      value = request.getfixturevalue(name)
      if isinstance(attribute, tuple):
        for part, part_value in zip(attribute, value):
          if part is not None:
            setattr(self, part, part_value)
      else:
        setattr(self, attribute, value)


def run_in_mode(mode, fn, *args):
  """Calls `fn(*args)` eagerly or as a tf.data map; returns numpy structures."""
  if mode == 'eager':
    out = fn(*args)
  else:
    dataset = tf.data.Dataset.from_tensors(tuple(args)).map(fn)
    out = next(iter(dataset))
  return tf.nest.map_structure(lambda t: t.numpy(), out)


def png_bytes(array):
  """PNG bytes (TensorFlow's encoder) of a uint8 [H,W,C] array."""
  return tf.io.encode_png(tf.constant(array, tf.uint8)).numpy()


def write_jpeg(path, height, width, seed=0):
  """Writes a random RGB JPEG and returns its pixels as TF decodes them."""
  rng = np.random.RandomState(seed)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(rng.randint(0, 256, (height, width, 3)).astype(
      np.uint8)).save(path, format='JPEG', quality=90)
  with open(path, 'rb') as f:
    return tf.io.decode_jpeg(f.read(), channels=3).numpy()


def write_palette_png(path, mask):
  """Writes a class-id mask as a VOC-style palette PNG (PIL mode 'P')."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  from datasets import descriptors  # pylint: disable=g-import-not-at-top
  descriptors.write_palette_png(path, mask)


def snapshot_dir(directory):
  """Returns {relative path: bytes} of every file under `directory` (or None)."""
  if not os.path.isdir(directory):
    return None
  snap = {}
  for root, dirs, files in os.walk(directory):
    dirs.sort()
    for name in files:
      path = os.path.join(root, name)
      with open(path, 'rb') as f:
        snap[os.path.relpath(path, directory)] = f.read()
  snap.update({os.path.relpath(os.path.join(root, d), directory) + '/': b''
               for root, dirs, _ in os.walk(directory) for d in dirs})
  return snap


def read_split(record_dir, split):
  """Decodes every record of a split into numpy dicts, keyed by filename."""
  out = {}
  from datasets import record_format  # pylint: disable=g-import-not-at-top
  for s in tf.data.TFRecordDataset(record_format.list_shards(record_dir, split)):
    d = record_format.decode_example(s)
    example = tf.train.Example.FromString(s.numpy())
    out[d['filename'].numpy().decode()] = {
        'image': d['image'].numpy(), 'label': d['label'].numpy()[..., 0],
        'class_ids': d['class_ids'].numpy().tolist(),
        'has_mask': bool(d['has_mask'].numpy()),
        'image_bytes': example.features.feature[
            record_format.IMAGE_ENCODED].bytes_list.value[0],
        'keys': set(example.features.feature.keys()),
    }
  return out


def run_command(args, env, timeout=600, merge=True):
  """Runs `args` from the repository root; returns the CompletedProcess.

  stdout is text; with `merge` stderr goes into it, else into .stderr.
  """
  return subprocess.run(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT if merge else subprocess.PIPE,
                        text=True, timeout=timeout, check=False)


def run_command_ok(args, env, timeout=600, what=None, tail=6000):
  """Like `run_command`, but fails the test (with the log tail) on a non-zero exit."""
  proc = run_command(args, env, timeout)
  if proc.returncode != 0:
    pytest.fail('%s exited with %d:\n%s' % (what or ' '.join(args),
                                            proc.returncode, proc.stdout[-tail:]))
  return proc


def smoke_model(num_classes, seed=(9, 9), crop=65, **overrides):
  """A smoke-config model whose inference output depends on the image.

  Freshly built, its batch-norm moving statistics make the logits ~1e-7 (all
  predictions near ties); with momentum 0, one training pass on random images
  (stateless `seed`) sets them to real batch statistics, so comparisons of its
  predictions mean something.

  Args:
    num_classes: classes of the segmentation output.
    seed: [2] stateless seed of the images of the training pass.
    crop: the model's crop size (and the training pass's image size).
    **overrides: core.config.ModelConfig fields.
  """
  from core import config  # pylint: disable=g-import-not-at-top
  from core.modeling import model as model_lib  # pylint: disable=g-import-not-at-top
  cfg = dataclasses.replace(config.smoke().model, batchnorm_momentum=0.0,
                            **overrides)
  model = model_lib.build_model(cfg, num_classes, (crop, crop))
  model(tf.random.stateless_uniform([4, crop, crop, 3], seed), training=True)
  return model


def task_config(model, settings):
  """The smoke config around a built model, `settings` given by flag name."""
  from core import config  # pylint: disable=g-import-not-at-top
  cfg = dataclasses.replace(config.smoke(), model=model.config)
  return config.override(cfg, **settings)


def assert_checkpoints_finite(test, model_dir):
  """Fails `test` unless every kept checkpoint of `model_dir` is all finite."""
  state = tf.train.get_checkpoint_state(model_dir)
  test.assertNotEmpty(state.all_model_checkpoint_paths)
  for path in state.all_model_checkpoint_paths:
    reader = tf.train.load_checkpoint(path)
    for name, dtype in reader.get_variable_to_dtype_map().items():
      if dtype.is_floating:
        test.assertTrue(np.all(np.isfinite(reader.get_tensor(name))),
                        msg='%s: %s' % (path, name))
