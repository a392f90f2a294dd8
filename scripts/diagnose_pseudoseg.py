r"""Measures why a PseudoSeg run's pseudo labels help or not (needs masks to score).

Usage:
  python scripts/diagnose_pseudoseg.py --model_dir=runs/main/seed0/pseudoseg \
      --split=train --eval_size=128,128 [--max_batches=20] [--output_json=diag.json] \
      [--image_scale=1.25]

Prints, for the run's latest checkpoint (inference mode, whole images of --split;
a train_sup.py run gets the last part only):
the mIoU of the decoder (as it predicts, and among each image's true classes only:
what image labels alone would give it), of the SGC (predicted classes / true classes), of the CAM
itself given the true classes (what the SGC refines) and of the calibrated fusion
(distribution-aligned with the run's saved marginals when it trained with it);
how well the CAM (true classes) and the decoder localise each class present: the
median AUC with which a class's map ranks its pixels above the background's, and
how often the map peaks on the class (within 8 px);
the classifier's accuracy next to always answering "absent" and its loss next to
the label prior's entropy; and the gradient norms that the
classification and segmentation losses send into the shared backbone on one batch;
and, per backbone level, how well a linear probe tells the classes apart from that
level's features (core/feature_probe.py): the classifier, CAM and SGC read the last
level (or --cam_level), so if it cannot tell the classes apart they cannot either;
and, per level, how well the CAM of a classifier fitted there on the frozen features
(image labels from the masks) localises the classes: which --cam_level would serve.
--image_scale resizes the images (and masks) first: how the maps localise when the
same objects span more (or fewer) cells of the stride-16 grid.
"unlabeled" images of the embedded set and of VOC train_aug have masks: score them.
"""

# First: keeps TensorFlow's start-up noise off the screen (launch/quiet_start.py).
from launch import quiet_start  # pylint: disable=unused-import,g-bad-import-order

import json
import os

from absl import flags
import tensorflow as tf

from cli import experiment_lib
from core.pseudoseg import distribution_alignment
from core.training import run_dir
from launch import app as launch_app
from research import diagnostics
from research import feature_probe

_MODEL_DIR = flags.DEFINE_string('model_dir', None,
                                 'A train_wss.py run (or train_sup.py: probe only).',
                                 required=True)
_RECORD_DIR = flags.DEFINE_string(
    'record_dir', '', 'Records to score; default: the run\'s --record_dir.')
_SPLIT = flags.DEFINE_string('split', 'train', 'Split to score (with masks).')
_EVAL_SIZE = flags.DEFINE_list(
    'eval_size', [], '"height,width" every image is padded to; default: each '
    'image padded to its own size, batch 1.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 8, 'Images per batch.')
_MAX_BATCHES = flags.DEFINE_integer('max_batches', 20, 'Batches to score.')
_OUTPUT_JSON = flags.DEFINE_string('output_json', '', 'Also write results here.')
_IMAGE_SCALE = flags.DEFINE_float(
    'image_scale', 1.0, 'Resize every (padded) image and its mask by this factor '
    'before scoring: the same scenes with objects that many times larger in '
    'pixels. Scores are taken at the new size.')
flags.register_validator('image_scale', lambda scale: scale > 0,
                         message='--image_scale must be > 0.')
# Share of a grid cell's pixels its class must hold for the probe to use the cell.
_PURITY = 0.75
# Share of an image's pixels the decoder must give a class for it to count as
# present (the classes per image printed beside the classifier's).
_DECODER_CLASS_SHARE = 0.02


def _print_pseudo_label_report(report):
  print('  pseudo-label mIoU: decoder %.3f (among the true classes %.3f) | SGC '
        '%.3f (true classes %.3f) | CAM, true classes %.3f | fused %.3f' % (
            report['decoder_miou'], report['decoder_true_classes_miou'],
            report['sgc_miou'], report['sgc_true_classes_miou'],
            report['cam_true_classes_miou'], report['fused_miou']))
  print('  localisation, per image and class present: object-vs-background AUC '
        'median CAM %.3f, decoder %.3f | peak on the object (8 px) CAM %.3f, '
        'decoder %.3f | %d pairs' % (
            report['cam_auc_median'], report['decoder_auc_median'],
            report['cam_pointing'], report['decoder_pointing'],
            report['num_localized']))
  print('  classifier: accuracy %.3f (always "absent": %.3f), F1 %.3f, loss '
        '%.3f (prior entropy %.3f) | the decoder\'s classes (>= %g%% of the '
        'pixels): accuracy %.3f, F1 %.3f' % (
            report['classifier_accuracy'], report['always_absent_accuracy'],
            report['classifier_f1'], report['classifier_loss'],
            report['prior_entropy'], 100 * _DECODER_CLASS_SHARE,
            report['decoder_classes_accuracy'], report['decoder_classes_f1']))
  print('  gradient norm on the shared backbone: classification %.3f, '
        'segmentation %.3f' % (report['cls_grad_norm'], report['seg_grad_norm']))


def _print_probe(probe, num_classes, cam_level):
  print('  class identity per backbone level (linear probe on cells >= %d%% one '
        'class, fit on even images, scored on odd; foreground cells: is the best '
        'foreground class theirs? chance 1/%d):' % (round(100 * _PURITY),
                                                   num_classes - 1))
  for key, result in probe.items():
    print('    level %s (stride %d, %d ch)%s: foreground cells %.3f, all cells '
          '%.3f (all background: %.3f), %d cells scored' % (
              key, result['stride'], result['depth'],
              ' = CAM/SGC features' if key == cam_level else '',
              result['foreground_accuracy'], result['accuracy'],
              result['background_share'], result['num_test']))


def _print_cam_levels(probe, cam_level):
  print('  CAM per backbone level (GAP + linear classifier fitted on the frozen '
        'features of %d images, image labels from their masks; its CAM given '
        'the true classes on %d others; the decoder on those: %.3f):' % (
            probe['num_fitted'], probe['num_scored'], probe['decoder_miou']))
  for key, result in probe['levels'].items():
    print('    level %s (stride %d)%s: CAM mIoU %.3f, classifier accuracy %.3f '
          '(always "absent": %.3f)' % (
              key, result['stride'],
              ' = CAM/SGC features' if key == cam_level else '',
              result['cam_miou'], result['classifier_accuracy'],
              result['always_absent_accuracy']))


def _restore_alignment(cfg, num_classes, path):
  """The `align` of a run trained with --distribution_alignment, else None."""
  if not cfg.alignment.distribution_alignment:
    return None
  alignment = distribution_alignment.DistributionAlignment(
      num_classes, cfg.alignment.distribution_alignment)
  run_dir.restore_model(alignment, path, name='distribution_alignment')
  print('The fused label is aligned with the run\'s class marginals at %s '
        '(--distribution_alignment=%g).' % (
            path, cfg.alignment.distribution_alignment))
  return alignment.align


def main(argv):
  del argv
  model, cfg, num_classes, path = run_dir.load_trained_model(_MODEL_DIR.value)
  descriptor, files = experiment_lib.eval_records(
      cfg, num_classes, _RECORD_DIR.value, _SPLIT.value, _MODEL_DIR.value)
  eval_size = tuple(int(x) for x in _EVAL_SIZE.value) or None
  dataset = experiment_lib.eval_dataset(files, eval_size, _BATCH_SIZE.value)
  if _IMAGE_SCALE.value != 1.0:
    dataset = dataset.map(
        lambda batch: diagnostics.rescale_batch(batch, _IMAGE_SCALE.value))
  report = {'checkpoint': path, 'split': _SPLIT.value,
            'image_scale': _IMAGE_SCALE.value}
  probe = feature_probe.class_identity_probe(
      model, dataset, num_classes, ignore_label=descriptor.ignore_label,
      purity=_PURITY, max_batches=_MAX_BATCHES.value)
  report['feature_probe'] = probe
  print('%s, %d images of %s%s (inference mode):' % (
      path, next(iter(probe.values()))['num_images'], _SPLIT.value,
      ', resized by %g' % _IMAGE_SCALE.value if _IMAGE_SCALE.value != 1.0
      else ''))
  # Supervised runs have no classifier, CAM or SGC: only the probe applies.
  if cfg.model.pseudoseg_heads:
    align = _restore_alignment(cfg, num_classes, path)
    report['distribution_alignment'] = align is not None
    report.update(diagnostics.pseudo_label_report(
        model, dataset, num_classes, ignore_label=descriptor.ignore_label,
        temperature=cfg.pseudo_label.temperature,
        logit_norm=cfg.pseudo_label.logit_norm, max_batches=_MAX_BATCHES.value,
        align=align,
        cam_class_min_share=cfg.pseudo_label.decoder_image_labels or None,
        decoder_class_share=_DECODER_CLASS_SHARE))
    batch = next(iter(dataset))
    report.update(diagnostics.trunk_gradient_norms(
        model, batch['image'], batch['label'],
        ignore_label=descriptor.ignore_label))
    _print_pseudo_label_report(report)
  _print_probe(probe, num_classes, model.cam_level)
  report['cam_level_probe'] = feature_probe.cam_level_probe(
      model, dataset, num_classes, ignore_label=descriptor.ignore_label,
      max_batches=_MAX_BATCHES.value)
  _print_cam_levels(report['cam_level_probe'], model.cam_level)
  if _OUTPUT_JSON.value:
    with open(_OUTPUT_JSON.value, 'w') as f:
      json.dump(report, f, indent=2, sort_keys=True)


if __name__ == '__main__':
  launch_app.run(main)
