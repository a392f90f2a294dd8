"""Tests for the classification pretraining task (core/tasks/classification.py) and
the model's classifier alone (PseudoSegModel.classify)."""

import numpy as np
import tensorflow as tf

from core import config
from core.tasks import classification
from core.training import trainer
from tests import testing_utils


class ClassificationTaskTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.model = testing_utils.smoke_model(5, pseudoseg_heads=True)
    self.images = tf.random.stateless_uniform([3, 65, 65, 3], (1, 2))

  def test_classify_is_the_models_classifier(self):
    seed = tf.constant([4, 5], tf.int64)
    for training in (False, True):
      alone = self.model.classify(self.images, training=training,
                                  dropout_seed=seed)
      whole = self.model(self.images, training=training, dropout_seed=seed)
      self.assertAllClose(alone, whole['cls_logits'], atol=1e-5)
    with self.assertRaisesRegex(ValueError, 'no classification head'):
      testing_utils.smoke_model(5).classify(self.images)

  def test_step_trains_the_backbone_and_classifier_only(self):
    cfg = testing_utils.task_config(self.model, dict(
        base_learning_rate=0.05, train_steps=10))
    task = classification.ClassificationTask(cfg, 5)
    optimizer = trainer.make_optimizer(cfg.train)
    batch = {'image': self.images,
             'class_labels': tf.constant([[1., 0, 0, 1], [0, 1, 0, 0],
                                          [0, 0, 0, 0]])}
    groups = {'backbone': self.model.backbone, 'cls_dense': self.model.cls_dense,
              'decoder': self.model.decoder, 'head': self.model.head,
              'sgc': self.model.sgc}
    before = {k: [v.numpy() for v in g.trainable_weights]
              for k, g in groups.items()}
    out = task.train_step(self.model, optimizer, batch)
    self.assertEqual(set(out), set(task.metric_names()))
    for name, value in out.items():
      self.assertTrue(np.isfinite(value.numpy()), name)
    # The loss is the multi-label loss plus the trained parts' weight decay.
    self.assertAllClose(out['loss'], out['cls_loss'] + out['reg_loss'])
    self.assertGreater(float(out['reg_loss']), 0.0)
    for name, group in groups.items():
      changed = [not np.array_equal(a, v.numpy())
                 for a, v in zip(before[name], group.trainable_weights)]
      if name in ('backbone', 'cls_dense'):
        self.assertTrue(any(changed), name)
      else:
        self.assertFalse(any(changed), name)


if __name__ == '__main__':
  tf.test.main()
