"""The supervised task: pixel cross-entropy on labeled crops (PseudoSeg's baseline)."""

import tensorflow as tf

from core import losses
from core.tasks import base
from core import visualization

METRICS = ('loss', 'sup_loss', 'reg_loss')


class SupervisedTask(base.Task):
  """DeepLabv3+ trained on labeled crops only."""

  def gradients(self, model, optimizer, batch, micro=None):
    """The gradients of pixel cross-entropy on one (micro-)batch.

    Args:
      model: PseudoSegModel (heads unused).
      optimizer: Keras optimizer.
      batch: dict with 'image' [B,H,W,3] float and 'label' [B,H,W,1] int32.
      micro: the micro-batch's index (None without accumulation).

    Returns:
      (grads, dict of scalars: loss, sup_loss, reg_loss; None).
    """
    with tf.GradientTape() as tape:
      outputs = model(batch['image'], training=True,
                      dropout_seed=self.micro_seed(optimizer, micro))
      sup = losses.softmax_cross_entropy_with_ignore(
          outputs['logits'], batch['label'], ignore_label=self.ignore_label)
      reg = base.regularization(model)
      total = self.cfg.loss.sup_weight * sup + reg
      scaled = base.scale_loss(optimizer, total)
    grads = base.gradients(model, optimizer, tape, scaled)
    return grads, {'loss': total, 'sup_loss': sup, 'reg_loss': reg}, None

  def metric_names(self):
    return METRICS

  def image_summaries(self, model, batch):
    """Image | ground truth | prediction."""
    outputs = model(batch['image'], training=False)
    pred = tf.argmax(outputs['logits'], -1)
    size = tf.shape(batch['image'])[1:3]
    return {'image_label_prediction': visualization.side_by_side(
        [batch['image'], visualization.colorize(batch['label'], self.palette),
         visualization.colorize(pred, self.palette)], size)}
