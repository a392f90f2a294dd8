"""Tests for datasets/input_pipeline.py on tiny records written to a temp dir."""

import dataclasses
import shutil
import tempfile

import numpy as np
import tensorflow as tf

from core import config
from datasets import input_pipeline
from datasets import record_format
from tests import testing_utils

NUM_CLASSES = 5
NUM_TRAIN = 12
CROP = (17, 19)
GIVEN_LABELS = [4]  # Carried by records whose index is a multiple of 4.


_png = testing_utils.png_bytes


def _write_records(record_dir):
  rng = np.random.RandomState(0)
  with record_format.ShardedWriter(record_dir, 'train', 2) as writer:
    for i in range(NUM_TRAIN):
      height, width = 20 + (i % 3) * 4, 24 + (i % 4) * 3
      image = rng.randint(0, 256, (height, width, 3))
      label = np.zeros((height, width, 1), np.uint8)
      label[:height // 2, :width // 2] = 1 + i % 3
      label[height // 2:, width // 2:] = 3
      label[0, :] = 255
      writer.write(record_format.make_example(
          _png(image), 'img_%02d' % i, height, width, label_data=_png(label),
          image_format='png',
          class_labels=GIVEN_LABELS if i % 4 == 0 else None))
  with record_format.ShardedWriter(record_dir, 'weak', 1) as writer:
    for i in range(4):
      image = rng.randint(0, 256, (22, 26, 3))
      writer.write(record_format.make_example(
          _png(image), 'weak_%d' % i, 22, 26, image_format='png',
          class_labels=[2, 3]))


class InputPipelineTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.record_dir = tempfile.mkdtemp()
    _write_records(cls.record_dir)
    cls.train_files = record_format.list_shards(cls.record_dir, 'train')
    cls.weak_files = record_format.list_shards(cls.record_dir, 'weak')

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.record_dir)
    super().tearDownClass()

  def _labeled(self, **kwargs):
    args = dict(files=self.train_files, batch_size=2, crop_size=CROP,
                num_classes=NUM_CLASSES, shuffle_buffer=8,
                include_filename=True)
    args.update(kwargs)
    return input_pipeline.labeled_dataset(**args)

  def test_decode(self):
    serialized = next(iter(tf.data.TFRecordDataset(self.train_files)))
    data = input_pipeline.decode(serialized)
    self.assertEqual(data['image'].dtype, tf.float32)
    self.assertEqual(data['label'].dtype, tf.int32)
    self.assertBetween(float(tf.reduce_max(data['image'])), 0.5, 1.0)
    self.assertTrue(bool(data['has_mask']))

  def test_class_multi_hot(self):
    label = tf.constant([[0, 2, 255], [4, 2, 7]])
    self.assertAllEqual(input_pipeline.class_multi_hot(label, NUM_CLASSES),
                        [0.0, 1.0, 0.0, 1.0])

  def test_labeled_shapes_dtypes_and_crop_class_labels(self):
    dataset = self._labeled(batch_size=3)
    spec = dataset.element_spec
    self.assertEqual(spec['image'].shape, (3,) + CROP + (3,))
    self.assertEqual(spec['label'].shape, (3,) + CROP + (1,))
    self.assertEqual(spec['valid'].shape, (3,) + CROP)
    self.assertEqual(spec['class_labels'].shape, (3, NUM_CLASSES - 1))
    self.assertEqual(spec['label'].dtype, tf.int32)
    self.assertEqual(spec['class_labels'].dtype, tf.float32)
    for batch in dataset.take(3):
      label = batch['label'].numpy()
      image = batch['image'].numpy()
      self.assertGreaterEqual(image.min(), 0.0)
      self.assertLessEqual(image.max(), 1.0)
      for b in range(3):
        present = set(np.unique(label[b])) - {0, 255}
        expected = [1.0 if c in present else 0.0
                    for c in range(1, NUM_CLASSES)]
        self.assertAllEqual(batch['class_labels'][b], expected)
      # Padding carries label 255 and valid 0 together.
      self.assertTrue(np.all(label[batch['valid'].numpy() == 0] == 255))

  def test_filter_by_ids(self):
    ids = ['img_01', 'img_05', b'img_07', 'not_there']
    self.assertEqual(input_pipeline.count_records(self.train_files, ids), 3)
    seen = set()
    for batch in self._labeled(ids=ids).take(6):
      seen.update(f.decode() for f in batch['filename'].numpy())
    self.assertEqual(seen, {'img_01', 'img_05', 'img_07'})

  def test_cached_subset_gives_the_same_stream(self):
    # Four epochs of a three-image subset, from the start and resumed: holding
    # the selected records in memory changes no example, order or pixel.
    ids = ['img_01', 'img_05', 'img_07']
    for start in (0, 5):
      plain, cached = (list(self._labeled(ids=ids, seed=2, start_index=start,
                                          cache=cache).take(6)
                            .as_numpy_iterator()) for cache in (False, True))
      for a, b in zip(plain, cached):
        self.assertAllEqual(a['filename'], b['filename'])
        self.assertAllEqual(a['image'], b['image'])
        self.assertAllEqual(a['label'], b['label'])

  def test_records_without_mask(self):
    self.assertEqual(input_pipeline.records_without_mask(self.train_files), [])
    self.assertCountEqual(input_pipeline.records_without_mask(self.weak_files),
                          ['weak_%d' % i for i in range(4)])
    self.assertEqual(input_pipeline.records_without_mask(
        self.weak_files + self.train_files, ['weak_1', 'img_03']), ['weak_1'])

  def test_resume_gives_same_examples_and_augmentation(self):
    for k in (6, 14):  # Examples consumed before the restart; 14 > one epoch.
      full = list(self._labeled(seed=3).take(16).as_numpy_iterator())
      resumed = list(self._labeled(seed=3, start_index=k).take(16 - k // 2)
                     .as_numpy_iterator())
      names = lambda batches: [f for b in batches for f in b['filename']]
      self.assertEqual(names(full)[k:], names(resumed))
      for a, b in zip(full[k // 2:], resumed):
        self.assertAllEqual(a['image'], b['image'])
        self.assertAllEqual(a['label'], b['label'])
    # Each epoch holds every record once, in a new order.
    epochs = [names(full)[i:i + NUM_TRAIN] for i in (0, NUM_TRAIN)]
    self.assertLen(set(epochs[0]), NUM_TRAIN)
    self.assertCountEqual(epochs[0], epochs[1])
    self.assertNotEqual(epochs[0], epochs[1])
    other = list(self._labeled(seed=4).take(6).as_numpy_iterator())
    self.assertNotEqual(names(full)[:12], names(other))

  def test_classification_image_labels(self):
    # The record's image labels where it has them (every 4th: [4], not its
    # mask's classes), else the classes of its whole mask; no pixel label.
    def expected(i):
      classes = GIVEN_LABELS if i % 4 == 0 else [1 + i % 3, 3]
      return [1.0 if c in classes else 0.0 for c in range(1, NUM_CLASSES)]
    files = self.train_files
    names = [input_pipeline.decode(s)['filename'].numpy().decode()
             for s in input_pipeline._records(files, None)]
    evaluation = list(input_pipeline.classification_dataset(
        files, 5, (32, 32), NUM_CLASSES, is_training=False).as_numpy_iterator())
    self.assertEqual([len(b['class_labels']) for b in evaluation], [5, 5, 2])
    self.assertNotIn('label', evaluation[0])
    labels = np.concatenate([b['class_labels'] for b in evaluation])
    for name, row in zip(names, labels):
      self.assertAllEqual(row, expected(int(name[4:])), name)
    # Whole images: scored at their own size, padded, never cropped.
    first = evaluation[0]
    self.assertAllEqual(first['valid'][0].sum(0).max(), 20)  # Image 0: 20 px.
    training = input_pipeline.classification_dataset(
        files, 4, (32, 32), NUM_CLASSES, scales=(0.75, 1.0, 0.0), seed=1,
        shuffle_buffer=8)
    batch = next(iter(training))
    self.assertEqual(batch['image'].shape, (4, 32, 32, 3))
    self.assertEqual(batch['class_labels'].shape, (4, NUM_CLASSES - 1))
    resumed = next(iter(input_pipeline.classification_dataset(
        files, 4, (32, 32), NUM_CLASSES, scales=(0.75, 1.0, 0.0), seed=1,
        shuffle_buffer=8, start_index=4)))
    again = list(training.take(2).as_numpy_iterator())[1]
    self.assertAllEqual(resumed['image'], again['image'])

  def test_empty_training_set_raises(self):
    with self.assertRaisesRegex(ValueError, 'empty'):
      self._labeled(ids=['not_there'])

  def test_unlabeled_views(self):
    dataset = input_pipeline.unlabeled_dataset(
        self.train_files, 4, CROP, NUM_CLASSES, shuffle_buffer=8)
    spec = dataset.element_spec
    self.assertCountEqual(spec.keys(), [
        'weak_image', 'strong_image', 'weak_valid', 'strong_valid',
        'class_labels', 'has_class_labels'])
    self.assertEqual(spec['strong_image'].shape, (4,) + CROP + (3,))
    self.assertEqual(spec['strong_valid'].shape, (4,) + CROP)
    self.assertEqual(spec['class_labels'].shape, (4, NUM_CLASSES - 1))
    self.assertEqual(spec['has_class_labels'].dtype, tf.bool)
    batch = next(iter(dataset))
    self.assertFalse(np.any(batch['has_class_labels'].numpy()))
    self.assertAllEqual(batch['class_labels'], tf.zeros([4, NUM_CLASSES - 1]))
    weak_valid = batch['weak_valid'].numpy()
    strong_valid = batch['strong_valid'].numpy()
    self.assertTrue(np.all(strong_valid <= weak_valid))
    self.assertLess(strong_valid.sum(), weak_valid.sum())  # Cutout.
    self.assertGreaterEqual(batch['strong_image'].numpy().min(), 0.0)
    self.assertLessEqual(batch['strong_image'].numpy().max(), 1.0)

  def test_unlabeled_strong_matches_weak_without_jitter(self):
    no_jitter = config.StrongAugConfig(brightness=0.0, contrast=0.0,
                                       saturation=0.0, hue=0.0)
    dataset = input_pipeline.unlabeled_dataset(
        self.train_files, 2, CROP, NUM_CLASSES,
        strong_aug=dataclasses.asdict(no_jitter),
        shuffle_buffer=8)
    batch = next(iter(dataset))
    kept = (batch['strong_valid'].numpy() > 0)
    self.assertAllEqual(batch['strong_image'].numpy()[kept],
                        batch['weak_image'].numpy()[kept])

  def test_unlabeled_weak_label_for_diagnostics(self):
    dataset = input_pipeline.unlabeled_dataset(
        self.train_files, 4, CROP, NUM_CLASSES, shuffle_buffer=8,
        include_weak_label=True)
    self.assertEqual(dataset.element_spec['weak_label'].shape,
                     (4,) + CROP + (1,))
    batch = next(iter(dataset))
    label = batch['weak_label'].numpy()[..., 0]
    valid = batch['weak_valid'].numpy()
    self.assertTrue(np.all(label[valid == 0] == 255))  # Padding.
    self.assertTrue(set(np.unique(label[valid > 0])) <= {0, 1, 2, 3, 255})
    self.assertGreater(np.sum((label > 0) & (label < 255)), 0)
    # The same stream without the label: identical views.
    plain = next(iter(input_pipeline.unlabeled_dataset(
        self.train_files, 4, CROP, NUM_CLASSES, shuffle_buffer=8)))
    self.assertAllEqual(plain['weak_image'], batch['weak_image'])
    self.assertAllEqual(plain['strong_image'], batch['strong_image'])
    # Records without a mask give an all-ignore label.
    weak = next(iter(input_pipeline.unlabeled_dataset(
        self.weak_files, 2, CROP, NUM_CLASSES, shuffle_buffer=4,
        include_weak_label=True)))
    self.assertTrue(np.all(weak['weak_label'].numpy() == 255))

  def test_image_level_labels(self):
    dataset = input_pipeline.unlabeled_dataset(
        self.train_files, 2, CROP, NUM_CLASSES, use_image_labels=True,
        shuffle_buffer=8, include_filename=True)
    for batch in dataset.take(6):
      self.assertTrue(np.all(batch['has_class_labels'].numpy()))
      for name, labels in zip(batch['filename'].numpy(),
                              batch['class_labels'].numpy()):
        index = int(name.decode()[-2:])
        if index % 4 == 0:
          self.assertAllEqual(labels, [0.0, 0.0, 0.0, 1.0])  # Given ones.
        else:
          # From the crop's mask: a subset of the classes the record holds.
          self.assertEqual(labels[3], 0.0)
          self.assertEqual(labels[[c - 1 for c in range(1, 4)
                                   if c not in (1 + index % 3, 3)]].sum(), 0)
    weak = input_pipeline.unlabeled_dataset(
        self.weak_files, 2, CROP, NUM_CLASSES, use_image_labels=True,
        shuffle_buffer=8)
    batch = next(iter(weak))
    self.assertTrue(np.all(batch['has_class_labels'].numpy()))
    self.assertAllEqual(batch['class_labels'], [[0, 1, 1, 0], [0, 1, 1, 0]])

  def test_unlabeled_resume(self):
    make = lambda start: input_pipeline.unlabeled_dataset(
        self.train_files, 2, CROP, NUM_CLASSES, seed=1, start_index=start,
        shuffle_buffer=8)
    full = list(make(0).take(4).as_numpy_iterator())
    resumed = list(make(4).take(2).as_numpy_iterator())
    for a, b in zip(full[2:], resumed):
      self.assertAllEqual(a['strong_image'], b['strong_image'])
      self.assertAllEqual(a['strong_valid'], b['strong_valid'])

  def test_eval_every_record_once_padded(self):
    names = []
    for batch in input_pipeline.eval_dataset(self.train_files):
      image = batch['image'].numpy()
      height, width = int(batch['height'][0]), int(batch['width'][0])
      self.assertEqual(image.shape[1] % 16, 0)
      self.assertEqual(image.shape[2] % 16, 0)
      self.assertGreaterEqual(image.shape[1], height)
      self.assertEqual(batch['valid'].numpy().sum(), height * width)
      self.assertTrue(np.all(batch['label'].numpy()[0, height:] == 255))
      self.assertTrue(np.all(batch['label'].numpy()[0, :, width:] == 255))
      names.extend(batch['filename'].numpy())
    self.assertCountEqual(names, [b'img_%02d' % i for i in range(NUM_TRAIN)])

    sizes = [b['image'].shape[0] for b in input_pipeline.eval_dataset(
        self.train_files, eval_size=(32, 40), batch_size=5)]
    self.assertEqual(sizes, [5, 5, 2])

  def test_input_context_shards_and_splits_batch(self):
    names = []
    for pipeline_id in range(2):
      context = tf.distribute.InputContext(
          num_input_pipelines=2, input_pipeline_id=pipeline_id,
          num_replicas_in_sync=2)
      dataset = self._labeled(
          batch_size=context.get_per_replica_batch_size(4), is_training=False,
          input_context=context)
      batches = list(dataset.as_numpy_iterator())
      self.assertEqual(batches[0]['image'].shape[0], 2)
      names.append({f for b in batches for f in b['filename']})
    self.assertEmpty(names[0] & names[1])
    self.assertLen(names[0] | names[1], NUM_TRAIN)

  def test_distribute_datasets_from_function(self):
    strategy = tf.distribute.get_strategy()
    dataset = strategy.distribute_datasets_from_function(
        lambda context: self._labeled(batch_size=2, start_index=4,
                                      input_context=context))
    batch = next(iter(dataset))
    self.assertEqual(batch['image'].shape, (2,) + CROP + (3,))


if __name__ == '__main__':
  tf.test.main()
