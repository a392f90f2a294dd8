"""Named experiments: whole configurations a run starts from, in the manner of
Model Garden's `exp_factory`. A binary's `--experiment=NAME` takes one, and the
flags given on the command line then override it.

  voc_r101_{sup,pseudoseg,pseudoseg_image_labels}_{92,183,366,732,1464}
      the paper's VOC 2012 recipe (SPEC.md): DilatedResNet-101 at output stride
      16, crop 513, 30k steps, batch 64 (+ 64 unlabeled), LR 0.007 poly 0.9,
      momentum 0.9, weight decay 4e-5; the shipped labeled lists
      (datasets/split_lists: the official 16_clean_3, 8_clean, 4_clean, and
      the classic 732 and 1464), the unlabeled stream all of train_aug.
  coco_r101_pseudoseg_{512,256,128,64,32}
      the same on COCO 2017: the official 1/N list of train labeled, all of
      train unlabeled, 200k steps.
  embedded_{sup_few,pseudoseg,pseudoseg_image_labels,sup_full}
      the main job's four runs on the embedded data set (scripts/main_job.sh,
      seed 0; paths from the repository root).
  smoke
      a model and schedule that train in seconds on a CPU.

The paper's recipes train from an ImageNet backbone (`needs_init_checkpoint`):
the binaries refuse to start one without --init_checkpoint unless told
otherwise.
"""

import dataclasses
import os
from typing import Callable, Dict, Tuple

from core import config as config_lib

VOC_LABELED = (92, 183, 366, 732, 1464)
COCO_FRACTIONS = (512, 256, 128, 64, 32)

# The shipped labeled lists (datasets/split_lists/README.md names their sources).
SPLIT_LISTS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'datasets',
    'split_lists')
_VOC_LISTS = {92: '16_clean_3', 183: '8_clean', 366: '4_clean',
              732: 'classic_732', 1464: 'classic_1464'}


def voc_list(num_labeled):
  """The shipped VOC list of `num_labeled` images (the official one where the
  paper released it)."""
  return os.path.join(SPLIT_LISTS, 'voc', _VOC_LISTS[num_labeled] + '.txt')


def coco_list(fraction):
  """The shipped COCO list of 1/`fraction` of train (the official one)."""
  return os.path.join(SPLIT_LISTS, 'coco', '1of%d.txt' % fraction)


@dataclasses.dataclass(frozen=True)
class Experiment(object):
  """A named configuration.

  Attributes:
    name: what --experiment takes.
    binary: 'train_sup.py' or 'train_wss.py', the binary that runs it.
    summary: one line for --experiment=list.
    build: fn() -> core.config.ExperimentConfig.
    needs_init_checkpoint: the recipe starts from a pretrained backbone.
  """
  name: str
  binary: str
  summary: str
  build: Callable[[], config_lib.ExperimentConfig]
  needs_init_checkpoint: bool = False


_REGISTRY: Dict[str, Experiment] = {}


def register(experiment):
  if experiment.name in _REGISTRY:
    raise ValueError('Experiment %r is registered twice.' % experiment.name)
  _REGISTRY[experiment.name] = experiment
  return experiment


def _natural_key(name):
  """'voc_r101_sup_92' before 'voc_r101_sup_183'."""
  head, _, tail = name.rpartition('_')
  return (head, int(tail)) if tail.isdigit() else (name, 0)


def names() -> Tuple[str, ...]:
  return tuple(sorted(_REGISTRY, key=_natural_key))


def get(name) -> Experiment:
  """The experiment called `name`.

  Raises:
    KeyError: no such experiment (the message lists them).
  """
  if name not in _REGISTRY:
    raise KeyError('No experiment %r; --experiment=list shows them.' % name)
  return _REGISTRY[name]


def _paper(steps, pseudoseg, **data):
  """The paper's recipe (SPEC.md 'Training recipe of the paper')."""
  return config_lib.replace(
      config_lib.ExperimentConfig(),
      model=dict(backbone='resnet101', output_stride=16, weight_decay=4e-5,
                 pseudoseg_heads=pseudoseg),
      data=dict(crop_size=(513, 513), **data),
      train=dict(train_steps=steps, batch_size=64, unlabeled_batch_size=64,
                 base_learning_rate=0.007, end_learning_rate=0.0,
                 lr_power=0.9, momentum=0.9, warmup_steps=0, optimizer='sgd',
                 strategy='mirrored'))


def _voc(num_labeled, kind):
  pseudoseg = kind != 'sup'
  cfg = _paper(30000, pseudoseg, record_dir='data/voc/tfrecord',
               dataset='pascal_voc_seg', train_split='train',
               labeled_ids=voc_list(num_labeled),
               unlabeled_split='train_aug',
               use_image_labels=kind == 'pseudoseg_image_labels')
  if pseudoseg:
    cfg = config_lib.replace(cfg, pseudo_label=dict(
        temperature=0.5, pseudo_src='avg', logit_norm='global'))
  return cfg


def _coco(fraction):
  cfg = _paper(200000, True, record_dir='data/coco/tfrecord',
               dataset='coco', train_split='train',
               labeled_ids=coco_list(fraction),
               unlabeled_split='train')
  return config_lib.replace(cfg, pseudo_label=dict(
      temperature=0.5, pseudo_src='avg', logit_norm='global'))


_KINDS = {
    'sup': ('train_sup.py', 'supervised baseline'),
    'pseudoseg': ('train_wss.py', 'PseudoSeg, rest of train_aug unlabeled'),
    'pseudoseg_image_labels': ('train_wss.py',
                               'PseudoSeg, rest of train_aug with image labels'),
}

for _n in VOC_LABELED:
  for _kind, (_binary, _what) in _KINDS.items():
    register(Experiment(
        name='voc_r101_%s_%d' % (_kind, _n), binary=_binary,
        summary='VOC 2012, %d labeled: %s (paper recipe, R101, 30k steps)' % (
            _n, _what),
        build=lambda n=_n, k=_kind: _voc(n, k), needs_init_checkpoint=True))

for _f in COCO_FRACTIONS:
  register(Experiment(
      name='coco_r101_pseudoseg_%d' % _f, binary='train_wss.py',
      summary='COCO 2017, 1/%d labeled: PseudoSeg (paper recipe, R101, 200k '
      'steps)' % _f, build=lambda f=_f: _coco(f), needs_init_checkpoint=True))

for _binary in ('train_sup.py', 'train_wss.py'):
  register(Experiment(
      name='smoke' if _binary == 'train_sup.py' else 'smoke_pseudoseg',
      binary=_binary, summary='a tiny model and schedule (CPU seconds)',
      build=lambda b=_binary: config_lib.override(
          config_lib.smoke(), pseudoseg_heads=b == 'train_wss.py')))


# The main job's runs (scripts/main_job.sh on scripts/embedded_flags.sh's model and
# schedule), seed 0, paths from the repository root as the scripts run.
_EMBEDDED_MODEL = dict(
    backbone='mobilenet_v2', width_multiplier=0.5, output_stride=16,
    aspp_filters=64, decoder_filters=64, low_level_filters=24, sgc_dim=32,
    crop_size=(96, 96), min_scale=0.75, max_scale=1.25, scale_step=0.25,
    batch_size=8, base_learning_rate=0.1, weight_decay=1e-5, warmup_steps=50,
    steps_per_loop=25, checkpoint_every=200, summary_every=50,
    image_summary_every=300, seed=0, record_dir='data/synthetic/tfrecord',
    init_checkpoint='pretrained/source_cls')
_EMBEDDED_FEW = dict(labeled_ids='data/synthetic/splits/labeled_20_seed0.txt')
_EMBEDDED_PSEUDOSEG = dict(_EMBEDDED_FEW, unlabeled_split='train',
                           unlabeled_batch_size=8, score_pseudo_labels=True,
                           cam_level='2')
_EMBEDDED_RUNS = {
    'sup_few': ('train_sup.py', '20 labeled, supervised',
                dict(_EMBEDDED_FEW, train_steps=600)),
    'pseudoseg': ('train_wss.py', '20 labeled, PseudoSeg, the rest unlabeled',
                  dict(_EMBEDDED_PSEUDOSEG, train_steps=600)),
    'pseudoseg_image_labels': (
        'train_wss.py', '20 labeled, PseudoSeg, the rest with image labels',
        dict(_EMBEDDED_PSEUDOSEG, use_image_labels=True, train_steps=600)),
    'sup_full': ('train_sup.py', 'all labeled, supervised',
                 dict(train_steps=1500)),
}


def _embedded(binary, settings):
  return config_lib.override(
      config_lib.ExperimentConfig(), pseudoseg_heads=binary == 'train_wss.py',
      **dict(_EMBEDDED_MODEL, **settings))


for _run, (_binary, _what, _settings) in _EMBEDDED_RUNS.items():
  register(Experiment(
      name='embedded_' + _run, binary=_binary,
      summary='the main job on the embedded set: %s' % _what,
      build=lambda b=_binary, s=_settings: _embedded(b, s)))
