"""Tests for core/diagnostics.py (tiny model, hand-made masks)."""

import dataclasses

import numpy as np
import tensorflow as tf

from core import config
from core.modeling import model as model_lib
from research import diagnostics

_CROP = 33
_NUM_CLASSES = 4


def _model(**overrides):
  cfg = dataclasses.replace(config.smoke().model, pseudoseg_heads=True,
                            **overrides)
  return model_lib.build_model(cfg, _NUM_CLASSES, (_CROP, _CROP))


def _batches():
  """Two batches of 2 images; classes present: {1}, {1, 3}, {}, {2}."""
  labels = np.zeros((4, _CROP, _CROP, 1), np.int32)
  labels[0, :10, :10] = 1
  labels[1, :10, :10] = 1
  labels[1, 20:, 20:] = 3
  labels[3, 5:15, 5:25] = 2
  labels[:, 0, :] = 255
  images = tf.random.stateless_uniform([4, _CROP, _CROP, 3], [1, 2])
  data = {'image': images, 'label': tf.constant(labels),
          'valid': tf.ones([4, _CROP, _CROP])}
  return tf.data.Dataset.from_tensor_slices(data).batch(2)


def _numpy_miou(cm):
  """mIoU of a confusion matrix over the classes in the truth or the prediction."""
  with np.errstate(invalid='ignore'):
    iou = np.diag(cm) / (cm.sum(0) + cm.sum(1) - np.diag(cm))
  return np.nanmean(np.where(cm.sum(0) + cm.sum(1) > 0, iou, np.nan))


class DiagnosticsTest(tf.test.TestCase):

  def test_binary_entropy(self):
    self.assertAllClose(diagnostics._binary_entropy(0.5), np.log(2.0))
    self.assertAllClose(diagnostics._binary_entropy(0.25),
                        -(0.25 * np.log(0.25) + 0.75 * np.log(0.75)))

  def test_rescale_batch_doubles_by_hand(self):
    label = np.array([[0, 1], [2, 255]], np.int32)
    batch = {'image': tf.constant([[[[0.0] * 3, [1.0] * 3], [[0.5] * 3, [0.25] * 3]]]),
             'label': tf.constant(label[np.newaxis, ..., np.newaxis]),
             'valid': tf.constant([[[1.0, 1.0], [1.0, 0.0]]]),
             'filename': tf.constant(['a']), 'height': tf.constant([2]),
             'width': tf.constant([1])}
    out = diagnostics.rescale_batch(batch, 2.0)
    self.assertAllEqual(out['height'], [4])
    self.assertAllEqual(out['width'], [2])
    # Nearest neighbour at an exact factor 2 repeats every pixel into a 2x2 block.
    self.assertAllEqual(out['label'][0, ..., 0],
                        np.repeat(np.repeat(label, 2, 0), 2, 1))
    self.assertAllEqual(out['valid'][0],
                        [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 0, 0]])
    self.assertEqual(out['image'].shape, (1, 4, 4, 3))
    self.assertAllInRange(out['image'], 0.0, 1.0)
    self.assertAllClose(out['image'][0, 0, 0], [0.0] * 3)  # Corner keeps its value.
    self.assertEqual(out['filename'].numpy()[0], b'a')
    self.assertEqual(diagnostics.rescale_batch(batch, 0.5)['label'].shape,
                     (1, 1, 1, 1))
    self.assertIs(diagnostics.rescale_batch(batch, 1.0), batch)
    with self.assertRaisesRegex(ValueError, 'scale must be > 0'):
      diagnostics.rescale_batch(batch, 0.0)

  def test_auc_against_hand_values(self):
    # Positives 3 and 1 against negatives 1, 2, 0: 3 beats all three; 1 ties
    # one (1/2), loses one, beats one: (3 + 1.5) / 6.
    self.assertAllClose(diagnostics._auc(np.array([3.0, 1.0]),
                                         np.array([1.0, 2.0, 0.0])), 0.75)
    self.assertAllClose(diagnostics._auc(np.array([5.0]), np.array([5.0])), 0.5)

  def test_localization_scores_by_hand(self):
    # One 3x5 image: class 1 in column 0, class 2 at (0, 4), an ignored pixel at
    # (2, 4), background elsewhere (10 pixels).
    label = np.zeros((1, 3, 5), np.int32)
    label[0, :, 0] = 1
    label[0, 0, 4] = 2
    label[0, 2, 4] = 255
    maps = np.zeros((1, 3, 5, 3), np.float32)
    # Class 1: its pixels 0.9, 0.5, 0.1; background 0.5 at (1, 2), 0.2 at
    # (0, 1), 0 on the other 8; class 2's pixel (0.7) and the ignored pixel (1.0)
    # take no part in the AUC.
    maps[0, :, 0, 0] = [0.9, 0.5, 0.1]
    maps[0, 1, 2, 0] = 0.5
    maps[0, 0, 1, 0] = 0.2
    maps[0, 0, 4, 0] = 0.7
    maps[0, 2, 4, 0] = 1.0
    # Class 2: peak at (2, 2), two columns off its pixel; its own pixel 0.3
    # beats 9 of the 10 background pixels (0) and loses to (2, 2).
    maps[0, 2, 2, 1] = 0.8
    maps[0, 0, 4, 1] = 0.3
    present = np.array([[1.0, 1.0, 1.0]])  # Class 3 has no pixel: skipped.
    aucs, hits = diagnostics.localization_scores(maps, label, present,
                                                 tolerance=1)
    # Class 1: 0.9 beats all 10; 0.5 beats 9, ties 1; 0.1 beats the 8 zeros.
    self.assertAllClose(aucs, [(10 + 9.5 + 8) / 30, 9 / 10])
    # Class 1 peaks on the ignored pixel, 4 columns from column 0: a miss;
    # class 2's peak is 2 away: a miss at tolerance 1, a hit at 2.
    self.assertAllEqual(hits, [False, False])
    _, hits = diagnostics.localization_scores(maps, label, present, tolerance=2)
    self.assertAllEqual(hits, [False, True])
    _, hits = diagnostics.localization_scores(maps, label, present, tolerance=4)
    self.assertAllEqual(hits, [True, True])

  def test_report_counts_from_the_masks(self):
    report = diagnostics.pseudo_label_report(_model(), _batches(), _NUM_CLASSES)
    self.assertEqual(report['num_images'], 4)
    # 4 of the 12 (image, class) entries are present: always-absent is right
    # on 8 / 12, and the prior is 1/3.
    self.assertAllClose(report['always_absent_accuracy'], 8 / 12)
    self.assertAllClose(report['prior_entropy'],
                        diagnostics._binary_entropy(1 / 3))
    for name in ('decoder_miou', 'decoder_true_classes_miou', 'sgc_miou',
                 'sgc_true_classes_miou',
                 'cam_true_classes_miou', 'fused_miou', 'classifier_accuracy',
                 'classifier_f1', 'decoder_classes_accuracy',
                 'decoder_classes_f1',
                 'cam_auc_median', 'decoder_auc_median', 'cam_pointing',
                 'decoder_pointing'):
      self.assertBetween(report[name], 0.0, 1.0, msg=name)
    self.assertGreater(report['classifier_loss'], 0.0)
    self.assertEqual(report['num_localized'], 4)  # Every present class.
    # max_batches: only the first batch.
    self.assertEqual(diagnostics.pseudo_label_report(
        _model(), _batches(), _NUM_CLASSES, max_batches=1)['num_images'], 2)

  def test_f1_by_hand(self):
    predicted = np.array([[1, 0, 1], [0, 0, 1]], np.float32)
    present = np.array([[1, 1, 0], [0, 0, 1]], np.float32)
    self.assertAllClose(diagnostics._f1(predicted, present), 2 * 2 / (3 + 3))
    self.assertEqual(diagnostics._f1(np.zeros(3), np.zeros(3)), 0.0)

  def test_decoder_classes_against_numpy(self):
    # The classes the decoder gives at least 2% of an image's pixels (logits
    # upsampled to the image), against the masks' classes.
    model = _model()
    report = diagnostics.pseudo_label_report(model, _batches(), _NUM_CLASSES)
    found, present = [], []
    for batch in _batches():
      label = batch['label'].numpy()[..., 0]
      logits = model(batch['image'], training=False,
                     attention_mask=batch['valid'])['logits']
      picked = tf.image.resize(logits, [_CROP, _CROP]).numpy().argmax(-1)
      for image_picked, image_label in zip(picked, label):
        shares = np.bincount(image_picked.ravel(), minlength=_NUM_CLASSES)
        found.append(shares[1:] / image_picked.size >= 0.02)
        present.append([np.any(image_label == c)
                        for c in range(1, _NUM_CLASSES)])
    found, present = np.array(found), np.array(present)
    self.assertAllClose(report['decoder_classes_accuracy'],
                        np.mean(found == present))
    self.assertAllClose(report['decoder_classes_f1'],
                        diagnostics._f1(found.astype(np.float32),
                                        present.astype(np.float32)))
    # With the run's --decoder_image_labels, the teacher's CAM (and so its
    # SGC and fused label) keeps the decoder's classes.
    decoder_cam = diagnostics.pseudo_label_report(
        model, _batches(), _NUM_CLASSES, cam_class_min_share=0.02)
    self.assertAllClose(decoder_cam['decoder_miou'], report['decoder_miou'])
    self.assertAllClose(decoder_cam['cam_true_classes_miou'],
                        report['cam_true_classes_miou'])

  def test_decoder_among_the_true_classes_against_numpy(self):
    # The decoder's argmax over the background and each image's own classes.
    model = _model()
    report = diagnostics.pseudo_label_report(model, _batches(), _NUM_CLASSES)
    cm = np.zeros((_NUM_CLASSES, _NUM_CLASSES), np.int64)
    for batch in _batches():
      label = batch['label'].numpy()[..., 0]
      logits = model(batch['image'], training=False,
                     attention_mask=batch['valid'])['logits']
      logits = tf.image.resize(logits, [_CROP, _CROP]).numpy()
      for image_logits, image_label in zip(logits, label):
        allowed = [c for c in range(_NUM_CLASSES)
                   if c == 0 or np.any(image_label == c)]
        prediction = np.array(allowed)[image_logits[..., allowed].argmax(-1)]
        keep = image_label != 255
        np.add.at(cm, (image_label[keep], prediction[keep]), 1)
    self.assertAllClose(report['decoder_true_classes_miou'], _numpy_miou(cm),
                        atol=1e-6)

  def test_align_reaches_the_fused_label_only(self):
    # An `align` that keeps only the background: the fused label is background
    # everywhere, scored by hand: 4224 valid pixels, 3675 of them background;
    # the other three classes get IoU 0.
    model = _model()
    plain = diagnostics.pseudo_label_report(model, _batches(), _NUM_CLASSES)
    aligned = diagnostics.pseudo_label_report(
        model, _batches(), _NUM_CLASSES,
        align=lambda prob: prob * tf.one_hot(0, _NUM_CLASSES))
    self.assertAllClose(aligned['fused_miou'], 3675 / 4224 / 4)
    self.assertAllClose(aligned['decoder_miou'], plain['decoder_miou'])
    self.assertAllClose(aligned['sgc_miou'], plain['sgc_miou'])

  def test_cam_with_true_classes_against_numpy(self):
    # The CAM given the true classes, background = 1 - max, scored by hand.
    model = _model()
    report = diagnostics.pseudo_label_report(model, _batches(), _NUM_CLASSES)
    cm = np.zeros((_NUM_CLASSES, _NUM_CLASSES), np.int64)
    aucs, hits = [], []
    for batch in _batches():
      label = batch['label'].numpy()[..., 0]
      present = np.zeros((label.shape[0], _NUM_CLASSES - 1), np.float32)
      for i, image_label in enumerate(label):
        for c in range(1, _NUM_CLASSES):
          present[i, c - 1] = float(np.any(image_label == c))
      cam = model(batch['image'], training=False, attention_mask=batch['valid'],
                  cam_classes=tf.constant(present))['cam'].numpy()
      scores = np.concatenate([1.0 - cam.max(-1, keepdims=True), cam], -1)
      scores = tf.image.resize(scores, [_CROP, _CROP]).numpy()
      a, h = diagnostics.localization_scores(scores[..., 1:], label, present)
      aucs.append(a)
      hits.append(h)
      prediction = scores.argmax(-1)
      keep = label != 255
      np.add.at(cm, (label[keep], prediction[keep]), 1)
    self.assertAllClose(report['cam_true_classes_miou'], _numpy_miou(cm),
                        atol=1e-6)
    # Localisation on the same upsampled CAM (localization_scores is checked
    # by hand above); graph and eager maps differ in the last bits, which can
    # turn a near-tie of two pixels.
    self.assertAllClose(report['cam_auc_median'],
                        np.median(np.concatenate(aucs)), atol=1e-4)
    self.assertAllClose(report['cam_pointing'], np.mean(np.concatenate(hits)))

  def test_gradient_norms_repeat(self):
    # Training mode with dropout on: one fixed draw, the same norms each time.
    model = _model()
    self.assertGreater(model.config.aspp_dropout, 0.0)
    batch = next(iter(_batches().unbatch().batch(4)))
    first = diagnostics.trunk_gradient_norms(model, batch['image'],
                                             batch['label'])
    self.assertEqual(diagnostics.trunk_gradient_norms(
        model, batch['image'], batch['label']), first)

  def test_gradient_norms_follow_the_grad_scale(self):
    batch = next(iter(_batches().unbatch().batch(4)))
    norms = {}
    for scale in (1.0, 0.1):
      tf.keras.utils.set_random_seed(3)  # Same weights and dropout for both.
      model = _model(cls_feature_grad_scale=scale, cls_dropout=0.0)
      norms[scale] = diagnostics.trunk_gradient_norms(
          model, batch['image'], batch['label'])
    tf.random.set_seed(None)
    self.assertGreater(norms[1.0]['cls_grad_norm'], 0.0)
    self.assertGreater(norms[1.0]['seg_grad_norm'], 0.0)
    self.assertAllClose(norms[0.1]['cls_grad_norm'],
                        0.1 * norms[1.0]['cls_grad_norm'], rtol=1e-3)
    self.assertAllClose(norms[0.1]['seg_grad_norm'],
                        norms[1.0]['seg_grad_norm'], rtol=1e-3)
