"""Per-replica training steps: supervised and PseudoSeg.

Each step is a module-level function of (model, optimizer, batch, settings) that runs
in replica context, applies its gradients and returns named scalars. Losses are
per-replica means; the total is divided by the number of replicas before the gradient
because the strategy sums gradients across replicas.
"""

import dataclasses

import tensorflow as tf

from augment import cutmix
from core.pseudoseg import ema
from core.pseudoseg import fusion
from core import losses
from core.evaluation import metrics
from core.modeling import model as model_lib
from core.training import schedules


@dataclasses.dataclass(frozen=True)
class StepSettings:
  """Plain values the steps need (from core.config)."""
  num_classes: int
  ignore_label: int = 255
  sup_weight: float = 1.0
  sgc_weight: float = 1.0
  cls_weight: float = 1.0
  unsup_weight: float = 1.0
  unsup_rampup_steps: int = 0  # 0: unsup_weight from the first step (official).
  # Pseudo labels.
  pseudo_src: str = 'avg'
  temperature: float = 0.5
  logit_norm: str = 'global'
  soft_labels: bool = True
  confidence_threshold: float = 0.0
  teacher_training_mode: bool = True
  use_image_labels: bool = False
  # Ours: the teacher's decoder names each unlabeled image's classes (share of
  # the weak view's valid pixels); they stand in for image labels. 0 = off.
  decoder_image_labels: float = 0.0
  # Options (core/config.py PseudoLabelConfig).
  ema_decay: float = 0.0
  cutmix: bool = False
  cutmix_area: float = 0.5
  feature_dropout: float = 0.0
  oracle_pseudo_labels: bool = False  # Diagnostic: the masks as pseudo labels.
  oracle_share: float = 1.0  # Share of unlabeled images given their mask.
  seed: int = 0  # Salts the per-step random draws (dropout, CutMix, ...).


def _regularization(model):
  if not model.losses:
    return tf.constant(0.0)
  return tf.add_n([tf.cast(l, tf.float32) for l in model.losses])


def _scale_loss(optimizer, total):
  """The loss to differentiate; call inside the tape.

  Gradients are summed across replicas, so each replica contributes 1/N; under
  float16 the loss-scale optimizer scales it further.
  """
  scaled = total / tf.distribute.get_strategy().num_replicas_in_sync
  if isinstance(optimizer, tf.keras.mixed_precision.LossScaleOptimizer):
    scaled = optimizer.get_scaled_loss(scaled)
  return scaled


def _apply(model, optimizer, tape, scaled_loss):
  variables = model.trainable_variables
  grads = tape.gradient(scaled_loss, variables)
  if isinstance(optimizer, tf.keras.mixed_precision.LossScaleOptimizer):
    grads = optimizer.get_unscaled_gradients(grads)
  pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
  if not pairs:
    raise ValueError('No variable receives a gradient from the loss.')
  optimizer.apply_gradients(pairs)


def supervised_step(model, optimizer, batch, settings):
  """One step of pixel cross-entropy on labeled crops.

  Args:
    model: PseudoSegModel (heads unused).
    optimizer: Keras optimizer.
    batch: dict with 'image' [B,H,W,3] float and 'label' [B,H,W,1] int32.
    settings: StepSettings.

  Returns:
    dict of scalars: loss, sup_loss, reg_loss.
  """
  with tf.GradientTape() as tape:
    outputs = model(batch['image'], training=True,
                    dropout_seed=_step_seed(optimizer, settings))
    sup = losses.softmax_cross_entropy_with_ignore(
        outputs['logits'], batch['label'], ignore_label=settings.ignore_label)
    reg = _regularization(model)
    total = settings.sup_weight * sup + reg
    scaled = _scale_loss(optimizer, total)
  _apply(model, optimizer, tape, scaled)
  return {'loss': total, 'sup_loss': sup, 'reg_loss': reg}


def _resize_label(label, size):
  """[B,H,W,1] label (or mask) to [B,h,w] by nearest neighbour."""
  return tf.image.resize(label, size, method='nearest')[..., 0]


def _resize_mask(mask, size):
  """[B,H,W] float mask to [B,h,w] by nearest neighbour."""
  return _resize_label(mask[..., None], size)


def make_pseudo_labels(model, weak_image, weak_valid, settings, cam_classes=None,
                       dropout_seed=None, align=None):
  """The teacher pass on the weak view and its calibrated-fusion pseudo label.

  `dropout_seed` seeds the teacher's dropout when it runs in training mode;
  `align` is fusion.calibrated_fusion's (distribution alignment). Without
  `cam_classes`, settings.decoder_image_labels > 0 has the CAM keep the
  classes the teacher's decoder predicts (outputs['cam_classes']).

  Returns:
    outputs: the model's outputs on the weak view.
    pseudo: [B,h,w,C] soft pseudo label at decoder resolution (no gradient).
    weight: [B,h,w] per-pixel weight from the confidence threshold.
  """
  outputs = model(weak_image, training=settings.teacher_training_mode,
                  cam_classes=cam_classes, attention_mask=weak_valid,
                  dropout_seed=dropout_seed,
                  cam_class_min_share=settings.decoder_image_labels or None)
  pseudo, weight = fusion.calibrated_fusion(
      outputs['logits'], outputs['sgc_logits'],
      temperature=settings.temperature, logit_norm=settings.logit_norm,
      pseudo_src=settings.pseudo_src, soft_labels=settings.soft_labels,
      confidence_threshold=settings.confidence_threshold, align=align)
  return outputs, pseudo, weight


def oracle_pseudo_labels(weak_label, teacher_pseudo, teacher_weight, chosen,
                         settings):
  """The weak view's own mask as a pseudo label (a diagnostic, not a method).

  Args:
    weak_label: [B,H,W,1] int32 mask of the weak view; resized nearest to the
      pseudo label's size.
    teacher_pseudo: [B,h,w,C] the teacher's pseudo label ...
    teacher_weight: [B,h,w] ... and its per-pixel weight.
    chosen: [B] bool, the images whose pseudo label is their mask; the others
      keep the teacher's.
    settings: StepSettings (num_classes, ignore_label).

  Returns:
    pseudo: [B,h,w,C] on chosen images the one-hot of the mask (zeros on ignored
      pixels), elsewhere teacher_pseudo.
    weight: [B,h,w] on chosen images 1 where the mask has a class and 0 on
      ignored pixels, elsewhere teacher_weight.
  """
  label = _resize_label(weak_label, tf.shape(teacher_pseudo)[1:3])
  valid = tf.cast(tf.not_equal(label, settings.ignore_label), tf.float32)
  # An out-of-range id (the ignore label included) gives an all-zero row.
  one_hot = tf.one_hot(label, settings.num_classes, dtype=tf.float32)
  chosen = tf.reshape(chosen, [-1, 1, 1])
  return (tf.where(chosen[..., None], one_hot, teacher_pseudo),
          tf.where(chosen, valid, teacher_weight))


def oracle_images(batch_size, share, seed):
  """[B] bool: each image independently True with probability `share`."""
  return tf.random.stateless_uniform([batch_size], seed) < share


def _step_seed(optimizer, settings):
  """[2] int64 stateless seed for this step and replica (same on resume)."""
  replica = tf.distribute.get_replica_context().replica_id_in_sync_group
  return tf.stack([tf.cast(optimizer.iterations, tf.int64),
                   settings.seed * 4096 + tf.cast(replica, tf.int64)])


def cutmix_unlabeled(unl, pseudo, weight, seed, settings):
  """Mixes the strong views and their pseudo labels between unlabeled images.

  Args:
    unl: the unlabeled sub-batch (strong_image, strong_valid, class_labels,
      has_class_labels).
    pseudo: [B,h,w,C] pseudo label of the weak views.
    weight: [B,h,w] its per-pixel weight.
    seed: [2] int stateless seed.
    settings: StepSettings (cutmix_area).

  Returns:
    (dict with the mixed strong_image, strong_valid, class_labels and
    has_class_labels, mixed pseudo, mixed weight).
  """
  image = unl['strong_image']
  boxes = cutmix.sample_boxes(tf.shape(image)[0], settings.cutmix_area, seed)
  image_mask = cutmix.box_masks(boxes, tf.shape(image)[1:3])
  label_mask = cutmix.box_masks(boxes, tf.shape(pseudo)[1:3])
  class_labels, has_class_labels = cutmix.mix_class_labels(
      unl['class_labels'], unl['has_class_labels'])
  mixed = dict(unl, strong_image=cutmix.mix(image, image_mask),
               strong_valid=cutmix.mix(unl['strong_valid'], image_mask),
               class_labels=class_labels, has_class_labels=has_class_labels)
  return mixed, cutmix.mix(pseudo, label_mask), cutmix.mix(weight, label_mask)


def pseudoseg_step(model, optimizer, batch, settings, teacher=None,
                   alignment=None):
  """One PseudoSeg step: labeled losses + consistency on unlabeled images.

  Args:
    model: PseudoSegModel with pseudoseg heads.
    optimizer: Keras optimizer.
    batch: dict with 'labeled' (image, label, valid, class_labels) and 'unlabeled'
      (weak_image, strong_image, weak_valid, strong_valid, class_labels,
      has_class_labels) sub-dicts. With settings.decoder_image_labels the
      unlabeled images' class_labels are the teacher decoder's classes instead,
      and the step runs as in the weakly-labeled mode.
    settings: StepSettings.
    teacher: optional EMA copy of `model` (settings.ema_decay) that makes the
      pseudo labels and follows the model after its update; None: the model
      itself, as the official code.
    alignment: optional core.distribution_alignment.DistributionAlignment that
      re-weights the fused probability (its marginals follow this batch first).

  Returns:
    dict of scalars: loss, sup_loss, sgc_loss, cls_loss, unsup_loss, reg_loss,
    pseudo_confidence (mean max probability of the pseudo labels on valid pixels)
    and pixels_used (share of strong-view pixels in the consistency loss); the
    PSEUDO_LABEL_SCORES when the batch has the masks, with
    oracle_pseudo_labels target_miou, the trained-on label's mIoU (before
    CutMix), and with unsup_rampup_steps unsup_weight, the consistency weight
    of this step.
  """
  lab, unl = batch['labeled'], batch['unlabeled']
  num_labeled = tf.shape(lab['image'])[0]
  weakly = settings.use_image_labels or settings.decoder_image_labels > 0

  # Every random draw of the step comes from this seed (one stream each).
  seed = _step_seed(optimizer, settings)
  # Pseudo labels come from the weak view; the gradient never reaches them
  # (fusion.calibrated_fusion stops it).
  weak_cam_classes = unl['class_labels'] if settings.use_image_labels else None
  align = None
  if alignment is not None:
    def align(prob):
      alignment.update(prob, _resize_mask(unl['weak_valid'], tf.shape(prob)[1:3]),
                       lab['label'])
      return alignment.align(prob)
  teacher_out, weak_pseudo, weak_weight = make_pseudo_labels(
      model if teacher is None else teacher, unl['weak_image'],
      unl['weak_valid'], settings, weak_cam_classes,
      dropout_seed=tf.random.experimental.stateless_fold_in(seed, 2), align=align)
  pseudo, weight = weak_pseudo, weak_weight
  if settings.decoder_image_labels > 0 and not settings.use_image_labels:
    unl = dict(unl, class_labels=teacher_out['cam_classes'],
               has_class_labels=tf.ones_like(unl['has_class_labels']))
  if settings.oracle_pseudo_labels:
    if 'weak_label' not in unl:
      raise ValueError('oracle_pseudo_labels needs the unlabeled views\' masks '
                       '(include_weak_label in the unlabeled stream).')
    chosen = oracle_images(tf.shape(weak_pseudo)[0], settings.oracle_share,
                           tf.random.experimental.stateless_fold_in(seed, 4))
    pseudo, weight = oracle_pseudo_labels(unl['weak_label'], weak_pseudo,
                                          weak_weight, chosen, settings)
    oracle_target = pseudo
  if settings.cutmix:
    unl, pseudo, weight = cutmix_unlabeled(
        unl, pseudo, weight, tf.random.experimental.stateless_fold_in(seed, 0),
        settings)
  feature_keep = None
  if settings.feature_dropout:
    # Only the student's strong views are perturbed, not the labeled images.
    num_unlabeled = tf.shape(unl['strong_image'])[0]
    perturbed = tf.concat([tf.zeros([num_labeled]), tf.ones([num_unlabeled])], 0)
    feature_keep = model_lib.channel_dropout_mask(
        perturbed, model.config.aspp_filters, settings.feature_dropout,
        tf.random.experimental.stateless_fold_in(seed, 1))
  unl_has = tf.cast(unl['has_class_labels'], tf.float32)

  images = tf.concat([lab['image'], unl['strong_image']], 0)
  valid = tf.concat([lab['valid'], unl['strong_valid']], 0)
  cam_classes = (tf.concat([lab['class_labels'], unl['class_labels']], 0)
                 if weakly else None)
  with tf.GradientTape() as tape:
    out = model(images, training=True, cam_classes=cam_classes,
                attention_mask=valid, feature_keep=feature_keep,
                dropout_seed=tf.random.experimental.stateless_fold_in(seed, 3))
    logits_l, logits_u = out['logits'][:num_labeled], out['logits'][num_labeled:]
    sup = losses.softmax_cross_entropy_with_ignore(
        logits_l, lab['label'], ignore_label=settings.ignore_label)
    sgc = losses.softmax_cross_entropy_with_ignore(
        out['sgc_logits'][:num_labeled], lab['label'],
        ignore_label=settings.ignore_label)
    if weakly:
      cls_targets = tf.concat([lab['class_labels'], unl['class_labels']], 0)
      cls_weights = tf.concat([tf.ones([num_labeled]), unl_has], 0)
      cls = losses.multilabel_sigmoid_cross_entropy(
          out['cls_logits'], cls_targets, weights=cls_weights)
    else:
      cls = losses.multilabel_sigmoid_cross_entropy(
          out['cls_logits'][:num_labeled], lab['class_labels'])
    mask = _resize_mask(unl['strong_valid'], tf.shape(logits_u)[1:3]) * weight
    unsup = losses.soft_cross_entropy(logits_u, pseudo, mask)
    reg = _regularization(model)
    unsup_weight = settings.unsup_weight * schedules.sigmoid_rampup(
        optimizer.iterations, settings.unsup_rampup_steps)
    total = (settings.sup_weight * sup + settings.sgc_weight * sgc +
             settings.cls_weight * cls + unsup_weight * unsup + reg)
    scaled = _scale_loss(optimizer, total)
  _apply(model, optimizer, tape, scaled)
  if teacher is not None:
    ema.update(teacher.variables, model.variables,
               ema.ema_decay(settings.ema_decay, optimizer.iterations))

  denom = tf.maximum(tf.reduce_sum(mask), 1.0)
  confidence = tf.reduce_sum(tf.reduce_max(pseudo, -1) * mask) / denom
  used = tf.reduce_mean(mask)
  out = {'loss': total, 'sup_loss': sup, 'sgc_loss': sgc, 'cls_loss': cls,
         'unsup_loss': unsup, 'reg_loss': reg,
         'pseudo_confidence': confidence, 'pixels_used': used}
  if settings.unsup_rampup_steps > 0:
    out['unsup_weight'] = unsup_weight
  if 'weak_label' in unl:
    out.update(score_pseudo_labels(teacher_out, weak_pseudo, unl['weak_label'],
                                   settings))
  if settings.oracle_pseudo_labels:
    out['target_miou'] = _miou(oracle_target, unl['weak_label'], settings)
  return out


def score_pseudo_labels(teacher, pseudo, weak_label, settings):
  """mIoU of the teacher's decoder, SGC and fused pseudo labels vs. the masks.

  A diagnostic (ours): the unlabeled images' masks, when the records carry them,
  show how good each pseudo-label source is. Scored at decoder resolution (masks
  resized nearest), on this batch; the masks never reach a loss.

  Args:
    teacher: the model's outputs on the weak view.
    pseudo: [B,h,w,C] fused pseudo label.
    weak_label: [B,H,W,1] int32 mask of the weak view (255 = ignore).
    settings: StepSettings.

  Returns:
    dict of float32 scalars: decoder_miou, sgc_miou, pseudo_miou.
  """
  sgc = tf.image.resize(teacher['sgc_logits'], tf.shape(pseudo)[1:3],
                        method='bilinear')
  return {name: _miou(scores_map, weak_label, settings)
          for name, scores_map in (('decoder_miou', teacher['logits']),
                                   ('sgc_miou', sgc), ('pseudo_miou', pseudo))}


def _miou(scores_map, weak_label, settings):
  """mIoU of argmax([B,h,w,C] scores) against the mask resized to [h, w]."""
  label = _resize_label(weak_label, tf.shape(scores_map)[1:3])
  prediction = tf.argmax(scores_map, -1, output_type=tf.int32)
  cm = metrics.confusion_matrix(label, prediction, settings.num_classes,
                                ignore_label=settings.ignore_label)
  return metrics.mean_iou(cm)


SUPERVISED_METRICS = ('loss', 'sup_loss', 'reg_loss')
PSEUDOSEG_METRICS = ('loss', 'sup_loss', 'sgc_loss', 'cls_loss', 'unsup_loss',
                     'reg_loss', 'pseudo_confidence', 'pixels_used')
PSEUDO_LABEL_SCORES = ('decoder_miou', 'sgc_miou', 'pseudo_miou')
ORACLE_SCORES = ('target_miou',)  # The label an oracle run trains on.
RAMPUP_METRICS = ('unsup_weight',)  # With unsup_rampup_steps: the weight now.
