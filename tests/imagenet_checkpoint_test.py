"""--init_checkpoint on checkpoints in the layout of Model Garden's ImageNet backbones.

Model Garden publishes its ImageNet-pretrained backbones (e.g.
gs://cloud-tpu-checkpoints/vision-2.0/deeplab/deeplab_resnet101_imagenet/, the start of
its seg_deeplabv3plus_pascal experiment) as `tf.train.Checkpoint(backbone=...)` of its
own backbone classes, which its segmentation task reads with
`init_checkpoint_modules='backbone'`. These tests write such checkpoints with Model
Garden's code itself (`DilatedResNet` at depth 50, the smallest it builds with the
DeepLab stem, and `MobileNet` V2 at width 0.35), not with ours, and restore them the
way train_sup.py and train_wss.py do. The published files themselves are not read
here (no download is possible where the tests run).
"""

import dataclasses
import os
import re

import numpy as np
import tensorflow as tf
from official.vision.modeling.backbones import mobilenet
from official.vision.modeling.backbones import resnet_deeplab

from core import config
from core.modeling import model as model_lib

_CROP = 65


def _ours(**model):
  cfg = dataclasses.replace(config.smoke().model, **model)
  return model_lib.build_model(cfg, 3, (_CROP, _CROP))


def _model_garden_checkpoint(backbone, directory):
  """Writes `backbone` as Model Garden's pretrained backbones are written."""
  backbone(tf.zeros([1, _CROP, _CROP, 3]))
  return tf.train.Checkpoint(backbone=backbone).save(
      os.path.join(directory, 'ckpt'))


class ModelGardenLayoutTest(tf.test.TestCase):

  def _assert_restores_every_variable(self, garden, ours):
    tf.keras.utils.set_random_seed(1)  # Other initial values than ours.
    path = _model_garden_checkpoint(garden, self.get_temp_dir())
    tf.random.set_seed(None)
    # Every variable starts elsewhere, so each one that is equal was restored.
    garden_values = [v.numpy() for v in garden.variables]
    self.assertLen(ours.backbone.variables, len(garden_values))
    differs = [not np.array_equal(v.numpy(), g) or np.all(g == g.flat[0])
               for v, g in zip(ours.backbone.variables, garden_values)]
    self.assertGreater(sum(differs), 0.5 * len(differs))
    # A directory restores its latest checkpoint, as --init_checkpoint=DIR.
    model_lib.restore_backbone(ours, os.path.dirname(path))
    for v, g in zip(ours.backbone.variables, garden_values):
      self.assertAllEqual(v, g, msg=v.name)

  def test_dilated_resnet_with_the_deeplab_stem(self):
    ours = _ours(backbone='resnet50', output_stride=16)
    garden = resnet_deeplab.DilatedResNet(
        model_id=50, output_stride=16, stem_type='v1',
        multigrid=model_lib._RESNET_MULTIGRID)  # pylint: disable=protected-access
    self.assertEqual(model_lib._RESNET_STEM, 'v1')  # pylint: disable=protected-access
    self._assert_restores_every_variable(garden, ours)

  def test_mobilenet_v2(self):
    ours = _ours(backbone='mobilenet_v2', width_multiplier=0.35)
    garden = mobilenet.MobileNet(model_id='MobileNetV2', filter_size_scale=0.35,
                                 output_stride=16)
    self._assert_restores_every_variable(garden, ours)

  def test_a_checkpoint_of_other_shapes_names_the_first_mismatch(self):
    garden = mobilenet.MobileNet(model_id='MobileNetV2', filter_size_scale=0.5)
    path = _model_garden_checkpoint(garden, self.get_temp_dir())
    ours = _ours(backbone='mobilenet_v2', width_multiplier=0.35)
    # The first variable, in the backbone's order, whose shape differs (the
    # stem is 16 filters at both widths: Model Garden rounds to 8).
    first = next((g.shape.as_list(), v.shape.as_list()) for g, v in zip(
        garden.variables, ours.backbone.variables) if g.shape != v.shape)
    before = [v.numpy() for v in ours.backbone.variables]
    with self.assertRaises(ValueError) as e:
      model_lib.restore_backbone(ours, path)
    message = str(e.exception)
    self.assertNotIn('\n', message)
    self.assertIn(path, message)
    self.assertIn("'mobilenet_v2' backbone (width 0.35", message)
    self.assertRegex(message, r'first mismatch backbone/\S+: %s in the '
                     r'checkpoint, %s in this model\.$' % tuple(
                         re.escape(str(s)) for s in first))
    # Nothing was half-restored.
    for v, b in zip(ours.backbone.variables, before):
      self.assertAllEqual(v, b, msg=v.name)
