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

Pure numpy / TF functions; the model and data come from the caller.
"""

import numpy as np
import tensorflow as tf


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
  mean, std = train_x.mean(0), train_x.std(0) + 1e-6
  a = tf.constant((train_x - mean) / std)
  b = (test_x - mean) / std
  y = tf.constant(np.asarray(train_y, np.int64))
  weights = tf.Variable(tf.zeros([a.shape[1], num_classes]))
  bias = tf.Variable(tf.zeros([num_classes]))
  optimizer = tf.keras.optimizers.Adam(learning_rate)

  @tf.function
  def step():
    with tf.GradientTape() as tape:
      logits = tf.matmul(a, weights) + bias
      loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
          labels=y, logits=logits)) + l2 * tf.reduce_sum(tf.square(weights))
    optimizer.apply_gradients(zip(tape.gradient(loss, [weights, bias]),
                                  [weights, bias]))

  for _ in range(steps):
    step()
  logits = b @ weights.numpy() + bias.numpy()
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
