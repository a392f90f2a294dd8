"""What the training and evaluation binaries share: flags → config → parts.

Every field of core.config's dataclasses becomes an absl flag of the same name (the
dataclass default is the flag default), so every knob of SPEC.md is one flag away and
the resolved config written into the run directory names them all. This module is
imported by the binaries only; core/, datasets/ and augment/ never see flags.
"""

import dataclasses
import os

from absl import flags
from absl import logging
import tensorflow as tf

from core import config as config_lib
from core import distribution_alignment
from core import ema
from core import model as model_lib
from core import train_steps
from core import trainer
from datasets import descriptors
from datasets import input_pipeline
from datasets import record_format
from datasets import splits

_HELP = {
    'backbone': 'mobilenet_v2 | mobilenet_v3_small | mobilenet_v3_large | '
                'resnet50 | resnet101 (dilated ResNet from tf-models-official).',
    'record_dir': 'Directory of SPLIT-NNNNN-of-NNNNN.tfrecord shards and '
                  'dataset_info.json (written by datasets/build_*.py).',
    'labeled_ids': 'Optional id list (one id a line, or "JPEGImages/ID.jpg '
                   'SegmentationClass/ID.png") restricting the labeled stream.',
    'unlabeled_ids': 'Optional id list restricting the unlabeled stream.',
    'use_image_labels': 'Weakly-labeled mode: image-level labels of the unlabeled '
                        'images supervise the classifier and select CAM classes.',
    'crop_size': 'Training crop, "height,width".',
    'model_dir': 'Run directory: checkpoints, config.json, TensorBoard.',
    'strategy': 'default | mirrored | multi_worker | tpu.',
    'mixed_precision': '"" (float32) | mixed_bfloat16 | mixed_float16.',
    'init_checkpoint': 'Optional backbone checkpoint (partial restore).',
    'cam_level': 'Backbone level the classifier pools and the CAM / SGC grid: '
                 '"" = the last (official), or a level key, e.g. 3 (stride 8) or '
                 '2 (stride 4; not in the paper); the SGC attention grows with '
                 'the grid\'s size squared.',
    'pseudo_src': 'Pseudo-label source: avg (calibrated fusion) | att (SGC) | dec.',
    'logit_norm': 'global (RMS over the global batch) | replica (official) | '
                  'pixel | none.',
    'teacher_training_mode': 'Run the weak (teacher) pass in training mode, as '
                             'the official code does.',
    'oracle_pseudo_labels': 'Diagnostic, not semi-supervised: the pseudo label '
                            'is the unlabeled image\'s own mask (one-hot, the '
                            'ignore label weighs 0): the ceiling of the '
                            'consistency path with a perfect teacher.',
    'oracle_share': 'With --oracle_pseudo_labels, the share of unlabeled images '
                    '(drawn per image and step) whose pseudo label is their '
                    'mask, in [0, 1]; the others keep the teacher\'s label (a '
                    'dial of teacher quality; logged as target_miou).',
    'ema_decay': 'EMA teacher: pseudo labels from a moving average of the model '
                 '(decay d, ramped as min(d, (1+step)/(10+step))); 0 = the model '
                 'itself (official).',
    'cutmix': 'CutMix between unlabeled images: strong views and pseudo labels '
              'mixed with one box per image (not in the official code).',
    'cutmix_area': 'Share of the image inside the CutMix box, in (0, 1].',
    'distribution_alignment': 'Distribution alignment (ReMixMatch): the fused '
                              'probability times (labeled pixels\' class '
                              'marginal / teacher\'s marginal), both running '
                              'averages with this momentum, in [0, 1); 0 = off '
                              '(official).',
    'unsup_rampup_steps': 'Ramp-up of the consistency weight over this many '
                          'steps, unsup_weight·exp(-5(1-step/N)^2) (Laine & '
                          'Aila 2017; not in the official code); 0 = off.',
    'decoder_image_labels': 'Unlabeled mode (ours, not in the paper): an '
                            'unlabeled image\'s classes are those the teacher\'s '
                            'decoder predicts on at least this share of the '
                            'weak view\'s valid pixels, in (0, 1]; they select '
                            'its CAM classes (official: the classifier\'s '
                            'predictions) and supervise the classifier as '
                            'image labels would. 0 = off.',
    'feature_dropout': 'Feature dropout perturbation: share of the ASPP output '
                       'channels dropped for the student\'s strong views, in '
                       '[0, 1); 0 = off (official).',
}

SUPERVISED_SECTIONS = ('model', 'data', 'train')
PSEUDOSEG_SECTIONS = ('model', 'data', 'strong_aug', 'pseudo_label', 'loss',
                      'train')

_HOLDERS = {}


def define_flags(sections, overrides=None):
  """Defines one absl flag per config field of the given sections.

  Args:
    sections: names of ExperimentConfig fields to expose.
    overrides: optional {field: default} to change a default for this binary.
  """
  base = config_lib.ExperimentConfig()
  overrides = overrides or {}
  for section in sections:
    for f in dataclasses.fields(getattr(base, section)):
      default = overrides.get(f.name, getattr(getattr(base, section), f.name))
      help_text = _HELP.get(f.name, '%s.%s' % (section, f.name))
      if isinstance(default, bool):
        holder = flags.DEFINE_bool(f.name, default, help_text)
      elif isinstance(default, int):
        holder = flags.DEFINE_integer(f.name, default, help_text)
      elif isinstance(default, float):
        holder = flags.DEFINE_float(f.name, default, help_text)
      elif isinstance(default, tuple):
        holder = flags.DEFINE_list(f.name, [str(x) for x in default], help_text)
      else:
        holder = flags.DEFINE_string(f.name, default, help_text)
      _HOLDERS[(section, f.name)] = (holder, type(default),
                                     type(default[0]) if isinstance(
                                         default, tuple) and default else None)


def define_weights_flag():
  """--weights of the binaries that load a trained run (eval, export)."""
  return flags.DEFINE_enum(
      'weights', 'model', ['model', 'teacher'],
      'Which saved weights to load: the trained model, or the EMA teacher of a '
      'train_wss.py run with --ema_decay.')


def config_from_flags():
  """Builds the ExperimentConfig from the flags defined by `define_flags`."""
  sections = {}
  for (section, name), (holder, kind, item_kind) in _HOLDERS.items():
    value = holder.value
    if kind is tuple:
      value = tuple(item_kind(v) for v in value)
    sections.setdefault(section, {})[name] = value
  cfg = config_lib.replace(config_lib.ExperimentConfig(), **sections)
  if cfg.data.record_dir == '':
    raise flags.ValidationError('--record_dir is required.')
  if cfg.train.model_dir == '':
    raise flags.ValidationError('--model_dir is required.')
  if cfg.model.cam_level and not cfg.model.cam_level.isdigit():
    raise flags.ValidationError(
        '--cam_level must be "" or a backbone level such as 3, got %r.' %
        cfg.model.cam_level)
  if not 0.0 <= cfg.pseudo_label.ema_decay < 1.0:
    raise flags.ValidationError('--ema_decay must be in [0, 1), got %r.' %
                                cfg.pseudo_label.ema_decay)
  if not 0.0 <= cfg.pseudo_label.oracle_share <= 1.0:
    raise flags.ValidationError('--oracle_share must be in [0, 1], got %r.' %
                                cfg.pseudo_label.oracle_share)
  if (cfg.pseudo_label.oracle_share != 1.0 and
      not cfg.pseudo_label.oracle_pseudo_labels):
    raise flags.ValidationError('--oracle_share needs --oracle_pseudo_labels.')
  if cfg.loss.unsup_rampup_steps < 0:
    raise flags.ValidationError('--unsup_rampup_steps must be >= 0, got %r.' %
                                cfg.loss.unsup_rampup_steps)
  if not 0.0 < cfg.pseudo_label.cutmix_area <= 1.0:
    raise flags.ValidationError('--cutmix_area must be in (0, 1], got %r.' %
                                cfg.pseudo_label.cutmix_area)
  if not 0.0 <= cfg.pseudo_label.distribution_alignment < 1.0:
    raise flags.ValidationError(
        '--distribution_alignment must be in [0, 1), got %r.' %
        cfg.pseudo_label.distribution_alignment)
  if not 0.0 <= cfg.pseudo_label.decoder_image_labels <= 1.0:
    raise flags.ValidationError(
        '--decoder_image_labels must be in [0, 1], got %r.' %
        cfg.pseudo_label.decoder_image_labels)
  if cfg.pseudo_label.decoder_image_labels and cfg.data.use_image_labels:
    raise flags.ValidationError(
        '--decoder_image_labels is for the unlabeled mode; --use_image_labels '
        'gives the images\' own labels.')
  if not 0.0 <= cfg.pseudo_label.feature_dropout < 1.0:
    raise flags.ValidationError('--feature_dropout must be in [0, 1), got %r.' %
                                cfg.pseudo_label.feature_dropout)
  return cfg


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
    ValueError: the records have another number of classes than the model.
  """
  record_dir = record_dir or cfg.data.record_dir
  descriptor = descriptors.load_info(record_dir, default_name=cfg.data.dataset)
  if descriptor.num_classes != num_classes:
    raise ValueError('%s has %d classes but the model in %s predicts %d.' %
                     (record_dir, descriptor.num_classes, model_dir, num_classes))
  return descriptor, record_format.list_shards(record_dir, split)


def eval_dataset(files, eval_size, batch_size):
  """Whole images padded to `eval_size` (or each to its own size, batch 1)."""
  return input_pipeline.eval_dataset(
      files, eval_size=eval_size, batch_size=batch_size if eval_size else 1)


def read_ids(path):
  return splits.read_id_list(path) if path else None


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


def build_ema_teacher(cfg, strategy, model, num_classes):
  """The EMA teacher of `model` (a copy of it now), or None without --ema_decay.

  Call after the model's initialisation (and --init_checkpoint); a resumed run
  then restores the teacher from its checkpoint.
  """
  if not cfg.pseudo_label.ema_decay:
    return None
  h, w = cfg.data.crop_size
  with strategy.scope():
    teacher = model_lib.build_model(cfg.model, num_classes, crop_size=(h, w))
    ema.copy_variables(teacher.variables, model.variables)
  return teacher


def build_distribution_alignment(cfg, strategy, num_classes):
  """The running marginals of --distribution_alignment, or None when it is 0."""
  if not cfg.pseudo_label.distribution_alignment:
    return None
  with strategy.scope():
    return distribution_alignment.DistributionAlignment(
        num_classes, cfg.pseudo_label.distribution_alignment)


def step_settings(cfg, descriptor):
  return train_steps.StepSettings(
      num_classes=descriptor.num_classes,
      ignore_label=descriptor.ignore_label,
      sup_weight=cfg.loss.sup_weight, sgc_weight=cfg.loss.sgc_weight,
      cls_weight=cfg.loss.cls_weight, unsup_weight=cfg.loss.unsup_weight,
      unsup_rampup_steps=cfg.loss.unsup_rampup_steps,
      pseudo_src=cfg.pseudo_label.pseudo_src,
      temperature=cfg.pseudo_label.temperature,
      logit_norm=cfg.pseudo_label.logit_norm,
      soft_labels=cfg.pseudo_label.soft_labels,
      confidence_threshold=cfg.pseudo_label.confidence_threshold,
      teacher_training_mode=cfg.pseudo_label.teacher_training_mode,
      use_image_labels=cfg.data.use_image_labels,
      decoder_image_labels=cfg.pseudo_label.decoder_image_labels,
      ema_decay=cfg.pseudo_label.ema_decay, cutmix=cfg.pseudo_label.cutmix,
      cutmix_area=cfg.pseudo_label.cutmix_area,
      feature_dropout=cfg.pseudo_label.feature_dropout,
      oracle_pseudo_labels=cfg.pseudo_label.oracle_pseudo_labels,
      oracle_share=cfg.pseudo_label.oracle_share,
      seed=cfg.train.seed)


def _start_index(ctx, global_batch, start_step):
  """Examples this input pipeline consumed before `start_step`."""
  return start_step * global_batch // ctx.num_input_pipelines


def labeled_dataset_fn(cfg, descriptor):
  """`fn(input_context, start_step)` for the labeled stream."""
  files = record_format.list_shards(cfg.data.record_dir, cfg.data.train_split)
  ids = read_ids(cfg.data.labeled_ids)
  scales = (cfg.data.min_scale, cfg.data.max_scale, cfg.data.scale_step)

  def fn(ctx, start_step):
    batch = cfg.train.batch_size
    return input_pipeline.labeled_dataset(
        files, ctx.get_per_replica_batch_size(batch), tuple(cfg.data.crop_size),
        descriptor.num_classes, ids=ids, is_training=True, scales=scales,
        seed=cfg.train.seed, start_index=_start_index(ctx, batch, start_step),
        shuffle_buffer=cfg.data.shuffle_buffer, input_context=ctx)
  return fn


def unlabeled_dataset_fn(cfg, descriptor):
  """`fn(input_context, start_step)` for the unlabeled stream (weak + strong)."""
  files = record_format.list_shards(cfg.data.record_dir,
                                    cfg.data.unlabeled_split)
  ids = read_ids(cfg.data.unlabeled_ids)
  scales = (cfg.data.min_scale, cfg.data.max_scale, cfg.data.scale_step)

  def fn(ctx, start_step):
    batch = cfg.train.unlabeled_batch_size
    return input_pipeline.unlabeled_dataset(
        files, ctx.get_per_replica_batch_size(batch), tuple(cfg.data.crop_size),
        descriptor.num_classes, ids=ids, strong_cfg=cfg.strong_aug,
        use_image_labels=cfg.data.use_image_labels, scales=scales,
        seed=cfg.train.seed + 1, start_index=_start_index(ctx, batch, start_step),
        shuffle_buffer=cfg.data.shuffle_buffer, input_context=ctx,
        include_weak_label=(cfg.pseudo_label.score_pseudo_labels or
                            cfg.pseudo_label.oracle_pseudo_labels))
  return fn


def check_oracle_masks(cfg):
  """With --oracle_pseudo_labels, every unlabeled record must carry its mask.

  Raises:
    ValueError: naming the split, the record dir and the first records without
      one (the oracle would give them no consistency loss, silently).
  """
  if not cfg.pseudo_label.oracle_pseudo_labels:
    return
  files = record_format.list_shards(cfg.data.record_dir,
                                    cfg.data.unlabeled_split)
  missing = input_pipeline.records_without_mask(
      files, read_ids(cfg.data.unlabeled_ids))
  if missing:
    raise ValueError(
        '--oracle_pseudo_labels needs the unlabeled images\' masks: %d record(s) '
        'of split %r in %s have none (%s).' % (
            len(missing), cfg.data.unlabeled_split, cfg.data.record_dir,
            ', '.join(sorted(missing)[:5]) + (', ...' if len(missing) > 5
                                               else '')))


def set_up(cfg):
  """Everything a training binary needs before its loop.

  Sets the precision policy, picks the strategy, writes (or checks) the run's
  config.json, and builds the model, the optimizer and the step settings.

  Returns:
    (descriptor, strategy, model, optimizer, StepSettings).
  """
  descriptor = dataset_info(cfg)
  trainer.set_precision(cfg.train.mixed_precision)
  strategy = trainer.get_strategy(cfg.train.strategy, cfg.train.tpu)
  trainer.check_model_dir(cfg.train.model_dir, cfg, descriptor.num_classes)
  logging.info('Data set %s: %d classes, record dir %s; config written to %s.',
               descriptor.name, descriptor.num_classes, cfg.data.record_dir,
               os.path.join(cfg.train.model_dir, trainer.CONFIG_FILENAME))
  model, optimizer = build_model_and_optimizer(cfg, strategy,
                                               descriptor.num_classes)
  return descriptor, strategy, model, optimizer, step_settings(cfg, descriptor)
