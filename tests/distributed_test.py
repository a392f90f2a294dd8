"""Training under tf.distribute: MirroredStrategy on two logical CPUs, multi-worker.

Logical devices must be configured before TensorFlow initialises, and pytest runs all
test files in one (long initialised) process, so each check runs in a fresh
interpreter started with `sys.executable` from the repository root; it prints one
JSON line that the test reads. Multi-worker runs two such workers on localhost with
TF_CONFIG naming two free ports.
"""

import json
import os
import socket
import subprocess
import tempfile

import pytest
import tensorflow as tf

from tests import testing_utils

pytestmark = pytest.mark.slow

_TWO_CPUS = r'''
import tensorflow as tf
_cpu = tf.config.list_physical_devices('CPU')[0]
tf.config.set_logical_device_configuration(
    _cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
'''

# A batch of 4 as two replicas' halves (after `strategy` is defined).
_SPLIT = r'''
def split(array):
  def value_fn(ctx):
    i = ctx.replica_id_in_sync_group
    return tf.constant(array[2 * i:2 * i + 2])
  return strategy.experimental_distribute_values_from_function(value_fn)
'''

# The PseudoSeg step through TrainLoop under MirroredStrategy on 2 logical CPUs.
_MIRRORED_STEPS = _TWO_CPUS + r'''
import dataclasses
import functools
import json
import sys

import numpy as np

from core import config
from core.modeling import model as model_lib
from core.tasks import pseudoseg as pseudoseg_task
from core.training import trainer

model_dir = sys.argv[1]
strategy = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
num_classes, crop, global_batch = 5, 65, 4
base = config.smoke()
train_cfg = dataclasses.replace(base.train, train_steps=4, steps_per_loop=2,
                                checkpoint_every=2)


def per_replica(ctx):
  b = ctx.get_per_replica_batch_size(global_batch)
  rng = np.random.RandomState(ctx.input_pipeline_id)
  label = rng.randint(0, num_classes, (b, crop, crop, 1)).astype(np.int32)
  labeled = {
      'image': rng.rand(b, crop, crop, 3).astype(np.float32),
      'label': label,
      'valid': np.ones((b, crop, crop), np.float32),
      'class_labels': np.ones((b, num_classes - 1), np.float32),
  }
  weak = rng.rand(b, crop, crop, 3).astype(np.float32)
  unlabeled = {
      'weak_image': weak, 'strong_image': weak[:, :, ::-1],
      'weak_valid': np.ones((b, crop, crop), np.float32),
      'strong_valid': np.ones((b, crop, crop), np.float32),
      'class_labels': np.ones((b, num_classes - 1), np.float32),
      'has_class_labels': np.ones((b,), bool),
  }
  return labeled, unlabeled


result = {'replicas': strategy.num_replicas_in_sync}
# The supervised step runs under MirroredStrategy in the train_sup.py test below;
# each extra model here costs ~25 s of tracing on 2 CPU cores. The second run adds
# the EMA teacher (merge_call update of mirrored and batch-norm variables) and
# CutMix (per-replica seeds); the third accumulates the gradients of two
# micro-batches per step, with the all-reduces of the global logit norm and of
# distribution alignment inside each micro-batch.
for name, options in (('pseudoseg', {}),
                      ('pseudoseg_ema_cutmix', {'ema_decay': 0.9,
                                                'cutmix': True}),
                      ('pseudoseg_accum', {'grad_accum_steps': 2,
                                           'ema_decay': 0.9,
                                           'distribution_alignment': 0.5})):
  cfg = config.override(
      dataclasses.replace(base, train=train_cfg), pseudoseg_heads=True,
      use_image_labels=True, **options)
  task = pseudoseg_task.PseudoSegTask(cfg, num_classes)
  with strategy.scope():
    model = model_lib.build_model(cfg.model, num_classes, (crop, crop))
    optimizer = trainer.make_optimizer(train_cfg)
    optimizer.build(model.trainable_variables)
    task.build_state(model)
  teacher = task.teacher(model) if options else None
  initial = model.head.trainable_variables[-2].numpy()

  def dataset_fn(ctx, start_step):
    labeled, unlabeled = per_replica(ctx)
    element = {'labeled': labeled, 'unlabeled': unlabeled}
    return tf.data.Dataset.from_tensors(element).repeat()

  loop = trainer.TrainLoop(
      strategy, model, optimizer,
      functools.partial(task.train_step, model, optimizer), dataset_fn,
      model_dir + '/' + name, train_cfg, images_per_step=global_batch,
      checkpoint_objects=task.checkpoint_items() or None)
  last = loop.run(task.metric_names())
  kernel = model.head.trainable_variables[-2]
  copies = [v.numpy() for v in strategy.experimental_local_results(kernel)]
  result[name] = {
      'metrics': last,
      'step': int(optimizer.iterations.numpy()),
      'copies': len(copies),
      'copies_equal': bool(all(np.array_equal(copies[0], c) for c in copies)),
  }
  if teacher is not None:
    t_kernel = teacher.head.trainable_variables[-2]
    t_copies = [v.numpy() for v in strategy.experimental_local_results(t_kernel)]
    # A batch-norm moving mean (sync-on-read): equal on both replicas too.
    t_mean = [v for v in teacher.variables if 'moving_mean' in v.name][-1]
    m_copies = [v.numpy() for v in strategy.experimental_local_results(t_mean)]
    result[name].update(
        teacher_copies_equal=bool(
            all(np.array_equal(t_copies[0], c) for c in t_copies) and
            all(np.array_equal(m_copies[0], c) for c in m_copies)),
        # Strictly between where the model started and where it is now.
        teacher_moved=float(np.abs(t_copies[0] - initial).max()),
        teacher_lags=float(np.abs(t_copies[0] - copies[0]).max()))
print(json.dumps(result))
'''

# The full supervised and PseudoSeg (+ EMA teacher, distribution alignment)
# steps through TrainLoop on 2 replicas vs one device with the global batch,
# step by step (see test_full_steps_match_one_device_step_by_step).
_MIRRORED_EQUALS_ONE_DEVICE = _TWO_CPUS + r'''
import dataclasses
import functools
import json
import os
import sys

import numpy as np

from core import config
from core.modeling import model as model_lib
from core.tasks import pseudoseg as pseudoseg_task
from core.tasks import supervised
from core.training import trainer

model_dir = sys.argv[1]
num_classes, crop, global_batch, steps = 5, 65, 4, 2
half = global_batch // 2
base = config.smoke()
# No dropout: its masks are drawn per replica (the step seed is salted with the
# replica id), so no split of the batch could match one device's. CAM threshold
# 0 (every class): at initialisation the classifier's sigmoids sit next to the
# default 0.5, where a float-sized difference between the two runs could flip
# a CAM class and change the step by a jump instead of a rounding error.
model_cfg = dataclasses.replace(base.model, pseudoseg_heads=True,
                                aspp_dropout=0.0, cls_dropout=0.0,
                                cam_threshold=0.0)
train_cfg = dataclasses.replace(base.train, train_steps=steps, steps_per_loop=1,
                                checkpoint_every=1, keep_checkpoints=steps + 1)
rng = np.random.RandomState(0)
# Both replicas get the same images (tiled twice on one device), each its own
# labels and image labels: batch-norm statistics, which Mirrored computes per
# replica, are then those of the global batch, while the losses and gradients
# still differ between the replicas.
images = rng.rand(half, crop, crop, 3).astype(np.float32)
weak = rng.rand(half, crop, crop, 3).astype(np.float32)
strong = np.clip(weak[:, :, ::-1] * 1.3, 0.0, 1.0).astype(np.float32)
labels = rng.randint(0, num_classes, (global_batch, crop, crop, 1)).astype(
    np.int32)
class_labels = rng.randint(0, 2, (global_batch, num_classes - 1)).astype(
    np.float32)


def batch_of(b, first):
  """A batch of `b` images (the halves tiled), labels from index `first`."""
  tile = lambda a: np.concatenate([a] * (b // half))
  ones = np.ones((b, crop, crop), np.float32)
  labeled = {'image': tile(images), 'label': labels[first:first + b],
             'valid': ones, 'class_labels': class_labels[first:first + b]}
  unlabeled = {'weak_image': tile(weak), 'strong_image': tile(strong),
               'weak_valid': ones, 'strong_valid': ones,
               'class_labels': class_labels[first:first + b],
               'has_class_labels': np.ones((b,), bool)}
  return labeled, unlabeled


def dataset_fn(kind, ctx, start_step):
  # One input pipeline feeds both local replicas, element j to replica j.
  b = ctx.get_per_replica_batch_size(global_batch)
  elements = []
  for j in range(global_batch // b):
    labeled, unlabeled = batch_of(b, j * b)
    elements.append(labeled if kind == 'supervised' else
                    {'labeled': labeled, 'unlabeled': unlabeled})
  stacked = tf.nest.map_structure(lambda *a: np.stack(a), *elements)
  return tf.data.Dataset.from_tensor_slices(stacked).repeat()


tf.keras.utils.set_random_seed(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
initial = model_lib.build_model(model_cfg, num_classes, (crop, crop)).get_weights()


def build(strategy, kind):
  """(objects to checkpoint, step fn, metric names), built in `strategy`'s scope."""
  with strategy.scope():
    model = model_lib.build_model(model_cfg, num_classes, (crop, crop))
    model.set_weights(initial)
    optimizer = trainer.make_optimizer(train_cfg)
    optimizer.build(model.trainable_variables)
    objects = {'model': model, 'optimizer': optimizer}
    cfg = dataclasses.replace(base, model=model_cfg, train=train_cfg)
    if kind == 'supervised':
      task = supervised.SupervisedTask(cfg, num_classes)
    else:
      task = pseudoseg_task.PseudoSegTask(
          config.override(cfg, ema_decay=0.9, distribution_alignment=0.5),
          num_classes)
      task.build_state(model)
      objects.update(task.checkpoint_items())
    step_fn = functools.partial(task.train_step, model, optimizer)
    return objects, step_fn, task.metric_names()


def train(strategy, kind, objects, step_fn, names, run_dir, until):
  cfg = dataclasses.replace(train_cfg, train_steps=until)
  extra = {k: v for k, v in objects.items() if k not in ('model', 'optimizer')}
  loop = trainer.TrainLoop(strategy, objects['model'], objects['optimizer'],
                           step_fn, functools.partial(dataset_fn, kind), run_dir,
                           cfg, images_per_step=global_batch,
                           checkpoint_objects=extra)
  return loop.run(names)


def state(objects):
  """{part: [(name, numpy value)]} of one-device objects."""
  return {part: [(v.name, v.numpy()) for v in objects[part].variables]
          for part in ('model', 'teacher', 'distribution_alignment')
          if part in objects}


one = tf.distribute.OneDeviceStrategy('/cpu:0')
two = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
result = {'replicas': two.num_replicas_in_sync}
for kind in ('supervised', 'pseudoseg_ema_da'):
  mirrored_dir = os.path.join(model_dir, kind, 'two')
  objects, step_fn, names = build(two, kind)
  metrics = train(two, kind, objects, step_fn, names, mirrored_dir, steps)
  mirrored_copies_equal = True
  for part in ('model', 'teacher'):
    if part in objects:
      for v in objects[part].variables:
        copies = [c.numpy() for c in two.experimental_local_results(v)]
        mirrored_copies_equal &= all(np.array_equal(copies[0], c)
                                     for c in copies)
  # One device, one step at a time from where the mirrored run stood before
  # that step (its checkpoint), compared with where it stood after it.
  probe, _, _ = build(one, kind)
  per_step = []
  for step in range(1, steps + 1):
    objects, step_fn, names = build(one, kind)
    if step > 1:
      tf.train.Checkpoint(**objects).restore(
          os.path.join(mirrored_dir, 'ckpt-%d' % (step - 1))
      ).assert_existing_objects_matched()
    before = state(objects)
    train(one, kind, objects, step_fn, names,
          os.path.join(model_dir, kind, 'one%d' % step), step)
    after = state(objects)
    tf.train.Checkpoint(**probe).restore(
        os.path.join(mirrored_dir, 'ckpt-%d' % step)
    ).assert_existing_objects_matched()
    mirrored = state(probe)
    report = {}
    for part in after:
      err = update = err2 = update2 = 0.0
      ratio = [np.inf, -np.inf]
      for (name, b), (_, a), (_, m) in zip(before[part], after[part],
                                           mirrored[part]):
        if 'moving_variance' in name:
          r = m / a
          ratio = [min(ratio[0], float(r.min())), max(ratio[1], float(r.max()))]
        else:
          err = max(err, float(np.abs(m - a).max()))
          update = max(update, float(np.abs(a - b).max()))
          err2 += float(np.sum(np.square(m - a)))
          update2 += float(np.sum(np.square(a - b)))
      # Max abs (for the record) and the L2 norm over all of the part's
      # variables (the moving variances aside), which the test compares.
      report[part] = {'err': err, 'update': update, 'err_l2': err2 ** 0.5,
                      'update_l2': update2 ** 0.5}
      if np.isfinite(ratio[0]):
        report[part]['variance_ratio'] = ratio
    if 'teacher' in after:
      # What one more EMA update (a second replica's, say) would move the
      # teacher by: (1 - d) (student - teacher).
      d = min(0.9, (1.0 + step) / (10.0 + step))
      report['teacher']['double_update_l2'] = float(sum(
          np.sum(np.square((1 - d) * (s - t)))
          for (name, s), (_, t) in zip(after['model'], after['teacher'])
          if 'moving_variance' not in name) ** 0.5)
    per_step.append(report)
  result[kind] = {'metrics': metrics, 'copies_equal': bool(mirrored_copies_equal),
                  'steps': per_step}
print(json.dumps(result))
'''

# One worker of a 2-worker MultiWorkerMirroredStrategy (cluster from TF_CONFIG).
_WORKER = r'''
import functools
import json
import os
import sys

import numpy as np
import tensorflow as tf

from core import config
from core.tasks import supervised
from core.training import trainer

strategy = trainer.get_strategy('multi_worker')
index = json.loads(os.environ['TF_CONFIG'])['task']['index']


class TinySegmenter(tf.keras.Model):
  """Two convs; returns {'logits'} like PseudoSegModel."""

  def __init__(self):
    super().__init__()
    self.conv1 = tf.keras.layers.Conv2D(8, 3, padding='same', activation='relu')
    self.conv2 = tf.keras.layers.Conv2D(3, 1)

  def call(self, images, training=False, dropout_seed=None):
    del training, dropout_seed  # No batch norm, no dropout.
    return {'logits': self.conv2(self.conv1(images))}


train_cfg = config.TrainConfig(train_steps=4, steps_per_loop=2,
                               checkpoint_every=2, summary_every=2,
                               base_learning_rate=0.1, batch_size=4)
with strategy.scope():
  model = TinySegmenter()
  model(tf.zeros([1, 8, 8, 3]))
  optimizer = trainer.make_optimizer(train_cfg)
  optimizer.build(model.trainable_variables)


def dataset_fn(ctx, start_step):
  b = ctx.get_per_replica_batch_size(train_cfg.batch_size)
  rng = np.random.RandomState(ctx.input_pipeline_id)
  images = rng.rand(8, 8, 8, 3).astype(np.float32)
  labels = (images[..., :1] * 3).astype(np.int32)
  data = tf.data.Dataset.from_tensor_slices({'image': images, 'label': labels})
  return data.repeat().batch(b, drop_remainder=True)


task = supervised.SupervisedTask(config.ExperimentConfig(train=train_cfg), 3)
loop = trainer.TrainLoop(
    strategy, model, optimizer,
    functools.partial(task.train_step, model, optimizer),
    dataset_fn, sys.argv[1], train_cfg, images_per_step=train_cfg.batch_size)
last = loop.run(task.metric_names())
print(json.dumps({'index': index, 'replicas': strategy.num_replicas_in_sync,
                  'step': int(optimizer.iterations.numpy()), 'metrics': last,
                  'kernel_sum': float(tf.reduce_sum(model.conv2.kernel))}))
'''


# Distribution alignment's marginals on 2 replicas vs one device with the batch.
_ALIGNMENT = _TWO_CPUS + r'''
import json
import numpy as np

from core.pseudoseg import distribution_alignment

rng = np.random.RandomState(0)
prob = rng.dirichlet(np.ones(4), size=(4, 3, 3)).astype(np.float32)
# The halves differ: replica 1 has fewer valid pixels and other labels.
valid = np.ones([4, 3, 3], np.float32)
valid[2:, 0] = 0.0
label = rng.randint(0, 4, size=(4, 5, 5, 1)).astype(np.int32)
label[2:] = np.where(label[2:] == 3, 255, label[2:])

single = distribution_alignment.DistributionAlignment(4, 0.5)
single.update(prob, valid, label)
expected = single.align(prob).numpy()

strategy = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
with strategy.scope():
  da = distribution_alignment.DistributionAlignment(4, 0.5)

''' + _SPLIT + r'''

@tf.function
def step(p, v, l):
  def fn(p, v, l):
    da.update(p, v, l)
    return da.align(p)
  return strategy.run(fn, args=(p, v, l))


aligned = step(split(prob), split(valid), split(label))
aligned = np.concatenate([t.numpy() for t in
                          strategy.experimental_local_results(aligned)])
print(json.dumps({
    'replicas': strategy.num_replicas_in_sync,
    'prediction_err': float(np.abs(da.prediction_marginal.numpy() -
                                   single.prediction_marginal.numpy()).max()),
    'label_err': float(np.abs(da.label_marginal.numpy() -
                              single.label_marginal.numpy()).max()),
    'aligned_err': float(np.abs(aligned - expected).max()),
}))
'''


# The 'global' logit norm of core.fusion on 2 replicas vs one device with the batch.
_FUSION_NORM = _TWO_CPUS + r'''
import json
import numpy as np

from core.pseudoseg import fusion

strategy = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
rng = np.random.RandomState(0)
# The two halves of the batch have very different logit scales, so a per-replica
# RMS differs clearly from the global one.
dec = rng.randn(4, 6, 6, 3).astype(np.float32)
sgc = rng.randn(4, 3, 3, 3).astype(np.float32)
dec[2:] *= 5.0
sgc[2:] *= 4.0

''' + _SPLIT + r'''

def distributed(logit_norm):
  @tf.function
  def step(d, s):
    return strategy.run(
        lambda a, b: fusion.calibrated_fusion(a, b, logit_norm=logit_norm),
        args=(d, s))
  label, weight = step(split(dec), split(sgc))
  gather = lambda v: np.concatenate(
      [t.numpy() for t in strategy.experimental_local_results(v)])
  return gather(label), gather(weight)


full, _ = fusion.calibrated_fusion(dec, sgc, logit_norm='global')
full = full.numpy()
global_label, global_weight = distributed('global')
replica_label, _ = distributed('replica')
# Cross-replica context (inside the scope, outside strategy.run): local, no error.
with strategy.scope():
  scoped, _ = fusion.calibrated_fusion(dec, sgc, logit_norm='global')
print(json.dumps({
    'replicas': strategy.num_replicas_in_sync,
    'global_err': float(np.abs(global_label - full).max()),
    'global_weight_ok': bool(global_weight.shape == (4, 6, 6)),
    'replica_err': float(np.abs(replica_label - full).max()),
    'scoped_err': float(np.abs(scoped.numpy() - full).max()),
}))
'''


def _free_port():
  with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _last_json(output):
  """The script's JSON line (gRPC may log after it at exit)."""
  lines = [l for l in output.splitlines() if l.startswith('{"')]
  if not lines:
    raise AssertionError('No JSON result in:\n' + output[-3000:])
  return json.loads(lines[-1])


class MirroredTest(testing_utils.FixturesMixin, tf.test.TestCase):

  def test_pseudoseg_step_through_train_loop_on_two_replicas(self):
    model_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    # Two training loops on two replicas: ~2 min alone on 2 cores, past the default
    # 300 s guard when other TensorFlow jobs share the cores (a hang guard only).
    proc = self.binaries.run_python(_MIRRORED_STEPS, [model_dir], timeout=900)
    self.assertEqual(proc.returncode, 0, msg=proc.stdout[-4000:])
    result = _last_json(proc.stdout)
    self.assertEqual(result['replicas'], 2)
    for name in ('pseudoseg', 'pseudoseg_ema_cutmix', 'pseudoseg_accum'):
      run = result[name]
      # Updates, not micro-batches.
      self.assertEqual(run['step'], 4, msg=name)
      self.assertEqual(run['copies'], 2, msg=name)
      self.assertTrue(run['copies_equal'], msg=name)
      for metric, value in run['metrics'].items():
        self.assertTrue(value == value and abs(value) < 1e6,
                        msg='%s %s %s' % (name, metric, value))
      self.assertGreater(run['metrics']['sup_loss'], 0.0)
      self.assertIsNotNone(
          tf.train.latest_checkpoint(os.path.join(model_dir, name)))
      self.assertGreater(run['metrics']['unsup_loss'], 0.0, msg=name)
    for ema_run in (result['pseudoseg_ema_cutmix'], result['pseudoseg_accum']):
      self.assertTrue(ema_run['teacher_copies_equal'])
      self.assertGreater(ema_run['teacher_moved'], 0.0)
      self.assertGreater(ema_run['teacher_lags'], 0.0)
    names = [n for n, _ in tf.train.list_variables(os.path.join(
        model_dir, 'pseudoseg_ema_cutmix'))]
    self.assertTrue(any(n.startswith('teacher/') for n in names))

  def test_full_steps_match_one_device_step_by_step(self):
    """2 replicas == one device holding the global batch, step by step.

    What is compared, and why:
    - Batch norm normalises with each replica's own statistics under Mirrored
      (no sync BN). Both replicas get the same images (the one device gets them
      twice), so each replica's statistics are the global batch's; the labels
      and image labels differ between the replicas, so do their losses and
      gradients, which the strategy must sum with 1/2 each.
    - Float32 alone separates the two by more than 1e-5 on the PseudoSeg step:
      on one device, the update of the batch [x, x] and the mean of the
      updates of [x] with each half's labels differ by up to ~1% in the kernels
      that feed a batch norm (cancellation in their gradients; ~0.1% for the
      supervised step), and batch norm amplifies weight differences from step
      to step. So the one device takes each step from the mirrored run's
      checkpoint before it, and the two updates must agree, in L2 norm over
      all the weights (moving means included), to 5e-3 (supervised; measured
      ~8e-4) or 3e-2 (PseudoSeg; ~7e-3) of the one-device update. The bugs
      pinned are far larger: a loss not divided by the number of replicas
      doubles the update (100%); a second EMA update per step (once per
      replica) moves the teacher by (1 - d)(student - teacher),
      `double_update_l2`, ~17% of its update, ~40x its measured error.
    - Moving variances are Bessel-corrected per replica, n / (n - 1) with n
      the replica's values per channel, against 2n / (2n - 1) on one device:
      a little larger on 2 replicas, never smaller.
    - Distribution alignment's marginals: cross-replica sums, to 1e-5.
    """
    model_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    proc = self.binaries.run_python(_MIRRORED_EQUALS_ONE_DEVICE, [model_dir],
                                    timeout=900)
    self.assertEqual(proc.returncode, 0, msg=proc.stdout[-4000:])
    result = _last_json(proc.stdout)
    self.assertEqual(result['replicas'], 2)
    for kind, rtol in (('supervised', 5e-3), ('pseudoseg_ema_da', 3e-2)):
      run = result[kind]
      self.assertTrue(run['copies_equal'], msg=kind)
      self.assertLen(run['steps'], 2)
      for step, report in enumerate(run['steps'], 1):
        msg = '%s step %d: %s' % (kind, step, report)
        parts = ({'model'} if kind == 'supervised' else
                 {'model', 'teacher', 'distribution_alignment'})
        self.assertEqual(set(report), parts, msg=msg)
        for part in ('model', 'teacher'):
          if part not in report:
            continue
          self.assertGreater(report[part]['update_l2'], 1e-2, msg=msg)
          self.assertLess(report[part]['err_l2'],
                          rtol * report[part]['update_l2'], msg=msg)
          low, high = report[part]['variance_ratio']
          self.assertBetween(low, 1.0 - 1e-5, 1.0 + 1e-2, msg=msg)
          self.assertBetween(high, 1.0 - 1e-5, 1.0 + 1e-2, msg=msg)
        if 'teacher' in report:
          self.assertGreater(report['teacher']['double_update_l2'],
                             10 * report['teacher']['err_l2'], msg=msg)
          self.assertGreater(report['distribution_alignment']['update'], 1e-3,
                             msg=msg)
          self.assertLess(report['distribution_alignment']['err'], 1e-5,
                          msg=msg)

  def test_distribution_alignment_matches_one_device_on_the_whole_batch(self):
    proc = self.binaries.run_python(_ALIGNMENT)
    self.assertEqual(proc.returncode, 0, msg=proc.stdout[-4000:])
    result = _last_json(proc.stdout)
    self.assertEqual(result['replicas'], 2)
    self.assertLess(result['prediction_err'], 1e-6)
    self.assertLess(result['label_err'], 1e-6)
    self.assertLess(result['aligned_err'], 1e-5)

  def test_global_fusion_norm_matches_one_device_on_the_whole_batch(self):
    proc = self.binaries.run_python(_FUSION_NORM)
    self.assertEqual(proc.returncode, 0, msg=proc.stdout[-4000:])
    result = _last_json(proc.stdout)
    self.assertEqual(result['replicas'], 2)
    self.assertTrue(result['global_weight_ok'])
    # Global RMS over 2 replicas == one device holding the whole batch.
    self.assertLess(result['global_err'], 1e-5)
    # The official per-replica RMS does depend on the split: the test can tell.
    self.assertGreater(result['replica_err'], 1e-2)
    self.assertLess(result['scoped_err'], 1e-6)

  def test_train_sup_binary_with_mirrored_strategy(self):
    # --cpu_replicas=2: the binary splits the CPU itself, before its first
    # TensorFlow call.
    model_dir = tempfile.mkdtemp(dir=self.get_temp_dir())
    flag_values = self.smoke_flags(self.records, model_dir, strategy='mirrored',
                                   cpu_replicas=2, image_summary_every=100)
    proc = self.binaries.run('train_sup.py', **flag_values)
    self.assertEqual(proc.returncode, 0, msg=proc.stdout[-4000:])
    self.assertRegex(proc.stdout, r"Using MirroredStrategy with devices \('\S+"
                     r"CPU:0', '\S+CPU:1'\)")
    self.assertRegex(proc.stdout, r'step 4/4 \| loss [0-9.]+ ')
    self.assertEqual(os.path.basename(tf.train.latest_checkpoint(model_dir)),
                     'ckpt-4')


class MultiWorkerTest(testing_utils.FixturesMixin, tf.test.TestCase):

  FIXTURES = {'binaries': 'binaries'}

  def test_two_local_workers_train_in_sync(self):
    workers = ['127.0.0.1:%d' % _free_port() for _ in range(2)]
    tmp = tempfile.mkdtemp(dir=self.get_temp_dir())
    procs, log_paths = [], []
    for index in range(2):
      tf_config = {'cluster': {'worker': workers},
                   'task': {'type': 'worker', 'index': index}}
      log_paths.append(os.path.join(tmp, 'worker%d.log' % index))
      # Each worker has its own run directory: a non-chief worker's checkpoints
      # must not overwrite the chief's.
      procs.append(self.binaries.popen_python(
          _WORKER, [os.path.join(tmp, 'run%d' % index)], log_paths[-1],
          env={'TF_CONFIG': json.dumps(tf_config)}))
    try:
      codes = [p.wait(timeout=120) for p in procs]
    except subprocess.TimeoutExpired:
      codes = None
    finally:
      for p in procs:
        if p.poll() is None:
          p.kill()
          p.wait()
    outputs = []
    for path in log_paths:
      with open(path) as f:
        outputs.append(f.read())
    self.assertIsNotNone(codes, msg='Workers timed out (120 s):\n' +
                         '\n-----\n'.join(o[-3000:] for o in outputs))
    self.assertEqual(codes, [0, 0], msg='\n-----\n'.join(
        o[-3000:] for o in outputs))
    results = [_last_json(o) for o in outputs]
    self.assertEqual([r['index'] for r in results], [0, 1])
    for r in results:
      self.assertEqual(r['replicas'], 2)
      self.assertEqual(r['step'], 4)
      for metric, value in r['metrics'].items():
        self.assertTrue(value == value and abs(value) < 1e6, msg=metric)
    # Synchronous training: both workers end with the same weights.
    self.assertAllClose(results[0]['kernel_sum'], results[1]['kernel_sum'])


if __name__ == '__main__':
  tf.test.main()
