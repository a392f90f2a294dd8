"""Input pipelines: records -> decoder -> parser (augmentation) -> batches.

Three streams, built separately (the trainer zips the labeled and unlabeled ones):

  labeled_dataset    weakly augmented crops with pixel labels and the multi-hot of the
                     foreground classes present in each crop.
  unlabeled_dataset  a weak and a strong view of each image sharing one geometry, and
                     image-level labels only in the weakly-labeled mode. Pixel labels
                     never leave this stream.
  eval_dataset       every record exactly once, padded (never resized) for scoring at
                     the original size.

and, for pretraining a backbone by image-level classification, classification_dataset:
weakly augmented images with their image-level labels only.

Training order: shuffle (a fixed seed per epoch, so every epoch has a new order) ->
repeat -> skip -> enumerate -> map -> batch(drop_remainder) -> prefetch. Shuffling and
skipping act on serialized records, before the expensive decode/augment map, and each
example's augmentation is seeded statelessly from (seed, stream, input pipeline,
position). So a run resumed with `start_index` = examples already consumed sees the
same examples with the same augmentation as an uninterrupted run. (Orders also
depend on the global seed if the binary sets one with `tf.random.set_seed`.)
"""

import re

import tensorflow as tf

from augment import strong
from augment import weak
from datasets import record_format

# Salts that keep the labeled and unlabeled streams' random draws independent.
_LABELED_SALT = 1
_UNLABELED_SALT = 2
_CLASSIFICATION_SALT = 3
# Epoch e of a stream seeded s is shuffled with seed s * stride + e.
_EPOCH_SEED_STRIDE = 1000003
_MAX_EPOCHS = 2**62  # "Forever".


def _graph_code(fn):
  """`fn` as tf.data traces it, without AutoGraph's source conversion.

  The pipelines' functions are plain graph code (tf.cond, no Python branch on a
  tensor), so converting them would only cost start-up time: about 2 s of CPU
  per pipeline on a small machine.
  """
  return tf.autograph.experimental.do_not_convert(fn)


def _map(dataset, fn):
  """dataset.map(fn) in parallel, in order, without AutoGraph."""
  return dataset.map(_graph_code(fn), num_parallel_calls=tf.data.AUTOTUNE,
                     deterministic=True)


def decode(serialized):
  """Decodes one record, converting the image to float.

  Args:
    serialized: scalar string tensor.

  Returns:
    The dict of `record_format.decode_example` with
      'image': [height, width, 3] float32 in [0, 1],
      'label': [height, width, 1] int32 (255 = ignore),
    and 'has_mask', 'filename', 'class_ids', 'has_class_labels' unchanged.
  """
  data = record_format.decode_example(serialized)
  data['image'] = tf.image.convert_image_dtype(data['image'], tf.float32)
  data['label'] = tf.cast(data['label'], tf.int32)
  return data


def _filename(serialized):
  parsed = tf.io.parse_single_example(serialized, {
      record_format.IMAGE_FILENAME: tf.io.FixedLenFeature(
          (), tf.string, default_value='')})
  return parsed[record_format.IMAGE_FILENAME]


def filter_by_ids(dataset, ids):
  """Keeps the serialized records whose image/filename is one of `ids`.

  Args:
    dataset: a dataset of serialized records.
    ids: python list of image ids (str or bytes), e.g. from `datasets.splits`.

  Returns:
    The filtered dataset.
  """
  keys = sorted({i.decode('utf-8') if isinstance(i, bytes) else str(i)
                 for i in ids})
  if not keys:
    raise ValueError('filter_by_ids: empty id list.')
  table = tf.lookup.StaticHashTable(
      tf.lookup.KeyValueTensorInitializer(
          tf.constant(keys), tf.ones([len(keys)], tf.int32)),
      default_value=0)
  return dataset.filter(_graph_code(lambda s: table.lookup(_filename(s)) > 0))


def class_multi_hot(label, num_classes):
  """Multi-hot of the foreground classes present in a label map.

  Args:
    label: integer tensor of class ids, any shape; 0 (background), 255 and ids
      >= num_classes are dropped.
    num_classes: classes including background.

  Returns:
    [num_classes - 1] float32; entry c - 1 is 1 iff class c occurs.
  """
  flat = tf.cast(tf.reshape(label, [-1]), tf.int32)
  foreground = (flat > 0) & (flat < num_classes)
  counts = tf.math.bincount(tf.where(foreground, flat, 0),
                            minlength=num_classes, maxlength=num_classes)
  multi_hot = tf.cast(counts[1:] > 0, tf.float32)
  multi_hot.set_shape([num_classes - 1])
  return multi_hot


def batch_class_multi_hot(label, num_classes):
  """[batch, ...] label maps -> [batch, num_classes - 1] `class_multi_hot`s."""
  return tf.map_fn(lambda l: class_multi_hot(l, num_classes),
                   tf.convert_to_tensor(label), fn_output_signature=tf.float32)


def _list_files(files):
  if isinstance(files, str):
    matched = sorted(tf.io.gfile.glob(files))
    if not matched:
      raise FileNotFoundError('No files match %s' % files)
    return matched
  files = list(files)
  if not files:
    raise ValueError('Empty file list.')
  return files


def _num_pipelines(input_context):
  return input_context.num_input_pipelines if input_context else 1


def _pipeline_id(input_context):
  return input_context.input_pipeline_id if input_context else 0


def _records(files, input_context):
  """Serialized records of `files`, in a fixed order, sharded per input pipeline."""
  files = _list_files(files)
  num, index = _num_pipelines(input_context), _pipeline_id(input_context)
  shard_files = num > 1 and len(files) >= num
  dataset = tf.data.Dataset.from_tensor_slices(files)
  if shard_files:
    dataset = dataset.shard(num, index)
  dataset = dataset.interleave(
      tf.data.TFRecordDataset, cycle_length=min(len(files), 8),
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  if num > 1 and not shard_files:
    dataset = dataset.shard(num, index)
  return dataset


def _selected_records(files, ids):
  """All serialized records of `files` (restricted to `ids` if given), in order."""
  dataset = _records(files, None)
  return dataset if ids is None else filter_by_ids(dataset, ids)


def count_records(files, ids=None):
  """Counts the records of `files` (restricted to `ids` if given), eagerly."""
  return int(_selected_records(files, ids).reduce(
      tf.constant(0, tf.int64), lambda n, _: n + 1))


class DamagedShardError(ValueError):
  """A record file that cannot be read to its end (truncated or corrupted)."""


def _damage(error):
  """What the reader says is wrong, without its op and function names."""
  text = re.sub(r'\{\{[^}]*\}\}', '', error.message or '').strip()
  text = re.split(r"'? failed with|\s*\[Op:", text)[0].strip()
  return text.splitlines()[0] if text else type(error).__name__


def _read_shard(path, dataset):
  """Iterates `dataset`, a pipeline reading the shard `path`, naming the shard
  if it is damaged.

  Raises:
    DamagedShardError: the shard cannot be read to its end.
  """
  try:
    yield from dataset
  except tf.errors.DataLossError as e:
    raise DamagedShardError(
        '%s is damaged (%s): convert its split again, or remove the shard.' %
        (path, _damage(e))) from e


def scan_records(files):
  """{image id: whether its record has a mask} of every record of `files`.

  One pass, one shard at a time, reading only each record's id and mask bytes
  (no image is decoded). Ids keep the records' order.

  Args:
    files: list of TFRecord paths, or a glob pattern.

  Raises:
    DamagedShardError: a shard cannot be read to its end, or ends inside a
      record's header; names it.
  """
  features = {
      record_format.IMAGE_FILENAME: tf.io.FixedLenFeature((), tf.string, ''),
      record_format.LABEL_ENCODED: tf.io.FixedLenFeature((), tf.string, '')}
  found = {}
  for path in _list_files(files):
    dataset = tf.data.TFRecordDataset(path).batch(256).map(
        _graph_code(lambda s: tf.io.parse_example(s, features)))
    for parsed in _read_shard(path, dataset):
      has_mask = tf.strings.length(parsed[record_format.LABEL_ENCODED]) > 0
      for name, mask in zip(parsed[record_format.IMAGE_FILENAME].numpy(),
                            has_mask.numpy()):
        found[name.decode('utf-8')] = bool(mask)
    try:
      # A shard cut inside a record's header reads (above) as a shorter,
      # intact one.
      record_format.check_shard_framing(path)
    except ValueError as e:
      raise DamagedShardError(str(e)) from e
  return found


def find_damaged_shard(files):
  """The DamagedShardError of the first damaged shard of `files`, or None."""
  try:
    scan_records(files)
  except DamagedShardError as e:
    return e
  return None


def records_without_mask(files, ids=None):
  """The image ids of the records of `files` (restricted to `ids`) with no mask.

  Reads only each record's id and mask bytes, eagerly; no image is decoded.
  """
  wanted = None if ids is None else {
      i.decode('utf-8') if isinstance(i, bytes) else str(i) for i in ids}
  return [name for name, has_mask in scan_records(files).items()
          if not has_mask and (wanted is None or name in wanted)]


def _training_order(dataset, seed, shuffle_buffer, skip, input_context, salt,
                    cache=False):
  """Shuffle -> repeat -> skip -> enumerate; returns (dataset, base seed).

  Each epoch is shuffled with a seed of its own, (seed, epoch), so the order of
  epoch e does not depend on the epochs before it and a resumed run jumps straight
  to its epoch instead of reading every record consumed before the restart.

  Args:
    dataset: serialized records of one epoch.
    seed: python int.
    shuffle_buffer: records in the shuffle buffer.
    skip: examples this input pipeline already produced.
    input_context: optional `tf.distribute.InputContext`.
    salt: python int separating the streams' augmentation seeds.
    cache: hold the records in memory after the first epoch (read whole,
      after the checks above, which read only part of it).
  """
  if tf.executing_eagerly():
    # An empty epoch (e.g. ids matching no record) would make the endless epoch
    # loop below spin forever; fail at build time instead.
    if next(iter(dataset.take(1)), None) is None:
      raise ValueError('The training set is empty (check the files and ids).')
  first_epoch, skip_in_epoch = 0, 0
  if skip:
    if not tf.executing_eagerly():
      raise ValueError('Resuming (start_index > 0) needs eager execution to '
                       'count the records of an epoch.')
    epoch_size = int(dataset.reduce(tf.constant(0, tf.int64),
                                    _graph_code(lambda n, _: n + 1)))
    first_epoch, skip_in_epoch = divmod(skip, epoch_size)
  if cache:
    dataset = dataset.cache()

  def one_epoch(epoch):
    epoch_seed = tf.constant(seed, tf.int64) * _EPOCH_SEED_STRIDE + epoch
    return dataset.shuffle(shuffle_buffer, seed=epoch_seed,
                           reshuffle_each_iteration=False)

  dataset = tf.data.Dataset.range(first_epoch, _MAX_EPOCHS).flat_map(
      _graph_code(one_epoch))
  if skip_in_epoch:
    dataset = dataset.skip(skip_in_epoch)
  dataset = dataset.enumerate(start=skip)
  base_seed = tf.random.experimental.stateless_fold_in(
      tf.constant([seed, salt], tf.int64), _pipeline_id(input_context))
  return dataset, base_seed


def _element_seeds(base_seed, position, num):
  """`num` independent stateless seeds for the example at `position`."""
  seed = tf.random.experimental.stateless_fold_in(base_seed, position)
  return tf.unstack(tf.random.experimental.stateless_split(seed, num=num))


def _fixed_geometry():
  return {'scale': tf.constant(1.0), 'offset': tf.zeros([2], tf.int32),
          'flip': tf.constant(False)}


def _whole_image_order(files, ids, is_training, seed, shuffle_buffer,
                       start_index, input_context, salt, cache):
  """(enumerated records, base seed) of a stream of one view per image.

  Training: shuffled, endless, resumable (`_training_order`); otherwise one
  pass in file order and no seed.
  """
  dataset = _records(files, input_context)
  if ids is not None:
    dataset = filter_by_ids(dataset, ids)
  if is_training:
    return _training_order(dataset, seed, shuffle_buffer, start_index,
                           input_context, salt, cache=cache)
  return dataset.enumerate(), None


def _whole_image_geometry(data, position, base_seed, crop_size, scales):
  """A random scale, crop and flip in training (`base_seed` given), else the
  fixed top-left crop."""
  if base_seed is None:
    return _fixed_geometry()
  geometry_seed, = _element_seeds(base_seed, position, 1)
  return weak.sample_geometry(tf.shape(data['image'])[:2], crop_size, *scales,
                              seed=geometry_seed)


def labeled_dataset(files, batch_size, crop_size, num_classes, ids=None,
                    is_training=True, scales=(0.5, 2.0, 0.25), seed=0,
                    start_index=0, shuffle_buffer=1000, input_context=None,
                    include_filename=False, mean_pixel=weak.MEAN_PIXEL,
                    cache=False):
  """The pixel-labeled stream.

  Args:
    files: list of TFRecord paths, or a glob pattern.
    batch_size: examples per batch of this input pipeline, i.e. per replica
      (`input_context.get_per_replica_batch_size(global_batch_size)`).
    crop_size: (crop_height, crop_width) python ints.
    num_classes: classes including background.
    ids: optional python list of image ids to keep.
    is_training: if True: shuffle, repeat, random weak augmentation, full batches
      only. If False: one pass in file order, no scaling or flipping (pad and crop
      at the top-left), last batch may be short.
    scales: (min_scale, max_scale, scale_step) of `augment.weak.sample_geometry`.
    seed: seed of the shuffle and of every augmentation draw.
    start_index: examples this input pipeline already produced (steps x global
      batch size / number of input pipelines); the stream resumes from there.
    shuffle_buffer: records in the shuffle buffer.
    input_context: optional `tf.distribute.InputContext`: shards the records
      per input pipeline and separates the pipelines' augmentation seeds.
    include_filename: also return the image ids (strings; keep off on TPU).
    mean_pixel: padding colour.
    cache: hold the selected records (their encoded bytes) in memory after the
      first epoch, so that later epochs neither re-read the shards nor filter
      every record by id again (a few labeled images among many: 20 of 1000
      re-read 1000 records an epoch). Same order and values as without.

  Returns:
    A dataset of dicts with
      'image': [batch, crop_height, crop_width, 3] float32 in [0, 1],
      'label': [batch, crop_height, crop_width, 1] int32, 255 = ignore/padding,
      'valid': [batch, crop_height, crop_width] float32, 1 on image pixels,
      'class_labels': [batch, num_classes - 1] float32 multi-hot of the foreground
        classes present in the augmented crop's label,
      'filename': [batch] string (only with `include_filename`).
  """
  dataset, base_seed = _whole_image_order(
      files, ids, is_training, seed, shuffle_buffer, start_index,
      input_context, _LABELED_SALT, cache)

  def parse(position, serialized):
    data = decode(serialized)
    geometry = _whole_image_geometry(data, position, base_seed, crop_size,
                                     scales)
    image, label, valid = weak.apply_geometry(
        data['image'], data['label'], None, geometry, crop_size, mean_pixel)
    out = {
        'image': image,
        'label': label,
        'valid': valid,
        'class_labels': class_multi_hot(label, num_classes),
    }
    if include_filename:
      out['filename'] = data['filename']
    return out

  dataset = _map(dataset, parse)
  dataset = dataset.batch(batch_size, drop_remainder=is_training)
  return dataset.prefetch(tf.data.AUTOTUNE)


def unlabeled_dataset(files, batch_size, crop_size, num_classes, ids=None,
                      strong_aug=None, use_image_labels=False,
                      scales=(0.5, 2.0, 0.25), seed=0, start_index=0,
                      shuffle_buffer=1000, input_context=None,
                      include_filename=False, include_weak_label=False,
                      mean_pixel=weak.MEAN_PIXEL):
  """The unlabeled (or image-level-labeled) stream: weak and strong views.

  Args:
    files: list of TFRecord paths, or a glob pattern.
    batch_size: examples per batch of this input pipeline, i.e. per replica
      (`input_context.get_per_replica_batch_size(global_batch_size)`).
    crop_size: (crop_height, crop_width) python ints.
    num_classes: classes including background.
    ids: optional python list of image ids to keep.
    strong_aug: keyword arguments of `augment.strong.strong_augment` (its
      strengths and probabilities; e.g. the fields of core.config's
      StrongAugConfig); default: its defaults.
    use_image_labels: weakly-labeled mode. If False, no label of any kind is
      returned ('class_labels' all zero, 'has_class_labels' False). If True,
      'class_labels' are the record's image-level labels when it carries them, else
      the classes present in the strong crop's mask (cutout square excluded).
    scales: (min_scale, max_scale, scale_step) of the shared weak geometry.
    seed: seed of the shuffle and of every augmentation draw.
    start_index: examples this input pipeline already produced.
    shuffle_buffer: records in the shuffle buffer.
    input_context: optional `tf.distribute.InputContext`: shards the records
      per input pipeline and separates the pipelines' augmentation seeds.
    include_filename: also return the image ids (strings; keep off on TPU).
    include_weak_label: also return the weak view's pixel label, for scoring
      pseudo labels (diagnostics only; all 255 for records without a mask).
    mean_pixel: padding and cutout colour.

  Returns:
    A dataset of dicts with
      'weak_image': [batch, crop_height, crop_width, 3] float32 in [0, 1],
      'strong_image': [batch, crop_height, crop_width, 3] float32 in [0, 1], the
        weak crop after colour jitter (grayscale, blur) and cutout,
      'weak_valid': [batch, crop_height, crop_width] float32, 1 on image pixels,
      'strong_valid': [batch, crop_height, crop_width] float32, weak_valid times
        not-cutout,
      'class_labels': [batch, num_classes - 1] float32 image-level multi-hot,
      'has_class_labels': [batch] bool,
      'filename': [batch] string (only with `include_filename`),
      'weak_label': [batch, crop_height, crop_width, 1] int32 (only with
        `include_weak_label`).
  """
  strong_kwargs = dict(strong_aug or {})
  dataset = _records(files, input_context)
  if ids is not None:
    dataset = filter_by_ids(dataset, ids)
  dataset, base_seed = _training_order(dataset, seed, shuffle_buffer,
                                       start_index, input_context,
                                       _UNLABELED_SALT)
  num_fg = num_classes - 1

  def parse(position, serialized):
    data = decode(serialized)
    weak_seed, strong_seed = _element_seeds(base_seed, position, 2)
    # The pixel label is only carried through the geometry to derive image-level
    # labels in the weakly-labeled mode, and returned only for diagnostics.
    label = data['label'] if use_image_labels or include_weak_label else None
    weak_image, weak_label, weak_valid, _ = weak.weak_augment(
        data['image'], label, crop_size, *scales, seed=weak_seed,
        mean_pixel=mean_pixel)
    views = strong.strong_augment(weak_image, weak_valid, weak_label, crop_size,
                                  seed=strong_seed, mean_pixel=mean_pixel,
                                  **strong_kwargs)
    if use_image_labels:
      class_labels = tf.cond(
          data['has_class_labels'],
          lambda: class_multi_hot(data['class_ids'], num_classes),
          lambda: class_multi_hot(views['label'], num_classes))
      has_class_labels = data['has_class_labels'] | data['has_mask']
    else:
      class_labels = tf.zeros([num_fg], tf.float32)
      has_class_labels = tf.constant(False)
    out = {
        'weak_image': weak_image,
        'strong_image': views['image'],
        'weak_valid': weak_valid,
        'strong_valid': views['valid'],
        'class_labels': class_labels,
        'has_class_labels': has_class_labels,
    }
    if include_filename:
      out['filename'] = data['filename']
    if include_weak_label:
      out['weak_label'] = weak_label
    return out

  dataset = _map(dataset, parse)
  dataset = dataset.batch(batch_size, drop_remainder=True)
  return dataset.prefetch(tf.data.AUTOTUNE)


def classification_dataset(files, batch_size, crop_size, num_classes, ids=None,
                           is_training=True, scales=(0.75, 1.0, 0.25), seed=0,
                           start_index=0, shuffle_buffer=1000,
                           input_context=None, mean_pixel=weak.MEAN_PIXEL):
  """Images with their image-level labels, for classification pretraining.

  The labels are the record's image-level labels (`image/class/label`), or, for
  a record without them, the classes of its whole mask: the image's labels, not
  the crop's, as an ImageNet image keeps its label under a random crop. Choose
  `crop_size` and `scales` so that a crop keeps most of the image (the crop of
  the image itself and scales <= 1 keep all of it). No pixel label leaves this
  stream.

  Args:
    files: list of TFRecord paths, or a glob pattern.
    batch_size: examples per batch of this input pipeline, i.e. per replica.
    crop_size: (crop_height, crop_width) python ints.
    num_classes: classes including background.
    ids: optional python list of image ids to keep.
    is_training: if True: shuffle, repeat, random scale, crop and flip, full
      batches only. If False: one pass in file order, each image padded and
      cropped at the top-left, the last batch may be short.
    scales: (min_scale, max_scale, scale_step) of `augment.weak.sample_geometry`.
    seed: seed of the shuffle and of every augmentation draw.
    start_index: examples this input pipeline already produced.
    shuffle_buffer: records in the shuffle buffer.
    input_context: optional `tf.distribute.InputContext`.
    mean_pixel: padding colour.

  Returns:
    A dataset of dicts with
      'image': [batch, crop_height, crop_width, 3] float32 in [0, 1],
      'valid': [batch, crop_height, crop_width] float32, 1 on image pixels,
      'class_labels': [batch, num_classes - 1] float32 image-level multi-hot.
  """
  dataset, base_seed = _whole_image_order(
      files, ids, is_training, seed, shuffle_buffer, start_index,
      input_context, _CLASSIFICATION_SALT, cache=False)

  def parse(position, serialized):
    data = decode(serialized)
    geometry = _whole_image_geometry(data, position, base_seed, crop_size,
                                     scales)
    image, _, valid = weak.apply_geometry(data['image'], None, None, geometry,
                                          crop_size, mean_pixel)
    class_labels = tf.cond(
        data['has_class_labels'],
        lambda: class_multi_hot(data['class_ids'], num_classes),
        lambda: class_multi_hot(data['label'], num_classes))
    return {'image': image, 'valid': valid, 'class_labels': class_labels}

  dataset = _map(dataset, parse)
  dataset = dataset.batch(batch_size, drop_remainder=is_training)
  return dataset.prefetch(tf.data.AUTOTUNE)


def eval_dataset(files, eval_size=None, ids=None, batch_size=1,
                 size_multiple=16, input_context=None,
                 mean_pixel=weak.MEAN_PIXEL):
  """Every record exactly once, in file order, padded for original-size scoring.

  Args:
    files: list of TFRecord paths, or a glob pattern.
    eval_size: (height, width) every image is padded to (must be >= every image).
      None pads each image to its own size rounded up to `size_multiple`; then
      `batch_size` must be 1.
    ids: optional python list of image ids to keep.
    batch_size: images per batch; the last batch may be short.
    size_multiple: see `eval_size`.
    input_context: optional `tf.distribute.InputContext` (shards the records).
    mean_pixel: padding colour.

  Returns:
    A dataset of dicts with
      'image': [batch, height, width, 3] float32 in [0, 1], padded bottom/right,
      'label': [batch, height, width, 1] int32, 255 on padding,
      'valid': [batch, height, width] float32, 1 on the original pixels,
      'height': [batch] int32 and 'width': [batch] int32, the original size,
      'filename': [batch] string.
    height, width = eval_size, or per-image when eval_size is None.
  """
  if eval_size is None and batch_size != 1:
    raise ValueError('eval_size=None pads each image to its own size: use '
                     'batch_size=1.')
  dataset = _records(files, input_context)
  if ids is not None:
    dataset = filter_by_ids(dataset, ids)

  def parse(serialized):
    data = decode(serialized)
    size = tf.shape(data['image'])[:2]
    if eval_size is None:
      target = (size + size_multiple - 1) // size_multiple * size_multiple
    else:
      target = tuple(int(s) for s in eval_size)
    image, label, valid = weak.pad_to_size(data['image'], data['label'],
                                           target, mean_pixel)
    return {
        'image': image,
        'label': label,
        'valid': valid,
        'height': size[0],
        'width': size[1],
        'filename': data['filename'],
    }

  dataset = _map(dataset, parse)
  dataset = dataset.batch(batch_size, drop_remainder=False)
  return dataset.prefetch(tf.data.AUTOTUNE)
