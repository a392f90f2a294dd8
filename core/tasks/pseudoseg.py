"""The PseudoSeg task: labeled losses plus consistency on unlabeled images.

One step (SPEC §5, the official code's one-stage training):

  weak views --teacher--> decoder + SGC logits --calibrated fusion--> pseudo label
  labeled crops + strong views --student--> decoder, SGC and classifier outputs
  loss = sup_weight·CE(decoder, mask) + sgc_weight·CE(SGC, mask)
       + cls_weight·BCE(classifier, classes) + w·soft CE(strong decoder, pseudo) + L2

The options (core/tasks/options/) each take part in some phases of the step; where an
unlabeled image's classes come from is core/tasks/image_classes.py. The pseudo label
carries no gradient: `fusion.calibrated_fusion` cuts it from the graph.
"""

import tensorflow as tf

from core import losses
from core.modeling import cam as cam_lib
from core.pseudoseg import fusion
from core.tasks import base
from core.tasks import image_classes
from core.tasks import options as _options  # pylint: disable=unused-import
from core.tasks.options import base as options_lib
from core import visualization

METRICS = ('loss', 'sup_loss', 'sgc_loss', 'cls_loss', 'unsup_loss', 'reg_loss',
           'pseudo_confidence', 'pixels_used')
# The step's random streams (fold-in indices of its seed) of the two model passes'
# dropout; the options own theirs (CutMix 0, feature dropout 1, the oracle 4).
TEACHER_STREAM = 2
STUDENT_STREAM = 3


class PseudoSegTask(base.Task):
  """PseudoSeg's one-stage consistency training.

  Args:
    cfg, num_classes, ignore_label, palette: as `base.Task`.
    options: the options of the step; default: those the config turns on.
  """

  def __init__(self, cfg, num_classes, ignore_label=255, palette=None,
               options=None):
    super().__init__(cfg, num_classes, ignore_label, palette)
    if not cfg.model.pseudoseg_heads:
      raise ValueError('The PseudoSeg task needs model.pseudoseg_heads.')
    self.classes = image_classes.from_config(cfg)
    self.options = (list(options) if options is not None else
                    options_lib.from_config(cfg, num_classes, ignore_label))
    self.fusion = fusion.CalibratedFusion.from_pseudo_label_config(
        cfg.pseudo_label)

  def build_state(self, model):
    for option in self.options:
      option.build(model, self.build_model)

  def checkpoint_items(self):
    items = {}
    for option in self.options:
      items.update(option.checkpoint_items())
    return items

  def state_settings(self):
    return options_lib.state_settings()

  def needs_unlabeled_masks(self):
    """Whether an option reads the unlabeled images' own masks."""
    return any(option.needs_unlabeled_masks for option in self.options)

  def metric_names(self):
    return METRICS + sum((tuple(o.metric_names) for o in self.options), ())

  def images_per_step(self):
    return ((self.cfg.train.batch_size + self.cfg.train.unlabeled_batch_size) *
            self.cfg.train.grad_accum_steps)

  def teacher(self, model):
    """The model that makes the pseudo labels: an option's, or `model`."""
    for option in self.options:
      if option.teacher() is not None:
        return option.teacher()
    return model

  def teacher_pass(self, teacher, ctx, training, dropout_seed=None,
                   update=True):
    """The teacher's outputs on the weak views and their fused pseudo label.

    Args:
      teacher: the model that makes the pseudo labels.
      ctx: the step's StepContext (ctx.unl: the weak views).
      training: the teacher pass's batch-norm and dropout mode.
      dropout_seed: [2] seed of its dropout in training mode.
      update: whether the options' state may follow this batch (False for
        pictures).

    Returns:
      (outputs, pseudo [B,h,w,C] at decoder resolution, weight [B,h,w]); the
      label and weight carry no gradient.
    """
    unl = ctx.unl
    outputs = teacher(unl['weak_image'], training=training,
                      attention_mask=unl['weak_valid'], dropout_seed=dropout_seed,
                      **self.classes.teacher_inputs(unl))

    def align(prob):
      for option in self.options:
        prob = option.align(prob, ctx, update=update)
      return prob

    pseudo, weight = self.fusion(outputs['logits'], outputs['sgc_logits'],
                                 align=align)
    return outputs, pseudo, weight

  def gradients(self, model, optimizer, batch, micro=None):
    """The gradients of one PseudoSeg (micro-)batch.

    Args:
      model: PseudoSegModel with pseudoseg heads.
      optimizer: Keras optimizer.
      batch: dict with 'labeled' (image, label, valid, class_labels) and
        'unlabeled' (weak_image, strong_image, weak_valid, strong_valid,
        class_labels, has_class_labels) sub-dicts.
      micro: the micro-batch's index (None without accumulation).

    Returns:
      (grads; dict of scalars: loss, sup_loss, sgc_loss, cls_loss,
      unsup_loss, reg_loss, pseudo_confidence (mean max probability of the
      pseudo labels on the pixels that count), pixels_used (share of
      strong-view pixels in the consistency loss), and the options' metrics;
      the step's StepContext, for `after_update`).
    """
    cfg = self.cfg
    lab = batch['labeled']
    num_labeled = tf.shape(lab['image'])[0]
    ctx = options_lib.StepContext(
        self.micro_seed(optimizer, micro), optimizer.iterations, lab,
        batch['unlabeled'])
    ctx.teacher_outputs, ctx.weak_pseudo, ctx.weak_weight = self.teacher_pass(
        self.teacher(model), ctx, cfg.pseudo_label.teacher_training_mode,
        dropout_seed=ctx.stream(TEACHER_STREAM))
    ctx.pseudo, ctx.weight = ctx.weak_pseudo, ctx.weak_weight
    ctx.unl = self.classes.with_teacher_classes(ctx.unl, ctx.teacher_outputs)
    for option in self.options:
      option.replace(ctx)
    for option in self.options:
      option.mix(ctx)
    student_inputs = {}
    for option in self.options:
      student_inputs.update(option.student_inputs(ctx, num_labeled, model))
    unl = ctx.unl

    images = tf.concat([lab['image'], unl['strong_image']], 0)
    valid = tf.concat([lab['valid'], unl['strong_valid']], 0)
    cam_classes = self.classes.student_cam_classes(lab, unl)
    with tf.GradientTape() as tape:
      out = model(images, training=True, cam_classes=cam_classes,
                  attention_mask=valid, dropout_seed=ctx.stream(STUDENT_STREAM),
                  **student_inputs)
      logits_l, logits_u = out['logits'][:num_labeled], out['logits'][num_labeled:]
      sup = losses.softmax_cross_entropy_with_ignore(
          logits_l, lab['label'], ignore_label=self.ignore_label)
      sgc = losses.softmax_cross_entropy_with_ignore(
          out['sgc_logits'][:num_labeled], lab['label'],
          ignore_label=self.ignore_label)
      cls = self.classes.classification_loss(out['cls_logits'], lab, unl,
                                             num_labeled)
      mask = base.resize_mask(unl['strong_valid'],
                              tf.shape(logits_u)[1:3]) * ctx.weight
      unsup = losses.soft_cross_entropy(logits_u, ctx.pseudo, mask)
      reg = base.regularization(model)
      scale = 1.0
      for option in self.options:
        scale = scale * option.consistency_scale(ctx)
      ctx.consistency_weight = cfg.loss.unsup_weight * scale
      total = (cfg.loss.sup_weight * sup + cfg.loss.sgc_weight * sgc +
               cfg.loss.cls_weight * cls + ctx.consistency_weight * unsup + reg)
      scaled = base.scale_loss(optimizer, total)
    grads = base.gradients(model, optimizer, tape, scaled)

    denom = tf.maximum(tf.reduce_sum(mask), 1.0)
    confidence = tf.reduce_sum(tf.reduce_max(ctx.pseudo, -1) * mask) / denom
    outputs = {'loss': total, 'sup_loss': sup, 'sgc_loss': sgc,
               'cls_loss': cls, 'unsup_loss': unsup, 'reg_loss': reg,
               'pseudo_confidence': confidence, 'pixels_used': tf.reduce_mean(mask)}
    for option in self.options:
      outputs.update(option.metrics(ctx))
    return grads, outputs, ctx

  def after_update(self, model, state):
    for option in self.options:
      option.after_update(model, state)

  def image_summaries(self, model, batch):
    """Weak | strong | CAM | SGC | decoder | pseudo label, and the options'.

    The pseudo-label maker (the EMA teacher when there is one) runs in
    inference mode and the options' state does not move: drawing pictures
    changes nothing of the run.
    """
    unl = batch['unlabeled']
    ctx = options_lib.StepContext(
        tf.constant([0, self.cfg.train.seed], tf.int64), None,
        batch['labeled'], unl)
    outputs, ctx.pseudo, ctx.weight = self.teacher_pass(
        self.teacher(model), ctx, training=False, update=False)
    palette = self.palette
    cam = cam_lib.cam_with_background(outputs['cam'])
    pictures = {'weak_strong_cam_sgc_decoder_pseudo': visualization.side_by_side([
        unl['weak_image'], unl['strong_image'],
        visualization.heatmap(tf.reduce_max(cam[..., 1:], -1)),
        visualization.colorize(tf.argmax(outputs['sgc_logits'], -1), palette),
        visualization.colorize(tf.argmax(outputs['logits'], -1), palette),
        visualization.colorize(tf.argmax(ctx.pseudo, -1), palette)],
        tf.shape(unl['weak_image'])[1:3])}
    for option in self.options:
      pictures.update(option.pictures(ctx, palette))
    return pictures
