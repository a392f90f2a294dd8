"""Why does (or doesn't) PseudoSeg help? Measurements on a trained PseudoSeg model.

Two reports, both on images whose masks are known (the masks only score, never train):

* `pseudo_label_report`: mIoU of each pseudo-label source of the teacher, on whole
  images: the decoder, the SGC (with the classes the classifier predicts, and with the
  true classes), the CAM itself with the true classes (background = 1 - max, as
  displayed), the calibrated fusion; plus the classifier's per-entry accuracy next
  to that of always answering "absent", and its sigmoid cross-entropy next to the
  entropy of the label prior (a classifier that learned nothing sits at both); and
  how well the CAM (true classes) and the decoder localise each class present
  (`localization_scores`: threshold-free, so a CAM that ranks the right pixels
  first but is cut at the wrong level is told apart from one that looks elsewhere).
* `trunk_gradient_norms`: global norm of the gradient that the classification loss
  and the segmentation loss each send into the backbone variables they share.
"""

import functools

import numpy as np
import tensorflow as tf

from augment import weak
from core.evaluation import metrics
from core import losses
from core.modeling import cam as cam_lib
from core.pseudoseg import fusion
from datasets import input_pipeline


def _binary_entropy(p):
  p = np.clip(p, 1e-7, 1 - 1e-7)
  return float(-(p * np.log(p) + (1 - p) * np.log(1 - p)))


def _auc(positive, negative):
  """Probability that a positive score exceeds a negative one (ties count 1/2)."""
  negative = np.sort(negative)
  below = np.searchsorted(negative, positive, side='left')
  not_above = np.searchsorted(negative, positive, side='right')
  return float(np.mean(below + 0.5 * (not_above - below)) / negative.size)


def localization_scores(class_maps, label, present, tolerance=8):
  """How well per-class maps pick out where each class present is.

  For every (image, present class c) with at least one pixel of c and one of
  background: the AUC with which map c ranks c's pixels above the background's
  (pixels of other classes and ignored pixels take no part), and whether map c
  peaks within `tolerance` pixels (Chebyshev distance) of a pixel of c (the
  "pointing game").

  Args:
    class_maps: [batch, height, width, K] float, map c - 1 for class c, at the
      label's resolution.
    label: [batch, height, width] int; 0 background, 1..K classes, other values
      not scored.
    present: [batch, K] multi-hot of the classes to score.
    tolerance: pixels a peak may lie off the class's pixels and still count.

  Returns:
    (aucs, hits): float and bool numpy arrays, one entry per scored pair.
  """
  aucs, hits = [], []
  for maps, image_label, image_present in zip(class_maps, label, present):
    background = image_label == 0
    for k in np.flatnonzero(image_present):
      inside = image_label == k + 1
      if not inside.any() or not background.any():
        continue
      aucs.append(_auc(maps[..., k][inside], maps[..., k][background]))
      y, x = np.unravel_index(np.argmax(maps[..., k]), inside.shape)
      hits.append(bool(inside[max(0, y - tolerance):y + tolerance + 1,
                              max(0, x - tolerance):x + tolerance + 1].any()))
  return np.array(aucs, np.float64), np.array(hits, bool)


def rescale_batch(batch, scale):
  """Resizes an evaluation batch by `scale`: the same scenes, objects `scale`x larger.

  For asking how a map's localisation depends on object size in pixels (the
  network's receptive field and stride stay what they are). The image is resized
  bilinearly with antialiasing and clipped to [0, 1]; label and valid mask by
  nearest neighbour; the scores are then taken at the new size.

  Args:
    batch: dict with 'image' [B,H,W,3], 'label' [B,H,W,1] and 'valid' [B,H,W];
      the original sizes 'height' and 'width' [B], if there, are scaled too
      (other entries are passed through).
    scale: python float > 0.

  Returns:
    The batch with those three resized to round([H, W] * scale) (at least 1).
  """
  if scale <= 0:
    raise ValueError('scale must be > 0, got %r' % scale)
  if scale == 1.0:
    return batch
  size = weak.scaled_size(tf.shape(batch['image'])[1:3], scale)
  out = dict(batch)
  out['image'] = tf.clip_by_value(
      tf.image.resize(batch['image'], size, antialias=True), 0.0, 1.0)
  out['label'] = tf.image.resize(batch['label'], size, method='nearest')
  out['valid'] = tf.image.resize(batch['valid'][..., tf.newaxis], size,
                                 method='nearest')[..., 0]
  for key in ('height', 'width'):
    if key in batch:
      out[key] = tf.cast(weak.scaled_size(batch[key], scale), batch[key].dtype)
  return out


def _f1(predicted, present):
  """F1 of multi-hot predictions (0 when nothing is predicted or present)."""
  hits = float(np.sum(predicted * present))
  return 2.0 * hits / max(float(np.sum(predicted) + np.sum(present)), 1.0)


def pseudo_label_report(model, dataset, num_classes, ignore_label=255,
                        temperature=0.5, logit_norm='global', max_batches=None,
                        align=None, cam_class_min_share=None,
                        decoder_class_share=0.02):
  """Scores the teacher's pseudo-label sources on a data set with masks.

  The model runs in inference mode. Scores are at the image size (logits
  upsampled bilinearly).

  Args:
    model: a `PseudoSegModel` with pseudoseg heads.
    dataset: yields dicts with 'image' [B,H,W,3], 'label' [B,H,W,1] and 'valid'
      [B,H,W] (as `datasets.input_pipeline.eval_dataset`).
    num_classes: C.
    ignore_label: label value not scored.
    temperature: sharpening of the fused label (argmax is unaffected).
    logit_norm: calibrated-fusion normalisation.
    max_batches: stop early.
    align: optional fusion.calibrated_fusion `align` (the distribution
      alignment of a run trained with it), applied to the fused label.
    cam_class_min_share: the --decoder_image_labels of a run trained with it
      (its teacher's CAM keeps the decoder's classes); None: the classifier's.
    decoder_class_share: the share of an image's valid pixels that the
      decoder must give a class for it to count as present in
      'decoder_classes_*' (cam.classes_from_logits).

  Returns:
    dict: 'decoder_miou', 'sgc_miou', 'sgc_true_classes_miou',
    'cam_true_classes_miou', 'fused_miou', 'decoder_true_classes_miou' (the
    decoder's prediction among the background and the mask's classes only:
    what knowing each image's classes alone would give it),
    'cam_auc_median', 'decoder_auc_median', 'cam_pointing', 'decoder_pointing',
    'num_localized' (`localization_scores` of the CAM given the true classes
    and of the decoder's class probabilities, over `num_localized` pairs),
    'classifier_accuracy', 'always_absent_accuracy', 'classifier_f1',
    'classifier_loss', 'prior_entropy', 'decoder_classes_accuracy',
    'decoder_classes_f1' (the classes per image of the classifier and of the
    decoder against those in the mask), 'num_images'.
  """
  names = ('decoder', 'sgc', 'sgc_true_classes', 'cam_true_classes', 'fused',
           'decoder_true_classes')
  teacher_cam_classes = (None if cam_class_min_share is None else
                         functools.partial(cam_lib.classes_from_logits,
                                           min_share=cam_class_min_share))

  @tf.function(autograph=False)
  def score(batch):
    images, label = batch['image'], batch['label']
    present = input_pipeline.batch_class_multi_hot(label, num_classes)
    out = model(images, training=False, attention_mask=batch['valid'],
                cam_classes=teacher_cam_classes)
    given = model(images, training=False, attention_mask=batch['valid'],
                  cam_classes=present)
    fused, _ = fusion.calibrated_fusion(
        out['logits'], out['sgc_logits'], temperature=temperature,
        logit_norm=logit_norm, pseudo_src='avg', align=align)
    size = tf.shape(images)[1:3]
    # Every source at the image size, the decoder's logits first.
    sources = [tf.image.resize(scores, size) for scores in (
        out['logits'], out['sgc_logits'], given['sgc_logits'],
        cam_lib.cam_with_background(given['cam']), fused)]
    decoder_logits = sources[0]
    with_background = tf.concat([tf.ones_like(present[:, :1]), present], -1)
    sources.append(tf.where(with_background[:, None, None, :] > 0,
                            decoder_logits, decoder_logits.dtype.min))
    cms = []
    for scores in sources:
      prediction = tf.argmax(scores, -1, output_type=tf.int32)
      cms.append(metrics.confusion_matrix(label, prediction, num_classes,
                                          ignore_label=ignore_label))
    predicted = tf.cast(tf.sigmoid(out['cls_logits']) >= 0.5, tf.float32)
    decoder_classes = cam_lib.classes_from_logits(
        decoder_logits, batch['valid'], decoder_class_share)
    loss = tf.nn.sigmoid_cross_entropy_with_logits(labels=present,
                                                   logits=out['cls_logits'])
    maps = (tf.image.resize(given['cam'], size),
            tf.nn.softmax(decoder_logits)[..., 1:])
    return cms, present, predicted, decoder_classes, loss, maps

  cms = [np.zeros((num_classes, num_classes), np.int64) for _ in names]
  present, predicted, decoder_classes, loss = [], [], [], []
  localized = {'cam': ([], []), 'decoder': ([], [])}
  for i, batch in enumerate(dataset):
    if max_batches is not None and i >= max_batches:
      break
    batch_cms, p, q, d, l, maps = score(batch)
    cms = [a + b.numpy() for a, b in zip(cms, batch_cms)]
    present.append(p.numpy())
    predicted.append(q.numpy())
    decoder_classes.append(d.numpy())
    loss.append(l.numpy())
    label = batch['label'].numpy()[..., 0]
    for (aucs, hits), class_maps in zip(localized.values(), maps):
      a, h = localization_scores(class_maps.numpy(), label, p.numpy())
      aucs.append(a)
      hits.append(h)
  if not present:
    raise ValueError('The data set is empty.')
  present, predicted = np.concatenate(present), np.concatenate(predicted)
  decoder_classes = np.concatenate(decoder_classes)
  report = {'%s_miou' % n: metrics.iou_from_confusion(cm)[0]
            for n, cm in zip(names, cms)}
  for name, (aucs, hits) in localized.items():
    aucs, hits = np.concatenate(aucs), np.concatenate(hits)
    report['%s_auc_median' % name] = (float(np.median(aucs)) if aucs.size
                                      else float('nan'))
    report['%s_pointing' % name] = (float(np.mean(hits)) if hits.size
                                    else float('nan'))
  # The CAM and the decoder are scored on the same pairs.
  report['num_localized'] = int(sum(a.size for a in localized['cam'][0]))
  report.update(
      classifier_accuracy=float(np.mean(predicted == present)),
      always_absent_accuracy=float(np.mean(present == 0)),
      classifier_f1=_f1(predicted, present),
      decoder_classes_accuracy=float(np.mean(decoder_classes == present)),
      decoder_classes_f1=_f1(decoder_classes, present),
      classifier_loss=float(np.mean(np.concatenate(loss))),
      prior_entropy=_binary_entropy(float(np.mean(present))),
      num_images=int(present.shape[0]))
  return report


def trunk_gradient_norms(model, images, label, ignore_label=255):
  """Gradient norms of the classification and segmentation losses on the trunk.

  Args:
    model: a `PseudoSegModel` with pseudoseg heads.
    images: [B,H,W,3] float in [0, 1].
    label: [B,H,W,1] int32 mask.
    ignore_label: label value ignored by both losses.

  Returns:
    dict: 'cls_grad_norm' and 'seg_grad_norm', global norms over the backbone
    variables that both losses reach (training mode, batch statistics, one
    fixed dropout draw).
  """
  num_classes = model.num_classes
  present = input_pipeline.batch_class_multi_hot(label, num_classes)
  with tf.GradientTape(persistent=True) as tape:
    # A fixed dropout draw, so that the report repeats.
    out = model(images, training=True, dropout_seed=tf.constant([0, 0]))
    cls = losses.multilabel_sigmoid_cross_entropy(out['cls_logits'], present)
    seg = losses.softmax_cross_entropy_with_ignore(out['logits'], label,
                                                   ignore_label=ignore_label)
  variables = model.backbone.trainable_variables
  cls_grads = tape.gradient(cls, variables)
  seg_grads = tape.gradient(seg, variables)
  del tape
  shared = [(c, s) for c, s in zip(cls_grads, seg_grads)
            if c is not None and s is not None]
  return {
      'cls_grad_norm': float(tf.linalg.global_norm([c for c, _ in shared])),
      'seg_grad_norm': float(tf.linalg.global_norm([s for _, s in shared])),
  }
