"""The pretrained backbone shipped in pretrained/source_cls, which the main job loads.

It must fit the main job's model (scripts/embedded_flags.sh), hold trained weights
(not a fresh initialisation), and say where it came from.
"""

import json
import os

import numpy as np
import tensorflow as tf

from core import config
from core import model as model_lib
from tests import conftest

BACKBONE_DIR = os.path.join(conftest.ROOT, 'pretrained', 'source_cls')


def _embedded_flag_values():
  """{flag: value} of scripts/embedded_flags.sh's EMBEDDED_FLAGS."""
  return dict(flag[2:].split('=', 1) for flag in conftest.embedded_flags())


class ShippedBackboneTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    with open(os.path.join(BACKBONE_DIR, 'backbone.json')) as f:
      self.info = json.load(f)

  def test_fits_the_main_jobs_model(self):
    flags = _embedded_flag_values()
    fits = self.info['fits']
    self.assertEqual(fits['backbone'], flags['backbone'])
    self.assertEqual(fits['width_multiplier'], float(flags['width_multiplier']))
    self.assertEqual(fits['output_stride'], int(flags['output_stride']))

  def test_restores_trained_weights(self):
    fits = self.info['fits']
    cfg = config.ModelConfig(**fits)
    model = model_lib.build_model(cfg, 7, (65, 65))
    fresh = [v.numpy() for v in model.backbone.weights]
    model_lib.restore_backbone(model, BACKBONE_DIR)
    restored = [v.numpy() for v in model.backbone.weights]
    changed = [not np.array_equal(a, b) for a, b in zip(fresh, restored)]
    self.assertTrue(all(changed), 'some backbone variables kept their '
                    'initial values: %d of %d' % (changed.count(False),
                                                  len(changed)))
    for value in restored:
      self.assertTrue(np.all(np.isfinite(value)))

  def test_states_its_source_and_score(self):
    self.assertEqual(self.info['source_eval']['class_names'][1:],
                     ['zigzag', 'bricks', 'spiral', 'plus', 'scales', 'weave'])
    self.assertGreater(self.info['source_eval']['miou'], 0.9)
    self.assertEqual(self.info['weights'], 'model')


if __name__ == '__main__':
  tf.test.main()
