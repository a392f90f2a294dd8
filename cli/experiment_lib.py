"""What the training and evaluation binaries share: config → data, model, parts.

Imported by the binaries only (their flags are cli/flags.py's); it takes the resolved
`core.config.ExperimentConfig` and builds the input streams, the model and the rest.
core/, datasets/ and augment/ never see flags.
"""

import dataclasses
import functools
import os

from absl import logging
import tensorflow as tf

from cli import record_checks
from core.modeling import model as model_lib
from core.tasks import pseudoseg as pseudoseg_task
from core.tasks import supervised
from core.training import run_dir
from core.training import trainer
from datasets import descriptors
from datasets import input_pipeline
from datasets import record_format
# The lab's diagnostics (--score_pseudo_labels, --oracle_pseudo_labels) register
# themselves as options of the PseudoSeg task.
from research import pseudo_label_options  # pylint: disable=unused-import

def dataset_info(cfg):
  """The DatasetDescriptor of the converted records."""
  return descriptors.load_info(cfg.data.record_dir, default_name=cfg.data.dataset)


def eval_records(cfg, num_classes, record_dir, split, model_dir):
  """(descriptor, shard files) of the records a trained run is scored on.

  Args:
    cfg: the run's ExperimentConfig.
    num_classes: classes the run's model predicts.
    record_dir: records to score; '' means the run's own --record_dir.
    split: split name.
    model_dir: the run (for the error message).

  Raises:
    ValueError: the records have another number of classes than the model,
      some have no mask (they would be scored on no pixel), or a shard is
      damaged (named).
  """
  record_dir = record_dir or cfg.data.record_dir
  descriptor = descriptors.load_info(record_dir, default_name=cfg.data.dataset)
  if descriptor.num_classes != num_classes:
    raise ValueError('%s has %d classes but the model in %s predicts %d.' %
                     (record_dir, descriptor.num_classes, model_dir, num_classes))
  files = record_format.list_shards(record_dir, split)
  bare = sorted(i for i, has_mask in input_pipeline.scan_records(files).items()
                if not has_mask)
  if bare:
    raise ValueError(
        '%d record(s) of split %r in %s have no mask, so they cannot be scored '
        '(%s); evaluate on a split with masks.' % (
            len(bare), split, record_dir,
            ', '.join(bare[:5]) + (', ...' if len(bare) > 5 else '')))
  return descriptor, files


def eval_dataset(files, eval_size, batch_size):
  """Whole images padded to `eval_size` (or each to its own size, batch 1)."""
  return input_pipeline.eval_dataset(
      files, eval_size=eval_size, batch_size=batch_size if eval_size else 1)


def build_model_and_optimizer(cfg, strategy, num_classes):
  """Builds (inside the strategy's scope) the model and its optimizer."""
  h, w = cfg.data.crop_size
  # Seeded weight initialisation. The global seed is cleared right after: the input
  # pipeline draws stateless seeds from --seed and the data position, and a global
  # seed would break its per-epoch shuffle seeds.
  tf.keras.utils.set_random_seed(cfg.train.seed)
  try:
    with strategy.scope():
      model = model_lib.build_model(cfg.model, num_classes, crop_size=(h, w))
  finally:
    tf.random.set_seed(None)
  with strategy.scope():
    optimizer = trainer.make_optimizer(cfg.train)
    optimizer.build(model.trainable_variables)
  if cfg.train.init_checkpoint and not tf.train.latest_checkpoint(
      cfg.train.model_dir):
    model_lib.restore_backbone(model, cfg.train.init_checkpoint)
    logging.info('Backbone initialised from %s.', cfg.train.init_checkpoint)
  return model, optimizer


def split_cpu(cfg):
  """--cpu_replicas: splits the CPU for --strategy=mirrored (core/training/
  trainer.py `split_cpu`). A training binary's first TensorFlow call."""
  if cfg.train.strategy == 'mirrored':
    trainer.split_cpu(cfg.train.cpu_replicas)


def build_task(cfg, descriptor, pseudoseg):
  """The run's task: PseudoSeg (train_wss.py) or supervised (train_sup.py)."""
  cls = pseudoseg_task.PseudoSegTask if pseudoseg else supervised.SupervisedTask
  return cls(cfg, descriptor.num_classes, ignore_label=descriptor.ignore_label,
             palette=descriptor.palette)


def _step_batch(cfg, ctx, global_batch):
  """(per-replica batch of one step, examples of the whole step): a step reads
  --grad_accum_steps micro-batches of `global_batch`, one after another."""
  num_micro = cfg.train.grad_accum_steps
  return (ctx.get_per_replica_batch_size(global_batch) * num_micro,
          global_batch * num_micro)


def _start_index(ctx, step_examples, start_step):
  """Examples this input pipeline consumed before `start_step`."""
  return start_step * step_examples // ctx.num_input_pipelines


_LABELED_MASKS = 'The labeled stream trains on masks'
_ORACLE_MASKS = ('--oracle_pseudo_labels needs the unlabeled images\' masks')


def labeled_dataset_fn(cfg, descriptor):
  """`fn(input_context, start_step)` for the labeled stream.

  Raises:
    ValueError: an id of --labeled_ids is not in the records, a labeled record
      has no mask, or a shard is damaged (cli/record_checks.py).
  """
  files, ids = record_checks.stream_records(
      cfg.data.record_dir, cfg.data.train_split, 'labeled_ids',
      cfg.data.labeled_ids, masks_needed=_LABELED_MASKS)
  scales = (cfg.data.min_scale, cfg.data.max_scale, cfg.data.scale_step)

  def fn(ctx, start_step):
    batch, step_examples = _step_batch(cfg, ctx, cfg.train.batch_size)
    return input_pipeline.labeled_dataset(
        files, batch, tuple(cfg.data.crop_size),
        descriptor.num_classes, ids=ids, is_training=True, scales=scales,
        seed=cfg.train.seed,
        start_index=_start_index(ctx, step_examples, start_step),
        shuffle_buffer=cfg.data.shuffle_buffer, input_context=ctx,
        # A labeled subset is held in memory: later epochs do not re-read and
        # filter every record of the split.
        cache=ids is not None)
  return fn


def classification_dataset_fn(cfg, descriptor):
  """`fn(input_context, start_step)` for classification pretraining: images of
  --train_split (or --labeled_ids) with their image-level labels.

  Raises:
    ValueError: an id of --labeled_ids is not in the records, or a shard is
      damaged (cli/record_checks.py).
  """
  files, ids = record_checks.stream_records(
      cfg.data.record_dir, cfg.data.train_split, 'labeled_ids',
      cfg.data.labeled_ids)
  scales = (cfg.data.min_scale, cfg.data.max_scale, cfg.data.scale_step)

  def fn(ctx, start_step):
    batch = cfg.train.batch_size
    return input_pipeline.classification_dataset(
        files, ctx.get_per_replica_batch_size(batch), tuple(cfg.data.crop_size),
        descriptor.num_classes, ids=ids, is_training=True, scales=scales,
        seed=cfg.train.seed, start_index=_start_index(ctx, batch, start_step),
        shuffle_buffer=cfg.data.shuffle_buffer, input_context=ctx)
  return fn


def unlabeled_dataset_fn(cfg, descriptor, include_weak_label=False):
  """`fn(input_context, start_step)` for the unlabeled stream (weak + strong).

  `include_weak_label` brings each weak view's mask along (the task's
  `needs_unlabeled_masks()`: the lab's diagnostics read it; no loss does).

  Raises:
    ValueError: an id of --unlabeled_ids is not in the records, a shard is
      damaged, or (with --oracle_pseudo_labels) a record has no mask.
  """
  files, ids = _unlabeled_records(cfg)
  scales = (cfg.data.min_scale, cfg.data.max_scale, cfg.data.scale_step)

  def fn(ctx, start_step):
    batch, step_examples = _step_batch(cfg, ctx,
                                       cfg.train.unlabeled_batch_size)
    return input_pipeline.unlabeled_dataset(
        files, batch, tuple(cfg.data.crop_size),
        descriptor.num_classes, ids=ids,
        strong_aug=dataclasses.asdict(cfg.strong_aug),
        use_image_labels=cfg.data.use_image_labels, scales=scales,
        seed=cfg.train.seed + 1,
        start_index=_start_index(ctx, step_examples, start_step),
        shuffle_buffer=cfg.data.shuffle_buffer, input_context=ctx,
        include_weak_label=include_weak_label)
  return fn


def _unlabeled_records(cfg):
  return record_checks.stream_records(
      cfg.data.record_dir, cfg.data.unlabeled_split, 'unlabeled_ids',
      cfg.data.unlabeled_ids,
      masks_needed=_ORACLE_MASKS if cfg.diagnostics.oracle_pseudo_labels else '')


def check_oracle_masks(cfg):
  """With --oracle_pseudo_labels, every unlabeled record must carry its mask.

  (`unlabeled_dataset_fn` checks it too.)

  Raises:
    ValueError: naming the split, the record dir and the first records without
      one (the oracle would give them no consistency loss, silently).
  """
  if cfg.diagnostics.oracle_pseudo_labels:
    _unlabeled_records(cfg)


def _stream_files(cfg, pseudoseg):
  """The shard files a training run reads."""
  splits_read = [cfg.data.train_split]
  if pseudoseg and cfg.data.unlabeled_split not in splits_read:
    splits_read.append(cfg.data.unlabeled_split)
  return sum((record_format.list_shards(cfg.data.record_dir, s)
              for s in splits_read), [])


def train(cfg, task, dataset_fn):
  """Trains `task` as the config says; what train_sup.py and train_wss.py run.

  Sets the precision policy, picks the strategy, writes (or checks) the run's
  config.json, builds the model, the optimizer and the task's state, and runs
  the loop to cfg.train.train_steps (resuming from the run's last checkpoint).

  Args:
    cfg: the ExperimentConfig.
    task: a core.tasks task built from `cfg`.
    dataset_fn: `fn(input_context, start_step)` of the task's batches.

  Returns:
    dict of the last logged metric values.
  """
  trainer.set_precision(cfg.train.mixed_precision)
  strategy = trainer.get_strategy(cfg.train.strategy, cfg.train.tpu,
                                  cfg.train.cpu_replicas)
  run_dir.check_model_dir(cfg.train.model_dir, cfg, task.num_classes,
                          task.state_settings())
  logging.info('%d classes, record dir %s; config written to %s.',
               task.num_classes, cfg.data.record_dir,
               os.path.join(cfg.train.model_dir, run_dir.CONFIG_FILENAME))
  model, optimizer = build_model_and_optimizer(cfg, strategy, task.num_classes)
  with strategy.scope():
    task.build_state(model)
  loop = trainer.TrainLoop(
      strategy, model, optimizer,
      step_fn=functools.partial(task.train_step, model, optimizer),
      dataset_fn=dataset_fn, model_dir=cfg.train.model_dir, train_cfg=cfg.train,
      images_per_step=task.images_per_step(),
      image_summary_fn=functools.partial(task.image_summaries, model),
      checkpoint_objects=task.checkpoint_items())
  files = _stream_files(cfg, isinstance(task, pseudoseg_task.PseudoSegTask))
  with record_checks.naming_damaged_shards(files, cfg.train.model_dir):
    return loop.run(task.metric_names())
