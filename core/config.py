"""Typed, frozen run configuration, nested by concern.

Binaries build an `ExperimentConfig` from flags and write it, resolved, into the run
directory (`config.json`) at start. Library code receives plain values from it.
"""

import dataclasses
import json
from typing import Optional, Tuple


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """DeepLabv3+ built from tf-models-official parts, plus PseudoSeg heads."""
  backbone: str = 'mobilenet_v2'  # mobilenet_v2 | mobilenet_v3_small |
  # mobilenet_v3_large | resnet50 | resnet101 (dilated ResNet).
  width_multiplier: float = 1.0  # MobileNet filter_size_scale.
  output_stride: int = 16  # 8 or 16.
  aspp_rates: Tuple[int, ...] = (6, 12, 18)  # At OS 16; doubled at OS 8.
  aspp_filters: int = 256
  aspp_dropout: float = 0.1
  decoder_filters: int = 256  # Filters of the deeplabv3plus head convs.
  low_level_filters: int = 48
  num_head_convs: int = 2
  weight_decay: float = 4e-5  # L2 on conv kernels.
  batchnorm_momentum: float = 0.99
  # PseudoSeg heads: classification head (GAP -> dropout -> 1x1 conv), CAM and SGC.
  pseudoseg_heads: bool = False
  cls_dropout: float = 0.5
  # Scales the classification loss's gradient where it enters the backbone
  # (ours; official 1.0). The head itself always learns at full rate.
  cls_feature_grad_scale: float = 1.0
  sgc_dim: int = 128
  # Endpoint whose features the classifier pools and whose grid the CAM and
  # SGC use (ours): '' = the backbone's last features (official), or a level
  # key such as '3' (stride 8) or '2' (stride 4). The SGC's queries and keys
  # are this level and the one below it (above it when there is none below).
  cam_level: str = ''
  cam_threshold: float = 0.5  # Predicted classes kept in the CAM (semi mode).


@dataclasses.dataclass(frozen=True)
class DataConfig:
  record_dir: str = ''
  dataset: str = 'synthetic'  # Registry name; dataset_info.json wins if present.
  train_split: str = 'train'
  labeled_ids: str = ''  # Optional id list restricting the labeled stream.
  unlabeled_split: str = 'train'
  unlabeled_ids: str = ''  # Optional id list restricting the unlabeled stream.
  use_image_labels: bool = False  # Weakly-labeled mode: image labels on unlabeled data.
  crop_size: Tuple[int, int] = (513, 513)
  min_scale: float = 0.5
  max_scale: float = 2.0
  scale_step: float = 0.25
  shuffle_buffer: int = 1000


@dataclasses.dataclass(frozen=True)
class StrongAugConfig:
  brightness: float = 0.5
  contrast: float = 0.5
  saturation: float = 0.5
  hue: float = 0.25
  grayscale_prob: float = 0.0
  blur_prob: float = 0.0
  cutout_size: int = 100  # At crop 513; scaled with the crop.


@dataclasses.dataclass(frozen=True)
class PseudoLabelConfig:
  pseudo_src: str = 'avg'  # avg | att | dec
  temperature: float = 0.5
  logit_norm: str = 'global'  # global | replica | pixel | none
  soft_labels: bool = True
  confidence_threshold: float = 0.0
  teacher_training_mode: bool = True  # Official: weak pass in training mode.
  # Diagnostics (ours): score the teacher's decoder, SGC and fused pseudo labels
  # against the unlabeled images' own masks, when the records carry them. Logged
  # only; the masks never reach a loss.
  score_pseudo_labels: bool = False
  # Diagnostic, not semi-supervised: the pseudo label is the unlabeled image's own
  # mask (one-hot; ignored pixels weigh 0), so a run measures what the consistency
  # path could give with a perfect teacher. Needs records with masks.
  oracle_pseudo_labels: bool = False
  # With oracle_pseudo_labels, the share of unlabeled images (drawn per image and
  # step) whose pseudo label is their mask; the others keep the teacher's: a dial
  # of teacher quality between the teacher (0) and a perfect one (1).
  oracle_share: float = 1.0
  # Options of SPEC.md, off by default (ours to offer, not the official recipe).
  # EMA teacher: pseudo labels from an exponential moving average of the model
  # (core/ema.py); 0 = the model itself, as the official code.
  ema_decay: float = 0.0
  # CutMix between unlabeled images (augment/cutmix.py): the student sees a box
  # of one strong view pasted into its neighbour's, the pseudo labels mixed alike.
  cutmix: bool = False
  cutmix_area: float = 0.5  # Share of the image inside the box.
  # Feature dropout perturbation (as CCT, Ouali et al. 2020): this share of the
  # ASPP output's channels dropped for the student's strong views; 0 = off.
  feature_dropout: float = 0.0
  # Distribution alignment (ReMixMatch; core/distribution_alignment.py): the
  # momentum of the running class marginals; 0 = off.
  distribution_alignment: float = 0.0
  # Image labels from the teacher's decoder (ours; unlabeled mode): an
  # unlabeled image's classes are those the decoder predicts on at least this
  # share of the weak view's valid pixels; they select the teacher's CAM
  # classes (official: the classifier's predictions) and supervise the
  # classifier, as given image labels would. 0 = off.
  decoder_image_labels: float = 0.0


@dataclasses.dataclass(frozen=True)
class LossConfig:
  sup_weight: float = 1.0
  sgc_weight: float = 1.0
  cls_weight: float = 1.0
  unsup_weight: float = 1.0
  # Ours (official: none): the consistency weight rises from unsup_weight·e^-5
  # to unsup_weight over this many steps (core/schedules.sigmoid_rampup); 0 = off.
  unsup_rampup_steps: int = 0


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  model_dir: str = ''
  train_steps: int = 30000
  steps_per_loop: int = 10
  checkpoint_every: int = 500
  summary_every: int = 100
  image_summary_every: int = 500
  keep_checkpoints: int = 3
  batch_size: int = 8  # Labeled, global.
  unlabeled_batch_size: int = 8  # Global.
  base_learning_rate: float = 0.007
  end_learning_rate: float = 0.0
  lr_power: float = 0.9
  warmup_steps: int = 0
  optimizer: str = 'sgd'  # sgd (paper: momentum SGD) | adam (from-scratch CPU runs)
  momentum: float = 0.9
  strategy: str = 'default'  # default | mirrored | multi_worker | tpu
  tpu: str = ''
  mixed_precision: str = ''  # '' | mixed_bfloat16 | mixed_float16
  init_checkpoint: str = ''
  seed: int = 0


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
  model: ModelConfig = ModelConfig()
  data: DataConfig = DataConfig()
  strong_aug: StrongAugConfig = StrongAugConfig()
  pseudo_label: PseudoLabelConfig = PseudoLabelConfig()
  loss: LossConfig = LossConfig()
  train: TrainConfig = TrainConfig()

  def to_json(self):
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)


def replace(cfg, **sections):
  """Returns `cfg` with some fields of some sections replaced.

  Example: replace(cfg, train=dict(train_steps=10), model=dict(output_stride=8)).
  """
  updates = {}
  for name, fields in sections.items():
    updates[name] = dataclasses.replace(getattr(cfg, name), **fields)
  return dataclasses.replace(cfg, **updates)


def from_dict(d):
  """Inverse of `dataclasses.asdict` for `ExperimentConfig` (lists -> tuples)."""
  def build(cls, values):
    kwargs = {}
    for f in dataclasses.fields(cls):
      if f.name not in values:
        continue
      v = values[f.name]
      if isinstance(v, list):
        v = tuple(v)
      kwargs[f.name] = v
    return cls(**kwargs)
  types = {f.name: f.type for f in dataclasses.fields(ExperimentConfig)}
  return ExperimentConfig(**{k: build(types[k], v) for k, v in d.items()
                             if k in types})


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
