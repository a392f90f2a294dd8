"""The pretrained backbones shipped in pretrained/, which the main job loads.

pretrained/source_cls (six other textures, segmentation then classification) and
pretrained/broad_cls (classification alone on the 30-texture superset). Each must
fit the main job's model (scripts/embedded_flags.sh), hold trained weights (not a
fresh initialisation), initialise a Model Garden segmentation task as any
pretrained backbone would, and say where it came from.
"""

import json
import os

import numpy as np
import tensorflow as tf

from official.vision.configs import backbones
from official.vision.configs import decoders
from official.vision.configs import semantic_segmentation as seg_cfg
from official.vision.tasks import semantic_segmentation as seg_task

from core import config
from core.modeling import model as model_lib
from tests import conftest

PRETRAINED = os.path.join(conftest.ROOT, 'pretrained')


def _embedded_flag_values():
  """{flag: value} of scripts/embedded_flags.sh's EMBEDDED_FLAGS."""
  return dict(flag[2:].split('=', 1) for flag in conftest.embedded_flags())


class _ShippedBackboneTest(tf.test.TestCase):
  """What every shipped backbone must do; BACKBONE names its folder."""

  BACKBONE = None

  def setUp(self):
    super().setUp()
    if self.BACKBONE is None:
      self.skipTest('the base class')
    self.backbone_dir = os.path.join(PRETRAINED, self.BACKBONE)
    with open(os.path.join(self.backbone_dir, 'backbone.json')) as f:
      self.info = json.load(f)

  def test_fits_the_main_jobs_model(self):
    flags = _embedded_flag_values()
    fits = self.info['fits']
    self.assertEqual(fits['backbone'], flags['backbone'])
    self.assertEqual(fits['width_multiplier'], float(flags['width_multiplier']))
    self.assertEqual(fits['output_stride'], int(flags['output_stride']))

  def _our_model(self):
    """The main job's model, as backbone.json says the backbone fits it."""
    return model_lib.build_model(config.ModelConfig(**self.info['fits']), 7,
                                 (65, 65))

  def test_restores_trained_weights(self):
    model = self._our_model()
    fresh = [v.numpy() for v in model.backbone.weights]
    model_lib.restore_backbone(model, self.backbone_dir)
    restored = [v.numpy() for v in model.backbone.weights]
    changed = [not np.array_equal(a, b) for a, b in zip(fresh, restored)]
    self.assertTrue(all(changed), 'some backbone variables kept their '
                    'initial values: %d of %d' % (changed.count(False),
                                                  len(changed)))
    for value in restored:
      self.assertTrue(np.all(np.isfinite(value)))

  def test_model_gardens_task_initialises_from_it(self):
    # Model Garden's own SemanticSegmentationTask.initialize with
    # init_checkpoint_modules='backbone' (it asserts that every backbone
    # variable is matched) must give the weights that restore_backbone gives.
    fits = self.info['fits']
    self.assertEqual(fits['backbone'], 'mobilenet_v2')
    task = seg_task.SemanticSegmentationTask(seg_cfg.SemanticSegmentationTask(
        model=seg_cfg.SemanticSegmentationModel(
            num_classes=7, input_size=[96, 96, 3],
            backbone=backbones.Backbone(
                type='mobilenet', mobilenet=backbones.MobileNet(
                    model_id='MobileNetV2',
                    filter_size_scale=fits['width_multiplier'],
                    output_stride=fits['output_stride'])),
            decoder=decoders.Decoder(
                type='aspp', aspp=decoders.ASPP(level=4,
                                                dilation_rates=[6, 12, 18])),
            head=seg_cfg.SegmentationHead(level=4)),
        init_checkpoint=self.backbone_dir, init_checkpoint_modules='backbone'))
    garden_model = task.build_model()
    fresh = [v.numpy() for v in garden_model.backbone.weights]
    task.initialize(garden_model)
    ours = self._our_model()
    model_lib.restore_backbone(ours, self.backbone_dir)
    theirs = garden_model.backbone.weights
    self.assertLen(theirs, len(ours.backbone.weights))
    for before, variable, expected in zip(fresh, theirs,
                                          ours.backbone.weights):
      self.assertFalse(np.array_equal(before, variable.numpy()),
                       variable.name)
      self.assertAllEqual(variable, expected)



class SourceBackboneTest(_ShippedBackboneTest):

  BACKBONE = 'source_cls'

  def test_states_its_source_and_score(self):
    self.assertEqual(self.info['source_eval']['class_names'][1:],
                     ['zigzag', 'bricks', 'spiral', 'plus', 'scales', 'weave'])
    self.assertGreater(self.info['source_eval']['miou'], 0.9)
    self.assertEqual(self.info['weights'], 'model')


class BroadBackboneTest(_ShippedBackboneTest):

  BACKBONE = 'broad_cls'

  def test_states_its_source_and_score(self):
    source = self.info['source_eval']
    self.assertEqual(source['dataset'], 'synthetic_broad')
    # 30 textures, the benchmark's six first, then the source set's six.
    self.assertLen(source['class_names'], 31)
    self.assertEqual(source['class_names'][1:13], [
        'stripes', 'dots', 'checker', 'rings', 'crosshatch', 'grain',
        'zigzag', 'bricks', 'spiral', 'plus', 'scales', 'weave'])
    # Classification scores on its 500 held-out images, over the checkpoints:
    # above chance (about 0.07) and rising.
    self.assertEqual(source['num_images'], 500)
    self.assertGreater(source['map'], 0.15)
    curve = [point['map'] for point in source['curve']]
    self.assertGreater(curve[-1], curve[0] + 0.1)
    self.assertEqual(self.info['weights'], 'model')


if __name__ == '__main__':
  tf.test.main()
