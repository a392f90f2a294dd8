"""Does a feature level know the classes? A linear probe on pure grid cells.

PseudoSeg's classifier, CAM and SGC read the backbone's last features (stride 16;
another level with `ModelConfig.cam_level`). They can only work if those features
tell the classes apart. This probe measures
that directly: each level's feature map is a grid of cells; a cell whose pixels are
mostly one class (`purity`) gets that class, others are left out; a softmax
regression on the standardised cell features is fitted on some images and scored
on others. Foreground accuracy (on cells of classes 1..C-1, is the best-scoring
foreground class theirs?) near 1 / (C - 1) means the level carries no class
identity, whatever the classifier on top does.

`cam_level_probe` asks the next question: would a CAM on this level localise the
classes? It fits the PseudoSeg classifier (global average pooling + linear,
multi-label) on each level's frozen features with image labels taken from the
masks, and scores that classifier's CAM given the true classes, as
`ModelConfig.cam_level` would use it.

Pure numpy / TF functions; the model and data come from the caller.
"""

import numpy as np
import tensorflow as tf

from core.evaluation import metrics
from core.modeling import cam as cam_lib
from datasets import input_pipeline


def cell_labels(label, grid, purity=0.75, ignore_label=255):
  """The class of each cell of a grid laid over the masks, or -1.

  Args:
    label: [batch, height, width] integer masks.
    grid: (rows, cols) of the feature map; cell (i, j) covers pixel rows
      [i * height // rows, (i + 1) * height // rows), likewise for columns.
    purity: share of a cell's pixels that its class must hold; ignored pixels
      count against it.
    ignore_label: mask value of unlabeled pixels.

  Returns:
    [batch, rows, cols] int64: the class holding at least `purity` of the cell,
    -1 where none does (mixed cells, mostly ignored cells, empty cells).
  """
  label = np.asarray(label).astype(np.int64)
  batch = label.shape[0]
  rows, cols = grid
  height, width = label.shape[1:3]
  # Ignored pixels go to an extra last bucket, counted per image with one bincount.
  bucket = int(label[label != ignore_label].max(initial=0)) + 1
  label = np.where(label == ignore_label, bucket, label)
  offsets = np.arange(batch)[:, None] * (bucket + 1)
  out = np.full((batch, rows, cols), -1, np.int64)
  for i in range(rows):
    for j in range(cols):
      block = label[:, i * height // rows:(i + 1) * height // rows,
                    j * width // cols:(j + 1) * width // cols]
      block = block.reshape(batch, -1)
      if block.shape[1] == 0:
        continue
      counts = np.bincount((block + offsets).ravel(),
                           minlength=batch * (bucket + 1))
      counts = counts.reshape(batch, bucket + 1)[:, :bucket]
      pure = counts.max(1) >= max(purity * block.shape[1], 1e-9)
      out[:, i, j] = np.where(pure, counts.argmax(1), -1)
  return out


def _fit_linear(train_x, train_y, num_outputs, loss_fn, steps, learning_rate,
                l2):
  """Full-batch Adam on a linear map of standardised features.

  Args:
    train_x: [n, depth] float32 features.
    train_y: targets as `loss_fn(labels=, logits=)` takes them.
    num_outputs: logits per example.
    loss_fn: per-example (or per-logit) loss of (labels, logits).
    steps, learning_rate, l2: Adam steps and rate, weight penalty.

  Returns:
    (weights [depth, num_outputs], bias, mean, std) as numpy: the logits of
    features x are `((x - mean) / std) @ weights + bias`.
  """
  mean, std = train_x.mean(0), train_x.std(0) + 1e-6
  a = tf.constant((train_x - mean) / std)
  y = tf.constant(train_y)
  weights = tf.Variable(tf.zeros([a.shape[1], num_outputs]))
  bias = tf.Variable(tf.zeros([num_outputs]))
  optimizer = tf.keras.optimizers.Adam(learning_rate)

  @tf.function(autograph=False)
  def step():
    with tf.GradientTape() as tape:
      logits = tf.matmul(a, weights) + bias
      loss = tf.reduce_mean(loss_fn(labels=y, logits=logits)) + (
          l2 * tf.reduce_sum(tf.square(weights)))
    optimizer.apply_gradients(zip(tape.gradient(loss, [weights, bias]),
                                  [weights, bias]))

  for _ in range(steps):
    step()
  return weights.numpy(), bias.numpy(), mean, std


def linear_probe(train_x, train_y, test_x, test_y, num_classes, steps=300,
                 learning_rate=0.01, l2=1e-4):
  """Fits a softmax regression on standardised features and scores it.

  Args:
    train_x: [n, depth] float features; train_y: [n] int classes in [0, C).
    test_x: [m, depth]; test_y: [m].
    num_classes: C.
    steps: full-batch Adam steps.
    learning_rate: Adam learning rate.
    l2: weight penalty.

  Returns:
    dict: 'accuracy' (all test cells), 'foreground_accuracy' (on the test
    cells of classes >= 1, how often the highest-scoring foreground class is
    theirs; chance 1 / (C - 1); NaN if none), 'background_share' (share of test cells of class
    0: the accuracy of always answering background), 'num_train', 'num_test'.
  """
  train_x = np.asarray(train_x, np.float32)
  test_x = np.asarray(test_x, np.float32)
  if len(train_x) == 0 or len(test_x) == 0:
    raise ValueError('The probe needs cells to fit and to score; got %d and %d.' %
                     (len(train_x), len(test_x)))
  weights, bias, mean, std = _fit_linear(
      train_x, np.asarray(train_y, np.int64), num_classes,
      tf.nn.sparse_softmax_cross_entropy_with_logits, steps, learning_rate, l2)
  b = (test_x - mean) / std
  logits = b @ weights + bias
  predicted = np.argmax(logits, -1)
  # Which foreground class, for the foreground cells: objectness and class
  # imbalance play no part (chance is 1 / (C - 1)).
  predicted_class = np.argmax(logits[:, 1:], -1) + 1
  test_y = np.asarray(test_y)
  foreground = test_y > 0
  return {
      'accuracy': float(np.mean(predicted == test_y)),
      'foreground_accuracy': (float(np.mean(predicted_class[foreground] ==
                                            test_y[foreground]))
                              if foreground.any() else float('nan')),
      'background_share': float(np.mean(~foreground)),
      'num_train': int(len(train_x)),
      'num_test': int(len(test_x)),
  }


def class_identity_probe(model, dataset, num_classes, ignore_label=255,
                         purity=0.75, max_batches=None, steps=300):
  """Probes every backbone level of `model` on a data set with masks.

  Images alternate between fitting (even positions) and scoring (odd), so the
  two sets share no image. Inference mode.

  Args:
    model: a `PseudoSegModel`.
    dataset: yields dicts with 'image' [B,H,W,3] and 'label' [B,H,W,1].
    num_classes: C.
    ignore_label: mask value of unlabeled pixels (and padding).
    purity: see `cell_labels`.
    max_batches: stop early.
    steps: probe fitting steps.

  Returns:
    {level key: dict of `linear_probe` plus 'stride' (image height over grid
    rows), 'depth' and 'num_images' (fitted and scored together)}, levels in
    increasing key order.
  """
  features, cells, strides = {}, {}, {}
  position = 0
  for i, batch in enumerate(dataset):
    if max_batches is not None and i >= max_batches:
      break
    endpoints = model.backbone_endpoints(batch['image'], training=False)
    label = batch['label'].numpy()[..., 0]
    parity = (position + np.arange(label.shape[0])) % 2
    position += label.shape[0]
    for key, value in endpoints.items():
      value = value.numpy()
      strides.setdefault(key, int(round(label.shape[1] / value.shape[1])))
      grid_cells = cell_labels(label, value.shape[1:3], purity, ignore_label)
      for part in (0, 1):
        chosen = parity == part
        keep = grid_cells[chosen] >= 0
        features.setdefault((key, part), []).append(value[chosen][keep])
        cells.setdefault((key, part), []).append(grid_cells[chosen][keep])
  if not strides:
    raise ValueError('The data set is empty.')
  report = {}
  for key in sorted(strides, key=int):
    x = {p: np.concatenate(features[(key, p)]) for p in (0, 1)}
    y = {p: np.concatenate(cells[(key, p)]) for p in (0, 1)}
    result = linear_probe(x[0], y[0], x[1], y[1], num_classes, steps=steps)
    result.update(stride=strides[key], depth=int(x[0].shape[1]),
                  num_images=position)
    report[key] = result
  return report


def multilabel_probe(train_x, train_y, steps=300, learning_rate=0.01, l2=1e-4):
  """Fits independent logistic regressions (sigmoid CE) on standardised features.

  Args:
    train_x: [n, depth] float features; train_y: [n, K] multi-hot targets.
    steps: full-batch Adam steps.
    learning_rate: Adam learning rate.
    l2: weight penalty.

  Returns:
    (kernel [depth, K], bias [K]) in the space of the raw features: the
    classifier is `x @ kernel + bias` (standardisation folded in).
  """
  train_x = np.asarray(train_x, np.float32)
  train_y = np.asarray(train_y, np.float32)
  if len(train_x) == 0:
    raise ValueError('The probe needs images to fit; got none.')
  weights, bias, mean, std = _fit_linear(
      train_x, train_y, train_y.shape[1],
      tf.nn.sigmoid_cross_entropy_with_logits, steps, learning_rate, l2)
  kernel = weights / std[:, None]
  return kernel, bias - mean @ kernel


def cam_level_probe(model, dataset, num_classes, ignore_label=255,
                    max_batches=None, steps=300):
  """Scores, per backbone level, the CAM of a classifier fitted on its features.

  Two passes over the data, inference mode. First, each level's features are
  globally average-pooled and a multi-label logistic regression is fitted on
  the even images (targets: the classes present in their masks). Then, on the
  odd images, the closed-form CAM of that classifier is kept for the true
  classes, normalised by its maximum, given a background map 1 - max, resized
  bilinearly to the image and scored; the decoder is scored on the same images.

  Args:
    model: a `PseudoSegModel` (with or without the PseudoSeg heads).
    dataset: yields dicts with 'image' [B,H,W,3] and 'label' [B,H,W,1]; it
      must yield the same batches in the same order twice.
    num_classes: C.
    ignore_label: mask value of unlabeled pixels (and padding).
    max_batches: stop early.
    steps: classifier fitting steps.

  Returns:
    {'levels': {level key: {'cam_miou', 'stride', 'classifier_accuracy'
    (scored images, threshold 0.5), 'always_absent_accuracy'}},
    'decoder_miou', 'num_fitted', 'num_scored'}, levels in increasing key order.
  """
  def part(parity):
    """Yields (images, label) of the images at even (0) or odd (1) positions."""
    position = 0
    for i, batch in enumerate(dataset):
      if max_batches is not None and i >= max_batches:
        return
      label = batch['label'].numpy()[..., 0]
      chosen = (position + np.arange(label.shape[0])) % 2 == parity
      position += label.shape[0]
      if chosen.any():
        yield tf.boolean_mask(batch['image'], chosen), label[chosen]

  pooled, targets = {}, []
  for images, label in part(0):
    targets.append(input_pipeline.batch_class_multi_hot(
        label, num_classes).numpy())
    endpoints = model.backbone_endpoints(images, training=False)
    for key, value in endpoints.items():
      pooled.setdefault(key, []).append(
          tf.reduce_mean(value, axis=[1, 2]).numpy())
  if not targets:
    raise ValueError('The data set is empty.')
  targets = np.concatenate(targets)
  classifiers = {key: multilabel_probe(np.concatenate(x), targets, steps=steps)
                 for key, x in pooled.items()}

  cms = {key: np.zeros((num_classes, num_classes), np.int64)
         for key in ['decoder'] + list(classifiers)}
  strides, correct, absent, scored = {}, {}, 0.0, 0
  for images, label in part(1):
    present = input_pipeline.batch_class_multi_hot(label, num_classes).numpy()
    size = label.shape[1:3]
    scored += len(label)
    absent += float(np.sum(present == 0))
    logits = model(images, training=False)['logits']
    maps = {'decoder': logits}
    for key, value in model.backbone_endpoints(images, training=False).items():
      kernel, bias = classifiers[key]
      strides.setdefault(key, int(round(size[0] / value.shape[1])))
      scores = tf.reduce_mean(value, axis=[1, 2]).numpy() @ kernel + bias
      correct[key] = correct.get(key, 0.0) + float(
          np.sum((scores > 0) == (present > 0)))
      cam = cam_lib.normalize_cam(
          cam_lib.gradcam_closed_form(value, kernel), present)
      maps[key] = cam_lib.cam_with_background(cam)
    for key, scores in maps.items():
      prediction = tf.argmax(tf.image.resize(scores, size), -1,
                             output_type=tf.int32)
      cms[key] += metrics.confusion_matrix(
          label, prediction, num_classes, ignore_label=ignore_label).numpy()
  if not scored:
    raise ValueError(
        'The probe needs at least two images (one fitted, one scored).')
  entries = scored * (num_classes - 1)
  levels = {}
  for key in sorted(classifiers, key=int):
    levels[key] = {
        'cam_miou': metrics.iou_from_confusion(cms[key])[0],
        'stride': strides[key],
        'classifier_accuracy': correct[key] / entries,
        'always_absent_accuracy': absent / entries,
    }
  return {'levels': levels,
          'decoder_miou': metrics.iou_from_confusion(cms['decoder'])[0],
          'num_fitted': int(len(targets)), 'num_scored': scored}
