"""DeepLabv3+ with the PseudoSeg heads, built from tf-models-official parts.

    images [B, H, W, 3] in [0, 1]
      -> ImageNet mean/std normalisation (as Model Garden's input pipeline)
      -> backbone (MobileNet or DilatedResNet, stride `output_stride`)
      -> ASPP on level log2(output_stride)
      -> deeplabv3plus head fusing level 2  -> 'logits' [B, H/4, W/4, C]
    with `pseudoseg_heads`, beside ASPP on the backbone's last features F:
      -> GAP -> dropout (training) -> linear -> 'cls_logits' [B, K]
      -> closed-form Grad-CAM of that head -> 'cam' [B, h, w, K]
      -> self-attention Grad-CAM on F's grid -> 'sgc_logits' [B, h, w, C]

C counts the background, K = C - 1 does not. The CAM / SGC grid (h, w) is the
grid of F. By default F is the backbone's last endpoint (the ASPP input for
MobileNetV3, whose last endpoint is globally pooled), so the grid is stride
`output_stride`: 16 by default, 8 when the model is built at output stride 8.
`ModelConfig.cam_level` (ours) names another endpoint, e.g. '2' (stride 4).
The SGC queries and keys are F and the endpoint one level below (above, when F
is the lowest), detached and resized bilinearly to F's grid: MobileNetV2
'5' + '4' (both on the grid), DilatedResNet '4' + '3' at OS 16 and '3' + '2'
(stride 4, downsampled) at OS 8; with cam_level '2', '2' + '3' (upsampled).
"""

import math

import tensorflow as tf

from official.vision.modeling.backbones import mobilenet
from official.vision.modeling.backbones import resnet_deeplab
from official.vision.modeling.decoders import aspp
from official.vision.modeling.heads import segmentation_heads

from core import config as config_lib
from core.modeling import atrous
from core.modeling import cam as cam_lib
from core.modeling import resize
from core.modeling import sgc as sgc_lib

# Model Garden normalises images in [0, 1] with these (preprocess_ops
# MEAN_NORM / STDDEV_NORM); its ImageNet checkpoints expect it.
_MEAN = (0.485, 0.456, 0.406)
_STDDEV = (0.229, 0.224, 0.225)

_MOBILENETS = {
    'mobilenet_v2': 'MobileNetV2',
    'mobilenet_v3_small': 'MobileNetV3Small',
    'mobilenet_v3_large': 'MobileNetV3Large',
}
_RESNETS = {'resnet50': 50, 'resnet101': 101}
# As Model Garden's seg_deeplabv3plus_pascal (whose ImageNet DeepLab
# checkpoint has the three-conv 'v1' stem).
_RESNET_STEM = 'v1'
_RESNET_MULTIGRID = (1, 2, 4)
_LOW_LEVEL = 2  # Stride-4 endpoint fused by the decoder.


def kernel_regularizer(cfg):
  """The L2 regularizer of every conv kernel, or None without weight decay.

  Keras l2(x) adds x * sum(w^2); TF1 slim's l2_regularizer(x) and Model Garden
  (l2(weight_decay / 2)) add weight_decay * sum(w^2) / 2. We follow them so that
  weight_decay means the same as in the official code.
  """
  return (tf.keras.regularizers.l2(cfg.weight_decay / 2.0)
          if cfg.weight_decay else None)


def build_backbone(cfg):
  """Returns the Model Garden backbone named by `cfg.backbone`."""
  regularizer = kernel_regularizer(cfg)
  if cfg.backbone in _MOBILENETS:
    return mobilenet.MobileNet(
        model_id=_MOBILENETS[cfg.backbone],
        filter_size_scale=cfg.width_multiplier,
        output_stride=cfg.output_stride,
        norm_momentum=cfg.batchnorm_momentum,
        kernel_regularizer=regularizer)
  if cfg.backbone in _RESNETS:
    return resnet_deeplab.DilatedResNet(
        model_id=_RESNETS[cfg.backbone],
        output_stride=cfg.output_stride,
        stem_type=_RESNET_STEM,
        multigrid=_RESNET_MULTIGRID,
        norm_momentum=cfg.batchnorm_momentum,
        kernel_regularizer=regularizer)
  raise ValueError(f'Unknown backbone {cfg.backbone!r}; expected one of '
                   f'{sorted(_MOBILENETS) + sorted(_RESNETS)}.')


def _cam_level(backbone_name, level, endpoint_keys, requested=''):
  """Returns the endpoint key of the features F that the classifier pools.

  By default F is the backbone's last endpoint, except for MobileNetV3, whose
  last endpoint is already globally pooled (1x1); there F is the ASPP input.

  Args:
    backbone_name: `ModelConfig.backbone`.
    level: int, log2(output_stride), the ASPP level.
    endpoint_keys: the backbone's endpoint keys ('2', '3', ...).
    requested: `ModelConfig.cam_level`; '' for the default.

  Raises:
    ValueError: `requested` is not one of the backbone's spatial endpoints.
  """
  if backbone_name.startswith('mobilenet_v3'):
    spatial = [k for k in endpoint_keys if int(k) <= level]
    default = str(level)
  else:
    spatial = list(endpoint_keys)
    default = str(max(int(k) for k in endpoint_keys))
  if not requested:
    return default
  if requested not in spatial:
    raise ValueError(
        f'cam_level {requested!r} is not a feature level of {backbone_name}; '
        f'expected one of {sorted(spatial, key=int)} (or \'\' for {default}).')
  return requested


def _sgc_levels(cam_level, endpoint_keys):
  """(F's key, the key below it, or above it when F is the lowest level)."""
  below, above = str(int(cam_level) - 1), str(int(cam_level) + 1)
  return (cam_level, below if below in endpoint_keys else above)


def scale_gradient(x, scale):
  """Identity forward; the gradient flowing back through it is times `scale`."""
  if scale == 1.0:
    return x
  if scale == 0.0:
    return tf.stop_gradient(x)
  return scale * x + (1.0 - scale) * tf.stop_gradient(x)


def dropout(x, rate, seed):
  """Inverted dropout drawn from a stateless seed: one seed, one mask.

  Args:
    x: float tensor.
    rate: python float in [0, 1), the share of units zeroed.
    seed: [2] int stateless seed.

  Returns:
    `x` with each unit zeroed with probability `rate` and the others scaled by
    1 / (1 - rate); `x` itself when `rate` is 0.
  """
  if not rate:
    return x
  kept = tf.random.stateless_uniform(tf.shape(x), seed) >= rate
  return x * tf.cast(kept, x.dtype) / tf.cast(1.0 - rate, x.dtype)


def channel_dropout_mask(perturbed, channels, rate, seed):
  """A per-image channel-dropout multiplier (feature dropout perturbation).

  Args:
    perturbed: [batch] float, 1 for images whose features are perturbed.
    channels: int, feature depth.
    rate: float in [0, 1), share of channels dropped in a perturbed image.
    seed: [2] int stateless seed.

  Returns:
    [batch, 1, 1, channels] float32: 1 for unperturbed images; 0 or
    1 / (1 - rate) (inverted dropout) for perturbed ones.
  """
  perturbed = tf.cast(perturbed, tf.float32)[:, None, None, None]
  batch = tf.shape(perturbed)[0]
  dropped = dropout(tf.ones([batch, 1, 1, channels]), rate, seed)
  return perturbed * dropped + (1.0 - perturbed)


def _dropout_seed(seed):
  """[2] int64 stateless seed: `seed`, or one drawn from the global generator."""
  if seed is None:
    return tf.random.uniform([2], 0, 2**31 - 1, dtype=tf.int64)
  return tf.cast(tf.reshape(seed, [2]), tf.int64)


def _downsample_mask(mask, size):
  """[B, H, W] valid mask -> [B, h, w]: 1 where over half the cell is valid."""
  # The area average (resize.py: XLA compiles it; ResizeArea it does not).
  mask = resize.area_downsample(tf.cast(mask, tf.float32)[..., tf.newaxis], size)
  return tf.cast(mask[..., 0] > 0.5, tf.float32)


class PseudoSegModel(tf.keras.Model):
  """DeepLabv3+ plus the PseudoSeg classification head, CAM and SGC.

  Attributes:
    backbone: the Model Garden backbone (a functional `tf.keras.Model`
      returning a dict of endpoints keyed by level).
    decoder: the ASPP decoder.
    head: the deeplabv3plus segmentation head.
    cam_level: str, endpoint key of F (classifier features, CAM grid).
    sgc_levels: tuple of the two endpoint keys whose features, detached and
      resized to F's grid, are the SGC's queries and keys.
  """

  def __init__(self, cfg: config_lib.ModelConfig, num_classes: int,
               backbone: tf.keras.Model, **kwargs):
    """Creates the layers around `backbone`; `build_model` builds them all.

    Args:
      cfg: the model configuration.
      num_classes: C, number of classes including background.
      backbone: a Model Garden backbone (`build_backbone(cfg)`), returning a
        dict of endpoints keyed by level, at `cfg.output_stride`.
      **kwargs: forwarded to `tf.keras.Model`.
    """
    super().__init__(**kwargs)
    if cfg.output_stride not in (8, 16):
      raise ValueError(
          f'output_stride must be 8 or 16, got {cfg.output_stride}.')
    self._cfg = cfg
    self._num_classes = num_classes
    regularizer = kernel_regularizer(cfg)
    level = int(math.log2(cfg.output_stride))
    self.backbone = backbone
    # Model Garden's ASPP ends with an unseeded Keras dropout, which made two
    # runs with the same --seed differ; it is off, and call() applies the same
    # dropout (cfg.aspp_dropout) to the ASPP output from `dropout_seed`.
    self.decoder = aspp.ASPP(
        level=level,
        dilation_rates=[r * 16 // cfg.output_stride for r in cfg.aspp_rates],
        num_filters=cfg.aspp_filters,
        dropout_rate=0.0,
        norm_momentum=cfg.batchnorm_momentum,
        kernel_regularizer=regularizer)
    self.head = segmentation_heads.SegmentationHead(
        num_classes=num_classes,
        level=level,
        num_convs=cfg.num_head_convs,
        num_filters=cfg.decoder_filters,
        feature_fusion='deeplabv3plus',
        low_level=_LOW_LEVEL,
        low_level_num_filters=cfg.low_level_filters,
        norm_momentum=cfg.batchnorm_momentum,
        kernel_regularizer=regularizer)
    keys = list(self.backbone.output.keys())
    self.cam_level = _cam_level(cfg.backbone, level, keys, cfg.cam_level)
    self.sgc_levels = _sgc_levels(self.cam_level, keys)
    if cfg.pseudoseg_heads:
      # float32 whatever the mixed-precision policy: these layers are tiny,
      # and the CAM normalisation and the attention softmax want precision.
      self.cls_dense = tf.keras.layers.Dense(
          num_classes - 1, kernel_regularizer=regularizer, dtype='float32',
          name='cls_dense')
      self.sgc = sgc_lib.SelfAttentionGradCAM(
          num_classes, dim=cfg.sgc_dim, norm_momentum=cfg.batchnorm_momentum,
          kernel_regularizer=regularizer, dtype='float32', name='sgc')

  @property
  def config(self) -> config_lib.ModelConfig:
    return self._cfg

  @property
  def num_classes(self) -> int:
    return self._num_classes

  def backbone_endpoints(self, images, training=False):
    """The backbone's feature maps: {level key: [batch, h, w, depth]}.

    Args:
      images: [batch, height, width, 3] float in [0, 1] (normalised here).
      training: bool, batch-norm mode.
    """
    images = tf.cast(images, tf.float32)
    x = (images - tf.constant(_MEAN)) / tf.constant(_STDDEV)
    return self.backbone(x, training=training)

  def call(self, images, training=False, cam_classes=None,
           attention_mask=None, decoder_perturbation=None, dropout_seed=None):
    """Runs the network.

    Args:
      images: [batch, height, width, 3] float in [0, 1].
      training: bool, batch-norm and dropout mode.
      cam_classes: the classes whose CAM is kept: an optional [batch,
        num_classes - 1] float multi-hot (no background; the weakly-labeled
        mode), or a function `fn(logits, valid)` of the decoder's logits and
        its grid's valid mask giving one (e.g. `cam.classes_from_logits`).
        None: the classifier's own predictions, sigmoid(cls_logits) >=
        cam_threshold, detached.
      attention_mask: optional [batch, height, width] float, 1 at valid
        pixels (padding and cutout 0); masked out of the SGC attention.
      decoder_perturbation: optional function applied to the ASPP output
        [batch, h, w, aspp_filters] before the decoder head (a perturbation of
        the student, e.g. feature dropout); the classifier, CAM and SGC do not
        see it.
      dropout_seed: optional [2] int stateless seed of the training-mode
        dropout (ASPP output, classifier input): the training steps pass one
        per step and replica, so that runs repeat and resumed runs continue
        exactly; None draws one from the global generator.

    Returns:
      A dict of float32 tensors:
        'logits': [batch, ceil(height/4), ceil(width/4), C] decoder logits.
      and, when `config.pseudoseg_heads`, with (h, w) the grid of stride
      `output_stride`:
        'cls_logits': [batch, K] classification logits (no background).
        'cam': [batch, h, w, K] normalised CAM in [0, 1], detached.
        'cam_classes': [batch, K] the classes the CAM kept (float multi-hot).
        'sgc_logits': [batch, h, w, C] SGC logits.
    """
    endpoints = self.backbone_endpoints(images, training=training)
    decoded = self.decoder(endpoints, training=training)
    if training:
      aspp_seed, cls_seed = tf.unstack(tf.random.experimental.stateless_split(
          _dropout_seed(dropout_seed), num=2))
      decoded = {k: dropout(v, self._cfg.aspp_dropout, aspp_seed)
                 for k, v in decoded.items()}
    if decoder_perturbation is not None:
      decoded = {k: decoder_perturbation(v) for k, v in decoded.items()}
    logits = self.head((endpoints, decoded), training=training)
    outputs = {'logits': tf.cast(logits, tf.float32)}
    if not self._cfg.pseudoseg_heads:
      return outputs

    features = tf.cast(endpoints[self.cam_level], tf.float32)
    cls_logits = self._classifier_logits(features, training,
                                         cls_seed if training else None)
    if callable(cam_classes):
      valid = (tf.ones(tf.shape(logits)[:3]) if attention_mask is None else
               _downsample_mask(attention_mask, tf.shape(logits)[1:3]))
      cam_classes = cam_classes(logits, valid)
    elif cam_classes is None:
      cam_classes = tf.cast(
          tf.stop_gradient(tf.sigmoid(cls_logits)) >= self._cfg.cam_threshold,
          tf.float32)
    cam = cam_lib.normalize_cam(
        cam_lib.gradcam_closed_form(features, self.cls_dense.kernel),
        cam_classes)

    grid = tf.shape(features)[1:3]
    qk_features = [tf.stop_gradient(features)]
    for key in self.sgc_levels[1:]:
      level_features = tf.stop_gradient(tf.cast(endpoints[key], tf.float32))
      qk_features.append(tf.image.resize(level_features, grid))
    qk_features = tf.concat(qk_features, axis=-1)
    if attention_mask is not None:
      attention_mask = _downsample_mask(attention_mask, grid)
    sgc_logits = self.sgc(qk_features, cam, attention_mask=attention_mask,
                          training=training)
    outputs.update(cls_logits=cls_logits, cam=cam,
                   cam_classes=tf.cast(cam_classes, tf.float32),
                   sgc_logits=tf.cast(sgc_logits, tf.float32))
    return outputs


  def _classifier_logits(self, features, training, seed):
    """[batch, K] logits of the classification head on F [batch, h, w, d]."""
    pooled = tf.reduce_mean(
        scale_gradient(features, self._cfg.cls_feature_grad_scale), axis=[1, 2])
    if training:
      pooled = dropout(pooled, self._cfg.cls_dropout, seed)
    return self.cls_dense(pooled)

  def classify(self, images, training=False, dropout_seed=None):
    """The classification head alone, on the backbone's features F.

    Runs neither ASPP, the decoder nor the SGC: what image-level
    classification pretraining trains (pretrain_classifier.py). The same
    `dropout_seed` drops the same pooled units as `call` does.

    Args:
      images: [batch, height, width, 3] float in [0, 1].
      training: bool, batch-norm and dropout mode.
      dropout_seed: optional [2] int stateless seed, as in `call`.

    Returns:
      [batch, K] float32 classification logits (no background).

    Raises:
      ValueError: the model has no classification head (`pseudoseg_heads`).
    """
    if not self._cfg.pseudoseg_heads:
      raise ValueError('The model has no classification head: build it with '
                       'pseudoseg_heads.')
    endpoints = self.backbone_endpoints(images, training=training)
    features = tf.cast(endpoints[self.cam_level], tf.float32)
    seed = None
    if training:
      _, seed = tf.unstack(tf.random.experimental.stateless_split(
          _dropout_seed(dropout_seed), num=2))
    return self._classifier_logits(features, training, seed)


def build_model(cfg: config_lib.ModelConfig, num_classes: int,
                crop_size=(513, 513)) -> PseudoSegModel:
  """Builds a `PseudoSegModel` and creates its variables.

  Build it under the mixed-precision policy and distribution strategy scope
  it will train in.

  Args:
    cfg: the model configuration.
    num_classes: C, number of classes including background.
    crop_size: (height, width) of a dummy input run once to create the
      variables; the model accepts other sizes afterwards.

  Returns:
    The built model.
  """
  model = PseudoSegModel(cfg, num_classes, build_backbone(cfg))
  model(tf.zeros([1, crop_size[0], crop_size[1], 3]), training=False)
  # The same function, faster where an atrous rate outgrows the feature map
  # (the ASPP at small crops): atrous.py.
  atrous.trim_padding_taps(model)
  return model


def _checkpoint_path(ckpt_path):
  if tf.io.gfile.isdir(ckpt_path):
    latest = tf.train.latest_checkpoint(ckpt_path)
    if latest is None:
      raise ValueError(f'No checkpoint found in directory {ckpt_path!r}.')
    return latest
  return ckpt_path


def save_backbone(model: PseudoSegModel, directory: str) -> str:
  """Writes the backbone of `model`, and nothing else, to `directory`.

  The layout is Model Garden's for pretrained backbones
  (`tf.train.Checkpoint(backbone=...)`), so `restore_backbone` and Model
  Garden's `init_checkpoint_modules='backbone'` both read it.

  Args:
    model: a built `PseudoSegModel`.
    directory: where to write; must not hold a checkpoint already.

  Returns:
    The checkpoint prefix written (`directory/backbone-1`).

  Raises:
    FileExistsError: `directory` already holds a checkpoint (nothing is
      overwritten).
  """
  existing = (tf.train.latest_checkpoint(directory)
              if tf.io.gfile.isdir(directory) else None)
  if existing:
    raise FileExistsError(f'{directory!r} already holds a checkpoint '
                          f'({existing}); choose another directory.')
  manager = tf.train.CheckpointManager(
      tf.train.Checkpoint(backbone=model.backbone), directory, max_to_keep=1,
      checkpoint_name='backbone')
  return manager.save()


def restore_backbone(model: PseudoSegModel, ckpt_path: str):
  """Restores the backbone weights of `model` from a checkpoint.

  Accepts a backbone checkpoint (`tf.train.Checkpoint(backbone=...)`, as
  Model Garden's pretrained backbones) or a full checkpoint whose `model`
  has a `backbone` (`tf.train.Checkpoint(model=...)`, as our trainer and
  Model Garden's trainer save). Other objects in the checkpoint are ignored.

  Args:
    model: a built `PseudoSegModel`.
    ckpt_path: a checkpoint prefix, or a directory (its latest checkpoint).

  Returns:
    The load status (`expect_partial` already applied).

  Raises:
    ValueError: naming the path, when the checkpoint holds no backbone or one
      that does not fit this model's backbone.
  """
  path = _checkpoint_path(ckpt_path)
  try:
    names = [name for name, _ in tf.train.list_variables(path)]
  except (tf.errors.NotFoundError, tf.errors.DataLossError, ValueError) as e:
    raise ValueError(f'Cannot read checkpoint {path!r}: {e}') from e
  if any(n.startswith('backbone/') for n in names):
    ckpt = tf.train.Checkpoint(backbone=model.backbone)
  elif any(n.startswith('model/backbone/') for n in names):
    ckpt = tf.train.Checkpoint(
        model=tf.train.Checkpoint(backbone=model.backbone))
  else:
    raise ValueError(
        f'Checkpoint {path!r} holds no backbone (expected variables under '
        f'"backbone/" or "model/backbone/").')
  does_not_fit = (
      f'The backbone in checkpoint {path!r} does not fit this model\'s '
      f'{model.config.backbone!r} backbone (width '
      f'{model.config.width_multiplier}, output stride '
      f'{model.config.output_stride})')
  # Checked before anything is read, so that a checkpoint of another backbone
  # names its first mismatch in the backbone's own order and leaves the model
  # as it was.
  mismatch = _first_mismatch(ckpt, model.backbone.variables,
                             tf.train.load_checkpoint(path))
  if mismatch:
    raise ValueError(f'{does_not_fit}: first mismatch {mismatch}.')
  try:
    status = ckpt.read(path).expect_partial()
    status.assert_existing_objects_matched()
  except (AssertionError, ValueError, tf.errors.InvalidArgumentError) as e:
    raise ValueError(f'{does_not_fit}: {" ".join(str(e).split())}') from e
  return status


def _first_mismatch(root, variables, reader):
  """'KEY: [shape] in the checkpoint, [shape] in this model' (or 'KEY: not in
  the checkpoint') of the first of `variables` that the checkpoint of `reader`
  cannot fill when read through `root`; None when all fit."""
  # The keys a checkpoint stores for `root`'s variables; TensorFlow offers this
  # traversal only in its private checkpoint package.
  from tensorflow.python.checkpoint import graph_view  # pylint: disable=g-import-not-at-top,g-direct-tensorflow-import
  _, paths = graph_view.ObjectGraphView(root).breadth_first_traversal()
  shapes = reader.get_variable_to_shape_map()
  for variable in variables:
    if variable not in paths:
      continue
    key = '/'.join(ref.name for ref in paths[variable])
    stored = shapes.get(key + '/.ATTRIBUTES/VARIABLE_VALUE')
    if stored is None:
      return f'{key}: not in the checkpoint'
    if list(stored) != variable.shape.as_list():
      return (f'{key}: {list(stored)} in the checkpoint, '
              f'{variable.shape.as_list()} in this model')
  return None
