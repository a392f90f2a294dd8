"""Smoke runs of the binaries, as a user runs them: train → eval → export.

Each binary runs in a fresh interpreter from the repository root, a few steps of the
smoke preset on the tiny records of conftest.py. One supervised run is shared by the
train, eval and export checks.
"""

import glob
import json
import os
import re
import shutil
import tempfile

from absl.testing import parameterized
import numpy as np
import pytest
import tensorflow as tf

from core.training import run_dir
from tests import testing_utils

pytestmark = pytest.mark.slow


def event_tags(directory):
  """{tag: plugin name} of every summary in the event files under `directory`."""
  tags = {}
  for path in glob.glob(os.path.join(directory, 'events.out.tfevents.*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        tags[value.tag] = value.metadata.plugin_data.plugin_name
  return tags


class TrainSupTest(testing_utils.FixturesMixin, tf.test.TestCase):

  FIXTURES = {('model_dir', 'proc'): 'sup_run', 'records': 'tiny_records'}

  def test_checkpoints_config_and_progress(self):
    self.assertEqual(os.path.basename(tf.train.latest_checkpoint(self.model_dir)),
                     'ckpt-4')
    with open(os.path.join(self.model_dir, 'config.json')) as f:
      saved = json.load(f)
    self.assertEqual(saved['num_classes'], self.records.num_classes)
    self.assertEqual(saved['model']['width_multiplier'], 0.35)
    self.assertEqual(saved['data']['crop_size'], [65, 65])
    self.assertRegex(self.proc.stdout,
                     r'step 4/4 \| loss [0-9.]+ sup_loss [0-9.]+ reg_loss')
    self.assertIn('img/s', self.proc.stdout)

  def test_tensorboard_scalars_and_pictures(self):
    tags = event_tags(os.path.join(self.model_dir, 'train'))
    self.assertEqual(tags.get('losses/loss'), 'scalars')
    self.assertEqual(tags.get('losses/sup_loss'), 'scalars')
    self.assertIn('learning_rate', tags)
    self.assertEqual(tags.get('image_label_prediction'), 'images')


class EvalTest(testing_utils.FixturesMixin, tf.test.TestCase):

  FIXTURES = {('model_dir', None): 'sup_run', 'records': 'tiny_records',
              'binaries': 'binaries'}

  def test_eval_writes_scores_and_summaries(self):
    output = os.path.join(tempfile.mkdtemp(dir=self.get_temp_dir()), 'r.json')
    proc = self.binaries.run_ok('train_sup_eval.py', model_dir=self.model_dir,
                                output_json=output)
    self.assertRegex(proc.stdout, r'mIoU [0-9.]+ \(step 4, 6 images, split val\)')
    with open(output) as f:
      result = json.load(f)
    with open(os.path.join(self.model_dir, 'eval', 'results-4.json')) as f:
      self.assertEqual(json.load(f)['miou'], result['miou'])
    self.assertBetween(result['miou'], 0.0, 1.0)
    self.assertLen(result['per_class_iou'], self.records.num_classes)
    self.assertLen(result['class_names'], self.records.num_classes)
    self.assertEqual(result['num_images'], self.records.num_val)
    self.assertEqual(result['step'], 4)
    self.assertBetween(result['pixel_accuracy'], 0.0, 1.0)
    tags = event_tags(os.path.join(self.model_dir, 'eval'))
    self.assertEqual(tags.get('eval/miou'), 'scalars')

  def test_diagnose_probes_a_supervised_run(self):
    # No classifier, CAM or SGC in a train_sup.py run: only the feature probe.
    output = os.path.join(tempfile.mkdtemp(dir=self.get_temp_dir()), 'd.json')
    proc = self.binaries.run_ok('scripts/diagnose_pseudoseg.py',
                                model_dir=self.model_dir, split='train',
                                eval_size='64,64', image_scale=1.5,
                                output_json=output)
    self.assertRegex(
        proc.stdout,
        r'ckpt-4, \d+ images of train, resized by 1.5 \(inference mode\)')
    self.assertIn('class identity per backbone level', proc.stdout)
    self.assertRegex(proc.stdout, r'= CAM/SGC features: foreground cells')
    self.assertNotIn('pseudo-label mIoU', proc.stdout)
    with open(output) as f:
      report = json.load(f)
    self.assertEqual(report['image_scale'], 1.5)
    probe = report['feature_probe']
    self.assertNotEmpty(probe)
    for result in probe.values():
      self.assertBetween(result['accuracy'], 0.0, 1.0)
    self.assertIn('CAM per backbone level', proc.stdout)
    self.assertRegex(proc.stdout, r'= CAM/SGC features: CAM mIoU 0\.\d{3}')
    levels = report['cam_level_probe']['levels']
    self.assertEqual(set(levels), set(probe))
    for result in levels.values():
      self.assertBetween(result['cam_miou'], 0.0, 1.0)


class ExportTest(testing_utils.FixturesMixin, tf.test.TestCase):

  FIXTURES = {('model_dir', None): 'sup_run', 'binaries': 'binaries',
              'records': 'tiny_records'}

  def test_exported_model_serves_input_size_predictions(self):
    export_dir = os.path.join(tempfile.mkdtemp(dir=self.get_temp_dir()), 'sm')
    self.binaries.run_ok('export_model.py', model_dir=self.model_dir,
                         export_dir=export_dir)
    serve = tf.saved_model.load(export_dir).signatures['serving_images']
    images = tf.constant(
        np.random.RandomState(0).randint(0, 256, (2, 50, 70, 3)), tf.uint8)
    out = serve(images=images)
    self.assertEqual(out['predictions'].shape, (2, 50, 70))
    self.assertEqual(out['probabilities'].shape, (2, 50, 70, 7))
    self.assertAllClose(tf.reduce_sum(out['probabilities'], -1),
                        tf.ones([2, 50, 70]), atol=1e-5)
    self.assertAllInRange(out['predictions'], 0, 6)

  def test_tflite_models_written_and_agree_with_the_saved_model(self):
    export_dir = os.path.join(tempfile.mkdtemp(dir=self.get_temp_dir()), 'sm')
    proc = self.binaries.run_ok(
        'export_model.py', model_dir=self.model_dir, export_dir=export_dir,
        input_size='64,64', tflite=True, tflite_int8=True,
        record_dir=self.records.record_dir, split='train',
        num_representative=8)
    self.assertIn('TFLite model (float32, 64x64) written to %s/model.tflite' %
                  export_dir, proc.stdout)
    self.assertIn('TFLite model (int8, 64x64, calibrated on 8 images of train) '
                  'written to %s/model_int8.tflite' % export_dir, proc.stdout)
    images = np.stack([v['image'] for v in testing_utils.read_split(
        self.records.record_dir, 'val').values()])
    serve = tf.saved_model.load(export_dir).signatures['serving_images']
    expected = serve(images=tf.constant(images))['predictions'].numpy()
    for name, floor in (('model.tflite', 0.99), ('model_int8.tflite', 0.0)):
      runner = tf.lite.Interpreter(model_path=os.path.join(
          export_dir, name)).get_signature_runner()
      served = np.concatenate([runner(images=image[None])['predictions']
                               for image in images])
      self.assertEqual(served.shape, expected.shape)
      self.assertAllInRange(served, 0, self.records.num_classes - 1)
      # int8: a 4-step model's near-uniform probabilities leave no margin to
      # measure agreement on (export_test.py measures it on a fitted model).
      self.assertGreaterEqual((served == expected).mean(), floor, name)

  def test_tflite_int8_without_the_split_fails_before_the_export(self):
    export_dir = os.path.join(tempfile.mkdtemp(dir=self.get_temp_dir()), 'sm')
    proc = self.binaries.run(
        'export_model.py', model_dir=self.model_dir, export_dir=export_dir,
        input_size='64,64', tflite_int8=True,
        record_dir=self.records.record_dir, split='no_such_split')
    self.assertEqual(proc.returncode, 1, proc.stdout[-2000:])
    self.assertIn("FATAL No TFRecord shards for split 'no_such_split'",
                  proc.stdout)
    self.assertFalse(os.path.exists(export_dir))


class UnusableRunDirTest(testing_utils.FixturesMixin, tf.test.TestCase,
                         parameterized.TestCase):
  """Eval and export refuse a run they cannot load, in one line."""

  FIXTURES = {('model_dir', None): 'sup_run', 'binaries': 'binaries'}

  def _copy_of_the_run(self):
    copy = os.path.join(tempfile.mkdtemp(dir=self.get_temp_dir()), 'run')
    shutil.copytree(self.model_dir, copy)
    return copy

  def _assert_one_fatal_line(self, proc, expected):
    self.assertEqual(proc.returncode, 1, msg=proc.stdout[-3000:])
    errors = [l for l in proc.stdout.splitlines() if 'FATAL' in l]
    self.assertLen(errors, 1, msg=proc.stdout[-3000:])
    self.assertRegex(errors[0], expected)
    self.assertNotIn('Traceback', proc.stdout)

  @parameterized.parameters('train_sup_eval.py', 'export_model.py')
  def test_checkpoints_without_config_json(self, script):
    model_dir = self._copy_of_the_run()
    os.remove(os.path.join(model_dir, run_dir.CONFIG_FILENAME))
    export_dir = os.path.join(self.get_temp_dir(), 'never_written')
    flag_values = dict(model_dir=model_dir)
    if script == 'export_model.py':
      flag_values['export_dir'] = export_dir
    proc = self.binaries.run(script, timeout=120, **flag_values)
    self._assert_one_fatal_line(
        proc, r'^FATAL %s holds checkpoints \(latest ckpt-4\) but no '
        r'config.json, which says how to rebuild their model' %
        re.escape(model_dir))
    self.assertFalse(os.path.exists(export_dir))

  @parameterized.parameters('train_sup_eval.py', 'export_model.py')
  def test_checkpoint_with_an_inf_moving_variance(self, script):
    model_dir = self._copy_of_the_run()
    model, _, _, _ = run_dir.load_trained_model(model_dir)
    variances = [v for v in model.non_trainable_variables
                 if 'moving_variance' in v.name]
    variance = variances[len(variances) // 2]
    variance.assign(tf.tensor_scatter_nd_update(variance, [[0]], [np.inf]))
    path = tf.train.Checkpoint(model=model).save(
        os.path.join(model_dir, 'diverged'))
    export_dir = os.path.join(self.get_temp_dir(), 'never_written')
    flag_values = dict(model_dir=model_dir, checkpoint=path)
    if script == 'export_model.py':
      flag_values['export_dir'] = export_dir
    proc = self.binaries.run(script, timeout=120, **flag_values)
    self._assert_one_fatal_line(
        proc, r"^FATAL Checkpoint %s holds NaN or infinite values in 1 "
        r"variable\(s\) of its 'model' \(model/%s\): the run had diverged" %
        (re.escape(path), re.escape(variance.name)))
    self.assertFalse(os.path.exists(export_dir))
    step = path.rsplit('-', 1)[1]  # The refused checkpoint is never scored.
    self.assertFalse(os.path.exists(
        os.path.join(model_dir, 'eval', 'results-%s.json' % step)))


class DivergedRunTest(testing_utils.FixturesMixin, tf.test.TestCase):

  def test_no_checkpoint_of_a_diverged_run_holds_a_nan_or_an_inf(self):
    # With this learning rate the loss stays finite for a few steps while
    # batch norm's moving variances overflow.
    model_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    proc = self.binaries.run('train_sup.py', **self.smoke_flags(
        self.records, model_dir, base_learning_rate=1000.0, train_steps=12,
        summary_every=100, image_summary_every=100))
    self.assertEqual(proc.returncode, 1, msg=proc.stdout[-3000:])
    errors = [l for l in proc.stdout.splitlines() if 'FATAL' in l]
    self.assertLen(errors, 1, msg=proc.stdout[-3000:])
    match = re.match(r'FATAL Training diverged at step (\d+): .*The last good '
                     r'checkpoint is (\S+);', errors[0])
    self.assertIsNotNone(match, msg=errors[0])
    named = match.group(2)
    self.assertEqual(named, tf.train.latest_checkpoint(model_dir))
    self.assertLess(int(named.rsplit('-', 1)[1]), int(match.group(1)))
    testing_utils.assert_checkpoints_finite(self, model_dir)


class TrainWssTest(testing_utils.FixturesMixin, tf.test.TestCase,
                   parameterized.TestCase):

  # The semi runs also score their pseudo labels against the records' masks
  # (one with the decoder's classes as image labels); the weakly-labeled one
  # ramps its consistency weight up.
  @parameterized.named_parameters(('semi_scored', False, 0.0),
                                  ('semi_decoder_image_labels', False, 0.05),
                                  ('weakly_labeled', True, 0.0))
  def test_train_wss_runs_and_logs(self, use_image_labels, decoder_image_labels):
    model_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    scored = not use_image_labels
    ramped = use_image_labels
    proc = self.binaries.run_ok('train_wss.py', **self.smoke_flags(
        self.records, model_dir, unlabeled_ids=self.records.unlabeled_ids,
        use_image_labels=use_image_labels, score_pseudo_labels=scored,
        unsup_rampup_steps=8 if ramped else 0,
        decoder_image_labels=decoder_image_labels))
    # An 8-step ramp-up, logged as the mean over the loop's steps (2 a loop;
    # steps count from 0): steps 2 and 3 give (e^-2.8125 + e^-1.953125) / 2.
    self.assertEqual('unsup_weight 0.1009 |' in proc.stdout, ramped,
                     msg=proc.stdout[-2000:])
    self.assertRegex(proc.stdout, r'step 4/4 \| loss [0-9.]+ .*unsup_loss '
                     r'[0-9.]+ .*pixels_used [0-9.]+')
    self.assertEqual(os.path.basename(tf.train.latest_checkpoint(model_dir)),
                     'ckpt-4')
    with open(os.path.join(model_dir, 'config.json')) as f:
      saved = json.load(f)
    self.assertTrue(saved['model']['pseudoseg_heads'])
    self.assertEqual(saved['data']['use_image_labels'], use_image_labels)
    self.assertEqual(saved['pseudo_label']['decoder_image_labels'],
                     decoder_image_labels)
    tags = event_tags(os.path.join(model_dir, 'train'))
    self.assertEqual(tags.get('metrics/unsup_weight'),
                     'scalars' if ramped else None)
    for name in ('losses/unsup_loss', 'losses/sgc_loss', 'losses/cls_loss',
                 'metrics/pixels_used', 'metrics/pseudo_confidence'):
      self.assertEqual(tags.get(name), 'scalars', msg=name)
    for name in ('decoder_miou', 'sgc_miou', 'pseudo_miou'):
      self.assertEqual(tags.get('metrics/' + name),
                       'scalars' if scored else None, msg=name)
      self.assertEqual(name in proc.stdout, scored, msg=name)
    if scored:  # scripts/diagnose_pseudoseg.py on the same run.
      out_json = os.path.join(model_dir, 'diag.json')
      proc = self.binaries.run_ok(
          'scripts/diagnose_pseudoseg.py', model_dir=model_dir,
          split='train', max_batches=2, output_json=out_json)
      self.assertRegex(proc.stdout, r'pseudo-label mIoU: decoder 0\.\d{3} '
                       r'\(among the true classes 0\.\d{3}\) \| SGC')
      with open(out_json) as f:
        report = json.load(f)
      self.assertEqual(report['num_images'], 2)  # Batch 1 without --eval_size.
      self.assertFalse(report['distribution_alignment'])
      self.assertIn('CAM, true classes', proc.stdout)
      self.assertBetween(report['cam_true_classes_miou'], 0.0, 1.0)
      self.assertIn('object-vs-background AUC median CAM', proc.stdout)
      self.assertGreater(report['num_localized'], 0)
      self.assertBetween(report['cam_auc_median'], 0.0, 1.0)
      self.assertGreater(report['seg_grad_norm'], 0.0)
      self.assertIn("the decoder's classes (>= 2% of the pixels)", proc.stdout)
      self.assertBetween(report['decoder_classes_f1'], 0.0, 1.0)
      self.assertIn('class identity per backbone level', proc.stdout)
      self.assertNotEmpty(report['feature_probe'])
    pictures = [t for t, plugin in tags.items() if plugin == 'images']
    self.assertNotEmpty(pictures, msg=str(tags))

  def test_ema_teacher_cutmix_and_alignment_train_resume_and_score(self):
    model_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    flag_values = self.smoke_flags(
        self.records, model_dir, unlabeled_ids=self.records.unlabeled_ids,
        ema_decay=0.9, cutmix=True, distribution_alignment=0.9)
    self.binaries.run_ok('train_wss.py', **flag_values)
    names = [n for n, _ in tf.train.list_variables(model_dir)]
    self.assertTrue(any(n.startswith('teacher/') for n in names))
    for marginal in ('prediction_marginal', 'label_marginal'):
      self.assertIn('distribution_alignment/%s/.ATTRIBUTES/VARIABLE_VALUE' %
                    marginal, names)
    tags = event_tags(os.path.join(model_dir, 'train'))
    self.assertEqual(tags.get('cutmix_strong_pseudo'), 'images', msg=str(tags))
    # Resume: the teacher comes back from the checkpoint with the model.
    proc = self.binaries.run_ok('train_wss.py',
                                **dict(flag_values, train_steps=6))
    self.assertRegex(proc.stdout, r'Resumed from \S+ckpt-4 at step 4')
    self.assertRegex(proc.stdout, r'step 6/6 \| loss')
    scores = {}
    for weights in ('model', 'teacher'):
      output = os.path.join(model_dir, weights + '.json')
      self.binaries.run_ok('train_sup_eval.py', model_dir=model_dir,
                           weights=weights, output_json=output)
      with open(output) as f:
        scores[weights] = json.load(f)
      self.assertEqual(scores[weights]['weights'], weights)
      self.assertEqual(scores[weights]['step'], 6)
      self.assertBetween(scores[weights]['miou'], 0.0, 1.0)
    # The diagnosis aligns the fused label with the run's saved marginals.
    out_json = os.path.join(model_dir, 'diag.json')
    proc = self.binaries.run_ok(
        'scripts/diagnose_pseudoseg.py', model_dir=model_dir, split='train',
        max_batches=2, output_json=out_json)
    self.assertRegex(proc.stdout, r"aligned with the run's class marginals at "
                     r'\S+ckpt-6 \(--distribution_alignment=0.9\)')
    with open(out_json) as f:
      report = json.load(f)
    self.assertTrue(report['distribution_alignment'])
    self.assertBetween(report['fused_miou'], 0.0, 1.0)

  def test_export_teacher_serves_the_teachers_predictions(self):
    model_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    self.binaries.run_ok('train_wss.py', **self.smoke_flags(
        self.records, model_dir, unlabeled_ids=self.records.unlabeled_ids,
        ema_decay=0.9))
    images = tf.constant(
        np.random.RandomState(1).randint(0, 256, (2, 50, 70, 3)), tf.uint8)
    served, restored = {}, {}
    for weights in ('model', 'teacher'):
      export_dir = os.path.join(tempfile.mkdtemp(dir=self.get_temp_dir()), 'sm')
      self.binaries.run_ok('export_model.py', model_dir=model_dir,
                           export_dir=export_dir, weights=weights)
      serve = tf.saved_model.load(export_dir).signatures['serving_images']
      served[weights] = serve(images=images)['probabilities'].numpy()
      model, _, _, path = run_dir.load_trained_model(model_dir, name=weights)
      self.assertEqual(os.path.basename(path), 'ckpt-4')
      logits = model(tf.cast(images, tf.float32) / 255.0,
                     training=False)['logits']
      restored[weights] = tf.nn.softmax(tf.image.resize(
          logits, (50, 70), method='bilinear')).numpy()
      self.assertAllClose(served[weights], restored[weights], atol=1e-5,
                          msg=weights)
    # Teacher and model differ by far more than the serving tolerance above
    # (~7e-4 after 4 smoke steps, whose moving statistics keep the
    # probabilities near uniform), and the teacher's export is the teacher's:
    # --weights=teacher did not export the model.
    gap = np.abs(restored['teacher'] - restored['model']).max()
    self.assertGreater(gap, 2e-4)
    self.assertGreater(np.abs(served['teacher'] - restored['model']).max(),
                       0.5 * gap)

  def test_teacher_flags_on_a_run_without_teacher_fail_clearly(self):
    model_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    flag_values = self.smoke_flags(
        self.records, model_dir, unlabeled_ids=self.records.unlabeled_ids)
    self.binaries.run_ok('train_wss.py', **flag_values)
    proc = self.binaries.run('train_sup_eval.py', model_dir=model_dir,
                             weights='teacher')
    self.assertNotEqual(proc.returncode, 0)
    self.assertRegex(proc.stdout, r"ckpt-4 holds no 'teacher'")
    export_dir = os.path.join(tempfile.mkdtemp(dir=self.get_temp_dir()), 'sm')
    proc = self.binaries.run('export_model.py', model_dir=model_dir,
                             export_dir=export_dir, weights='teacher')
    self.assertNotEqual(proc.returncode, 0)
    self.assertRegex(proc.stdout, r"ckpt-4 holds no 'teacher' \(runs with "
                     r"--ema_decay save a 'teacher'\)")
    self.assertFalse(os.path.exists(export_dir))
    proc = self.binaries.run('train_wss.py', **dict(
        flag_values, train_steps=6, ema_decay=0.9))
    self.assertNotEqual(proc.returncode, 0)
    self.assertRegex(proc.stdout, r'holds a checkpoint of another model.*'
                     r'ema_teacher.ema_decay: 0.0 \(saved\) vs 0.9 \(now\)')
    # Nothing was lost: the run's checkpoint and config are still the ones it had.
    self.assertEqual(os.path.basename(tf.train.latest_checkpoint(model_dir)),
                     'ckpt-4')
    with open(os.path.join(model_dir, 'config.json')) as f:
      self.assertEqual(json.load(f)['ema_teacher']['ema_decay'], 0.0)
    proc = self.binaries.run('train_wss.py', **dict(flag_values, cutmix_area=0.0))
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn('--cutmix_area must be in (0, 1], got 0.0', proc.stdout)
    proc = self.binaries.run('train_wss.py', **dict(flag_values, oracle_share=0.5))
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn('--oracle_share needs --oracle_pseudo_labels', proc.stdout)
    proc = self.binaries.run('train_wss.py', **dict(
        flag_values, oracle_pseudo_labels=True, oracle_share=1.5))
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn('--oracle_share must be in [0, 1], got 1.5', proc.stdout)
    proc = self.binaries.run('train_wss.py', **dict(flag_values,
                                                    unsup_rampup_steps=-1))
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn('--unsup_rampup_steps must be >= 0, got -1', proc.stdout)
    proc = self.binaries.run('train_wss.py', **dict(flag_values, cam_level='top'))
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn('--cam_level must be "" or a backbone level', proc.stdout)
    proc = self.binaries.run('train_wss.py', **dict(flag_values,
                                                    decoder_image_labels=1.5))
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn('--decoder_image_labels must be in [0, 1], got 1.5',
                  proc.stdout)
    proc = self.binaries.run('train_wss.py', **dict(
        flag_values, decoder_image_labels=0.05, use_image_labels=True))
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn('--decoder_image_labels is for the unlabeled mode',
                  proc.stdout)


if __name__ == '__main__':
  tf.test.main()
