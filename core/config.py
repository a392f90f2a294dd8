"""Typed, frozen run configuration, nested by concern; each setting declared once.

A setting is one `setting(...)` field: its default, its help sentence and the check of
its value sit together. Every section validates itself in `__post_init__`, so a config
built from flags, read from a run's `config.json` or built in code is checked the same
way, and a bad value fails with a `ConfigError` naming the setting and what it allows.
The binaries generate one absl flag per field from these declarations (cli/flags.py);
library code receives plain values from the resolved config.
"""

import dataclasses
import json
import re
from typing import Optional, Tuple

BACKBONES = ('mobilenet_v2', 'mobilenet_v3_small', 'mobilenet_v3_large',
             'resnet50', 'resnet101')
PSEUDO_SOURCES = ('avg', 'att', 'dec')
LOGIT_NORMS = ('global', 'replica', 'pixel', 'none')
STRATEGIES = ('default', 'mirrored', 'multi_worker', 'tpu')
PRECISIONS = ('', 'mixed_bfloat16', 'mixed_float16')
OPTIMIZERS = ('sgd', 'adam')


_SECTION_NAMES = {}  # Section class -> its name in ExperimentConfig.


class ConfigError(ValueError):
  """A setting with a value it does not allow.

  The problem may name other settings as '{name}'; the message writes them as
  the config does ('section.name' is implied), `as_flags` as flags ('--name').

  Attributes:
    section: the config section ('train', ...), or '' for a rule between
      sections.
    name: the setting's field name (also its flag's name).
    problem: what is wrong, e.g. 'must be >= 1, got 0'.
  """

  def __init__(self, section, name, problem):
    self.section = section
    self.name = name
    self.problem = problem
    where = '%s.%s' % (section, name) if section else name
    super().__init__('%s %s' % (where, re.sub(r'\{(\w+)\}', r'\1', problem)))

  def as_flags(self):
    """The message with every setting written as its flag."""
    return '--%s %s' % (self.name, re.sub(r'\{(\w+)\}', r'--\1', self.problem))


class Check(object):
  """A predicate on a setting's value with the sentence that says what it allows."""

  def __init__(self, test, allows):
    self.test = test
    self.allows = allows

  def __call__(self, value):
    return self.test(value)


def in_range(low=None, high=None, low_open=False, high_open=False):
  """Check: a number within [low, high] ('(' / ')' where open; None: unbounded)."""
  def test(v):
    return ((low is None or (v > low if low_open else v >= low)) and
            (high is None or (v < high if high_open else v <= high)))
  if high is None:
    allows = 'must be %s %g' % ('>' if low_open else '>=', low)
  elif low is None:
    allows = 'must be %s %g' % ('<' if high_open else '<=', high)
  else:
    allows = 'must be in %s%g, %g%s' % ('(' if low_open else '[', low, high,
                                         ')' if high_open else ']')
  return Check(test, allows)


def one_of(*values):
  return Check(lambda v: v in values, 'must be one of %s' % ' | '.join(
      repr(v) for v in values))


def positive_pair():
  return Check(lambda v: len(v) == 2 and all(x > 0 for x in v),
               'must be two positive integers, "height,width"')


def positive_ints():
  return Check(lambda v: len(v) > 0 and all(x > 0 for x in v),
               'must be one or more positive integers')


def level_key():
  return Check(lambda v: v == '' or v.isdigit(),
               'must be "" or a backbone level such as 3')


def setting(default, help, check=None):  # pylint: disable=redefined-builtin
  """A config field: default, help sentence (for its flag) and check, in one place."""
  return dataclasses.field(default=default,
                           metadata={'help': help, 'check': check})


def _type_problem(value, default):
  """Why `value` cannot stand where `default`'s type is expected, or None."""
  kind = type(default)
  if kind is bool:
    ok = isinstance(value, bool)
  elif kind is int:
    ok = isinstance(value, int) and not isinstance(value, bool)
  elif kind is float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
  elif kind is tuple:
    item = type(default[0]) if default else int
    ok = isinstance(value, tuple) and all(
        isinstance(x, item) and not isinstance(x, bool) for x in value)
  else:
    ok = isinstance(value, kind)
  if ok:
    return None
  return 'must be of type %s, got %r' % (kind.__name__, value)


def field_problem(field, value):
  """What is wrong with `value` for the setting `field` alone, or None."""
  problem = _type_problem(value, field.default)
  check = field.metadata.get('check')
  if problem is None and check is not None and not check(value):
    problem = '%s, got %r' % (check.allows, value)
  return problem


class Section(object):
  """Mixin of the config sections: checks every field's value on construction."""

  def __post_init__(self):
    # The defaults are checked too, while ExperimentConfig is being defined.
    section = _SECTION_NAMES.get(type(self), type(self).__name__)
    for f in dataclasses.fields(self):
      value = getattr(self, f.name)
      if isinstance(f.default, float) and isinstance(value, int):
        # JSON and flags may write 1 for 1.0; the field holds a float.
        object.__setattr__(self, f.name, float(value))
      problem = field_problem(f, getattr(self, f.name))
      if problem:
        raise ConfigError(section, f.name, problem)
    self._check_together(section)

  def _check_together(self, section):
    """Rules between the fields of one section (none by default)."""
    del section


@dataclasses.dataclass(frozen=True)
class ModelConfig(Section):
  """DeepLabv3+ built from tf-models-official parts, plus PseudoSeg heads."""
  backbone: str = setting(
      'mobilenet_v2', 'Backbone from tf-models-official: MobileNet v2 / v3 or a '
      'dilated ResNet (DeepLab stem).', one_of(*BACKBONES))
  width_multiplier: float = setting(
      1.0, 'MobileNet width multiplier (filter_size_scale); ignored by ResNets.',
      in_range(0.0, low_open=True))
  output_stride: int = setting(
      16, 'Output stride of the backbone features that ASPP reads.',
      one_of(8, 16))
  aspp_rates: Tuple[int, ...] = setting(
      (6, 12, 18), 'ASPP atrous rates at output stride 16 (doubled at 8).',
      positive_ints())
  aspp_filters: int = setting(256, 'Filters of every ASPP branch.',
                              in_range(1))
  aspp_dropout: float = setting(
      0.1, 'Dropout rate on the ASPP output in training (seeded per step).',
      in_range(0.0, 1.0, high_open=True))
  decoder_filters: int = setting(
      256, 'Filters of the DeepLabv3+ decoder head convolutions.', in_range(1))
  low_level_filters: int = setting(
      48, 'Filters the stride-4 low-level features are projected to.',
      in_range(1))
  num_head_convs: int = setting(
      2, 'Convolutions in the decoder head after the feature fusion.',
      in_range(0))
  weight_decay: float = setting(
      4e-5, 'L2 weight decay on convolution kernels, as slim and Model Garden '
      'count it (weight_decay * sum(w^2) / 2).', in_range(0.0))
  batchnorm_momentum: float = setting(
      0.99, 'Momentum of the batch-norm moving averages.',
      in_range(0.0, 1.0, high_open=True))
  pseudoseg_heads: bool = setting(
      False, 'Build the PseudoSeg heads (classifier, Grad-CAM, SGC) beside the '
      'decoder; train_wss.py turns this on.')
  cls_dropout: float = setting(
      0.5, 'Dropout rate on the pooled features of the classification head.',
      in_range(0.0, 1.0, high_open=True))
  cls_feature_grad_scale: float = setting(
      1.0, 'Scales the classification loss\'s gradient where it enters the '
      'backbone (ours; official 1.0); the head itself learns at full rate.',
      in_range(0.0))
  sgc_dim: int = setting(
      128, 'Width of the SGC\'s query and key projections.', in_range(1))
  cam_level: str = setting(
      '', 'Backbone level the classifier pools and the CAM / SGC grid: "" = the '
      'last (official), or a level key, e.g. 3 (stride 8) or 2 (stride 4; not '
      'in the paper); the SGC attention grows with the grid\'s size squared.',
      level_key())
  cam_threshold: float = setting(
      0.5, 'Sigmoid score from which a predicted class keeps its CAM (when no '
      'image labels are given).', in_range(0.0, 1.0))


@dataclasses.dataclass(frozen=True)
class DataConfig(Section):
  """Where the records are and how training crops are drawn from them."""
  record_dir: str = setting(
      '', 'Directory of SPLIT-NNNNN-of-NNNNN.tfrecord shards and '
      'dataset_info.json (written by datasets/build_*.py).')
  dataset: str = setting(
      'synthetic', 'Registered data set whose classes to use when the records '
      'have no dataset_info.json.')
  train_split: str = setting('train', 'Split of the labeled stream.')
  labeled_ids: str = setting(
      '', 'Optional id list (one id a line, or "JPEGImages/ID.jpg '
      'SegmentationClass/ID.png") restricting the labeled stream.')
  unlabeled_split: str = setting('train', 'Split of the unlabeled stream.')
  unlabeled_ids: str = setting(
      '', 'Optional id list restricting the unlabeled stream.')
  use_image_labels: bool = setting(
      False, 'Weakly-labeled mode: image-level labels of the unlabeled images '
      'supervise the classifier and select their CAM classes.')
  crop_size: Tuple[int, int] = setting(
      (513, 513), 'Training crop, "height,width".', positive_pair())
  min_scale: float = setting(0.5, 'Smallest random scale of a training image.',
                             in_range(0.0, low_open=True))
  max_scale: float = setting(2.0, 'Largest random scale of a training image.',
                             in_range(0.0, low_open=True))
  scale_step: float = setting(
      0.25, 'Step between the random scales (0: any scale in the range).',
      in_range(0.0))
  shuffle_buffer: int = setting(
      1000, 'Records in the shuffle buffer of each training stream.',
      in_range(1))

  def _check_together(self, section):
    if self.min_scale > self.max_scale:
      raise ConfigError(section, 'min_scale', 'must be <= max_scale (%r), got '
                        '%r' % (self.max_scale, self.min_scale))


@dataclasses.dataclass(frozen=True)
class StrongAugConfig(Section):
  """The strong view's photometric augmentation (geometry is the weak view's)."""
  brightness: float = setting(
      0.5, 'Colour jitter: brightness shift drawn from [-b, b].', in_range(0.0))
  contrast: float = setting(
      0.5, 'Colour jitter: contrast factor drawn from [1-c, 1+c].',
      in_range(0.0))
  saturation: float = setting(
      0.5, 'Colour jitter: saturation factor drawn from [1-s, 1+s].',
      in_range(0.0))
  hue: float = setting(
      0.25, 'Colour jitter: hue shift drawn from [-h, h] (a full turn is 1).',
      in_range(0.0, 0.5))
  grayscale_prob: float = setting(
      0.0, 'Probability that the strong view is turned to grayscale.',
      in_range(0.0, 1.0))
  blur_prob: float = setting(
      0.0, 'Probability of a Gaussian blur of the strong view.',
      in_range(0.0, 1.0))
  cutout_size: int = setting(
      100, 'Side of the cutout square at a 513 crop (scaled with the crop); 0 '
      '= no cutout.', in_range(0))


@dataclasses.dataclass(frozen=True)
class PseudoLabelConfig(Section):
  """How the pseudo label is made, and where the CAM's classes come from."""
  pseudo_src: str = setting(
      'avg', 'Pseudo-label source: avg (calibrated fusion of decoder and SGC) '
      '| att (SGC alone) | dec (decoder alone).', one_of(*PSEUDO_SOURCES))
  temperature: float = setting(
      0.5, 'Sharpening temperature of the fused distribution.',
      in_range(0.0, low_open=True))
  logit_norm: str = setting(
      'global', 'Logit calibration before the fusion: global (RMS over the '
      'global batch) | replica (official) | pixel | none.',
      one_of(*LOGIT_NORMS))
  soft_labels: bool = setting(
      True, 'Train on the sharpened soft label (else its one-hot argmax).')
  confidence_threshold: float = setting(
      0.0, 'Pixels whose fused, unsharpened maximum probability is below this '
      'weigh 0 in the consistency loss; 0 = every pixel.', in_range(0.0, 1.0))
  teacher_training_mode: bool = setting(
      True, 'Run the weak (teacher) pass in training mode, as the official '
      'code does.')
  decoder_image_labels: float = setting(
      0.0, 'Unlabeled mode (ours, not in the paper): an unlabeled image\'s '
      'classes are those the teacher\'s decoder predicts on at least this '
      'share of the weak view\'s valid pixels; they select its CAM classes and '
      'supervise the classifier as image labels would. 0 = off.',
      in_range(0.0, 1.0))



@dataclasses.dataclass(frozen=True)
class LossConfig(Section):
  """Weights of the loss terms."""
  sup_weight: float = setting(
      1.0, 'Weight of the decoder\'s cross-entropy on labeled pixels.',
      in_range(0.0))
  sgc_weight: float = setting(
      1.0, 'Weight of the SGC\'s cross-entropy on labeled pixels.',
      in_range(0.0))
  cls_weight: float = setting(
      1.0, 'Weight of the classification head\'s multi-label loss.',
      in_range(0.0))
  unsup_weight: float = setting(
      1.0, 'Weight of the consistency loss on the unlabeled strong views.',
      in_range(0.0))


# The options of the PseudoSeg step (core/tasks/options/), a section each; ours to
# offer on top of the official recipe, all off by default.


@dataclasses.dataclass(frozen=True)
class EmaTeacherConfig(Section):
  """The EMA teacher (core/tasks/options/ema_teacher.py)."""
  ema_decay: float = setting(
      0.0, 'EMA teacher: pseudo labels from a moving average of the model '
      '(decay d, ramped as min(d, (1+step)/(10+step))); 0 = the model itself '
      '(official).', in_range(0.0, 1.0, high_open=True))


@dataclasses.dataclass(frozen=True)
class AlignmentConfig(Section):
  """Distribution alignment (core/tasks/options/distribution_alignment.py)."""
  distribution_alignment: float = setting(
      0.0, 'Distribution alignment (ReMixMatch): the fused probability times '
      '(labeled pixels\' class marginal / teacher\'s marginal), both running '
      'averages with this momentum; 0 = off (official).',
      in_range(0.0, 1.0, high_open=True))


@dataclasses.dataclass(frozen=True)
class CutMixConfig(Section):
  """CutMix between unlabeled images (core/tasks/options/cutmix.py)."""
  cutmix: bool = setting(
      False, 'CutMix between unlabeled images: strong views and pseudo labels '
      'mixed with one box per image (not in the official code).')
  cutmix_area: float = setting(
      0.5, 'Share of the image inside the CutMix box.',
      in_range(0.0, 1.0, low_open=True))


@dataclasses.dataclass(frozen=True)
class FeatureDropoutConfig(Section):
  """Feature dropout of the student (core/tasks/options/feature_dropout.py)."""
  feature_dropout: float = setting(
      0.0, 'Feature dropout perturbation: share of the ASPP output channels '
      'dropped for the student\'s strong views; 0 = off (official).',
      in_range(0.0, 1.0, high_open=True))


@dataclasses.dataclass(frozen=True)
class RampupConfig(Section):
  """Ramp-up of the consistency weight (core/tasks/options/consistency_rampup.py)."""
  unsup_rampup_steps: int = setting(
      0, 'Ramp-up of the consistency weight over this many steps, '
      'unsup_weight*exp(-5(1-step/N)^2) (Laine & Aila 2017; not in the '
      'official code); 0 = off.', in_range(0))


@dataclasses.dataclass(frozen=True)
class DiagnosticsConfig(Section):
  """The lab's diagnostics of the PseudoSeg step (research/pseudo_label_options.py)."""
  score_pseudo_labels: bool = setting(
      False, 'Diagnostic: log the mIoU of the teacher\'s decoder, SGC and fused '
      'labels against the unlabeled images\' own masks (needs records with '
      'masks; the masks never reach a loss).')
  oracle_pseudo_labels: bool = setting(
      False, 'Diagnostic, not semi-supervised: the pseudo label is the '
      'unlabeled image\'s own mask (one-hot, the ignore label weighs 0): the '
      'ceiling of the consistency path with a perfect teacher.')
  oracle_share: float = setting(
      1.0, 'With --oracle_pseudo_labels, the share of unlabeled images (drawn '
      'per image and step) whose pseudo label is their mask; the others keep '
      'the teacher\'s label (logged as target_miou).', in_range(0.0, 1.0))

  def _check_together(self, section):
    if self.oracle_share != 1.0 and not self.oracle_pseudo_labels:
      raise ConfigError(section, 'oracle_share',
                        'needs {oracle_pseudo_labels}, got %r without it' %
                        self.oracle_share)



@dataclasses.dataclass(frozen=True)
class TrainConfig(Section):
  """The schedule, the optimizer, the run directory and the hardware."""
  model_dir: str = setting(
      '', 'Run directory: checkpoints, config.json, TensorBoard summaries.')
  train_steps: int = setting(30000, 'Steps to train for.', in_range(1))
  steps_per_loop: int = setting(
      10, 'Steps run inside one tf.function call between two progress lines.',
      in_range(1))
  checkpoint_every: int = setting(
      500, 'Steps between two checkpoints.', in_range(1))
  summary_every: int = setting(
      100, 'Steps between two TensorBoard scalar summaries.', in_range(1))
  image_summary_every: int = setting(
      500, 'Steps between two TensorBoard pictures.', in_range(1))
  keep_checkpoints: int = setting(3, 'Checkpoints kept on disk.', in_range(1))
  batch_size: int = setting(
      8, 'Labeled images per step (global; per micro-batch with '
      '--grad_accum_steps).', in_range(1))
  unlabeled_batch_size: int = setting(
      8, 'Unlabeled images per step (global; per micro-batch with '
      '--grad_accum_steps).', in_range(1))
  grad_accum_steps: int = setting(
      1, 'Gradient accumulation: each step computes the gradients of this '
      'many micro-batches of --batch_size (+ --unlabeled_batch_size) images, '
      'one after another, and applies their mean in one update, so an update '
      'sees N times the batch at the memory of one micro-batch (the '
      'convention of Keras\'s gradient_accumulation_steps). Steps, the '
      'learning-rate schedule, the EMA teacher, checkpoints and summaries '
      'count updates. Batch-norm statistics are those of each micro-batch.',
      in_range(1))
  base_learning_rate: float = setting(
      0.007, 'Learning rate at the start of the poly schedule.',
      in_range(0.0, low_open=True))
  end_learning_rate: float = setting(
      0.0, 'Learning rate the poly schedule ends at.', in_range(0.0))
  lr_power: float = setting(0.9, 'Power of the poly learning-rate schedule.',
                            in_range(0.0))
  warmup_steps: int = setting(
      0, 'Linear learning-rate warm-up steps.', in_range(0))
  optimizer: str = setting(
      'sgd', 'sgd (momentum SGD, as the paper) | adam.', one_of(*OPTIMIZERS))
  momentum: float = setting(0.9, 'Momentum of SGD.', in_range(0.0, 1.0))
  strategy: str = setting(
      'default', 'Distribution: default (one device) | mirrored (local GPUs or '
      'logical devices) | multi_worker (TF_CONFIG) | tpu.',
      one_of(*STRATEGIES))
  tpu: str = setting('', 'TPU name or address for --strategy=tpu.')
  cpu_replicas: int = setting(
      0, 'With --strategy=mirrored on a machine without accelerators: split '
      'the CPU into this many logical devices, one replica each (rehearses a '
      'multi-replica run); 0 = the devices TensorFlow finds.', in_range(0))
  mixed_precision: str = setting(
      '', 'Keras precision policy: "" (float32) | mixed_bfloat16 | '
      'mixed_float16.', one_of(*PRECISIONS))
  jit_compile: bool = setting(
      False, 'Compile each training step with XLA (for GPUs; TPUs compile '
      'anyway). On a CPU it compiles for minutes and runs slower.')
  init_checkpoint: str = setting(
      '', 'Optional backbone checkpoint (a prefix or a directory) the run '
      'starts from.')
  seed: int = setting(
      0, 'Seeds the initialisation, the input order and every random draw of '
      'the steps.', in_range(0))

  def _check_together(self, section):
    if self.cpu_replicas and self.strategy != 'mirrored':
      raise ConfigError(section, 'cpu_replicas',
                        'is for strategy mirrored, got strategy %r' %
                        self.strategy)


@dataclasses.dataclass(frozen=True)
class ExperimentConfig(object):
  model: ModelConfig = ModelConfig()
  data: DataConfig = DataConfig()
  strong_aug: StrongAugConfig = StrongAugConfig()
  pseudo_label: PseudoLabelConfig = PseudoLabelConfig()
  loss: LossConfig = LossConfig()
  ema_teacher: EmaTeacherConfig = EmaTeacherConfig()
  alignment: AlignmentConfig = AlignmentConfig()
  cutmix: CutMixConfig = CutMixConfig()
  feature_dropout: FeatureDropoutConfig = FeatureDropoutConfig()
  rampup: RampupConfig = RampupConfig()
  diagnostics: DiagnosticsConfig = DiagnosticsConfig()
  train: TrainConfig = TrainConfig()

  def __post_init__(self):
    if self.pseudo_label.decoder_image_labels and self.data.use_image_labels:
      raise ConfigError(
          '', 'decoder_image_labels',
          'is for the unlabeled mode; {use_image_labels} gives the images\' '
          'own labels (set one of them)')

  def to_json(self):
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)


# The sections the PseudoSeg task's options read (core/tasks/options/, and the lab's
# in research/): a set section whose option is not registered is an error there.
OPTION_SECTIONS = ('ema_teacher', 'alignment', 'cutmix', 'feature_dropout', 'rampup',
                   'diagnostics')

_SECTION_NAMES.update(
    {f.type: f.name for f in dataclasses.fields(ExperimentConfig)})


def replace(cfg, **sections):
  """Returns `cfg` with some fields of some sections replaced.

  Example: replace(cfg, train=dict(train_steps=10), model=dict(output_stride=8)).
  """
  updates = {}
  for name, fields in sections.items():
    updates[name] = dataclasses.replace(getattr(cfg, name), **fields)
  return dataclasses.replace(cfg, **updates)


def override(cfg, **settings):
  """Returns `cfg` with settings replaced by field name, as the flags name them.

  Example: override(cfg, train_steps=10, ema_decay=0.99).

  Raises:
    KeyError: a name that is no setting.
  """
  owner = _owners(cfg)
  sections = {}
  for name, value in settings.items():
    if name not in owner:
      raise KeyError('%r is not a setting of ExperimentConfig.' % name)
    sections.setdefault(owner[name], {})[name] = value
  return replace(cfg, **sections)


def _owners(cfg):
  """{setting name: its section's name} (names are unique across sections)."""
  return {f.name: section.name for section in dataclasses.fields(cfg)
          for f in dataclasses.fields(getattr(cfg, section.name))}


def from_dict(d):
  """Inverse of `dataclasses.asdict` for `ExperimentConfig` (lists -> tuples).

  A setting is found by its name, in whichever section the record holds it: a
  run's config.json written before a setting moved to a section of its own
  reads as it was meant. Names that are no setting are ignored.
  """
  owner = _owners(ExperimentConfig())
  sections = {}
  for values in d.values():
    if not isinstance(values, dict):
      continue
    for name, v in values.items():
      if name in owner:
        sections.setdefault(owner[name], {})[name] = (
            tuple(v) if isinstance(v, list) else v)
  return replace(ExperimentConfig(), **sections)


def smoke(cfg: Optional[ExperimentConfig] = None):
  """A preset that shrinks everything for a CPU run in seconds."""
  cfg = cfg or ExperimentConfig()
  return replace(
      cfg,
      model=dict(backbone='mobilenet_v2', width_multiplier=0.35,
                 aspp_filters=32, decoder_filters=32, low_level_filters=16,
                 sgc_dim=16),
      data=dict(crop_size=(65, 65), shuffle_buffer=16),
      train=dict(train_steps=4, steps_per_loop=2, checkpoint_every=2,
                 summary_every=2, image_summary_every=2, batch_size=2,
                 unlabeled_batch_size=2))
