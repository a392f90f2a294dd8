"""Image-level classification: pretraining a backbone the way ImageNet's is made.

The model's classification head (global average pooling of the backbone's features F,
a linear layer, a sigmoid per class) trained on image-level multi-hot labels with the
multi-label sigmoid cross-entropy; no mask reaches the loss. ASPP, the decoder and the
SGC are built (the run's checkpoint is an ordinary one, export_backbone.py reads it)
but never run, so they take no gradient.
"""

import tensorflow as tf

from core import losses
from core.tasks import base

METRICS = ('loss', 'cls_loss', 'reg_loss')


class ClassificationTask(base.Task):
  """The backbone and classifier trained on image-level labels only."""

  def gradients(self, model, optimizer, batch, micro=None):
    """The gradients of multi-label classification on one (micro-)batch.

    Args:
      model: PseudoSegModel with its classification head.
      optimizer: Keras optimizer.
      batch: dict with 'image' [B,H,W,3] float and 'class_labels' [B,K] float
        multi-hot.
      micro: the micro-batch's index (None without accumulation).

    Returns:
      (grads, dict of scalars: loss, cls_loss, reg_loss; None).
    """
    with tf.GradientTape() as tape:
      logits = model.classify(batch['image'], training=True,
                              dropout_seed=self.micro_seed(optimizer, micro))
      cls = losses.multilabel_sigmoid_cross_entropy(logits,
                                                    batch['class_labels'])
      # The weight decay of what trains: the rest takes no gradient at all.
      reg = (base.regularization(model.backbone) +
             base.regularization(model.cls_dense))
      total = cls + reg
      scaled = base.scale_loss(optimizer, total)
    grads = base.gradients(model, optimizer, tape, scaled)
    return grads, {'loss': total, 'cls_loss': cls, 'reg_loss': reg}, None

  def metric_names(self):
    return METRICS

  def image_summaries(self, model, batch):
    """The training images (their labels are in no picture)."""
    del model
    return {'images': batch['image']}
