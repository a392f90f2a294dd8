"""Where an unlabeled image's classes come from: the three modes of PseudoSeg's CAM.

The CAM of an image keeps the classes it is told are there. Labeled images always have
theirs; for the unlabeled ones:

* `ClassifierClasses` (the paper's unlabeled mode): the classifier's own predictions;
  the classification loss sees the labeled images only.
* `ImageLabels` (the weakly-labeled mode, `use_image_labels`): the images' given
  image-level labels select their CAM classes and supervise the classifier.
* `DecoderImageLabels` (ours, `decoder_image_labels`): the classes the teacher's
  decoder predicts on at least a share of the weak view stand in for image labels.
"""

import functools

import tensorflow as tf

from core import losses
from core.modeling import cam as cam_lib


def from_config(cfg):
  """The class source the config asks for."""
  if cfg.data.use_image_labels:
    return ImageLabels()
  if cfg.pseudo_label.decoder_image_labels:
    return DecoderImageLabels(cfg.pseudo_label.decoder_image_labels)
  return ClassifierClasses()


class ClassifierClasses(object):
  """The classifier's predictions select the unlabeled images' CAM classes."""

  def teacher_inputs(self, unl):
    """Keyword arguments of the teacher's model call on the weak views."""
    del unl
    return {}

  def with_teacher_classes(self, unl, teacher_outputs):
    """The unlabeled sub-batch, with the classes the teacher found if it
    stands in for image labels."""
    del teacher_outputs
    return unl

  def student_cam_classes(self, lab, unl):
    """[B,K] CAM classes of the student's batch (labeled, then unlabeled), or
    None: the classifier's predictions."""
    del lab, unl
    return None

  def classification_loss(self, cls_logits, lab, unl, num_labeled):
    """The classifier's multi-label loss on the student's batch."""
    del unl
    return losses.multilabel_sigmoid_cross_entropy(cls_logits[:num_labeled],
                                                   lab['class_labels'])


class ImageLabels(ClassifierClasses):
  """Given image-level labels select the CAM classes and train the classifier."""

  def teacher_inputs(self, unl):
    return {'cam_classes': unl['class_labels']}

  def student_cam_classes(self, lab, unl):
    return tf.concat([lab['class_labels'], unl['class_labels']], 0)

  def classification_loss(self, cls_logits, lab, unl, num_labeled):
    targets = tf.concat([lab['class_labels'], unl['class_labels']], 0)
    weights = tf.concat([tf.ones([num_labeled]),
                         tf.cast(unl['has_class_labels'], tf.float32)], 0)
    return losses.multilabel_sigmoid_cross_entropy(cls_logits, targets,
                                                   weights=weights)


class DecoderImageLabels(ImageLabels):
  """The teacher decoder's classes stand in for image labels.

  Args:
    min_share: a class is an image's when the decoder's argmax picks it on at
      least this share of the weak view's valid pixels.
  """

  def __init__(self, min_share):
    self.min_share = min_share

  def teacher_inputs(self, unl):
    del unl
    return {'cam_classes': functools.partial(cam_lib.classes_from_logits,
                                             min_share=self.min_share)}

  def with_teacher_classes(self, unl, teacher_outputs):
    return dict(unl, class_labels=teacher_outputs['cam_classes'],
                has_class_labels=tf.ones_like(unl['has_class_labels']))
