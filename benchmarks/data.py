"""The records a benchmark reads: a synthetic set drawn once into a work dir."""

import os

from datasets import build_voc2012_data
from datasets import splits
from datasets import synthetic


def make_records(work_dir, num_train, num_val, image_size, num_labeled):
  """Draws and converts the synthetic set unless `work_dir` already holds it.

  Returns:
    (record_dir, labeled_ids_path, unlabeled_ids_path).
  """
  record_dir = os.path.join(work_dir, 'records')
  labeled = os.path.join(work_dir, 'labeled.txt')
  unlabeled = os.path.join(work_dir, 'unlabeled.txt')
  if not os.path.exists(os.path.join(record_dir, 'dataset_info.json')):
    voc_root, _ = synthetic.generate_voc_layout(
        os.path.join(work_dir, 'raw'), num_train=num_train, num_val=num_val,
        image_size=image_size, seed=1234)
    build_voc2012_data.convert_voc(voc_root, record_dir,
                                   splits=('train', 'val'), num_shards=2)
    ids = splits.ids_from_records(record_dir, 'train')
    labeled_ids, unlabeled_ids = splits.partition(ids, num_labeled=num_labeled,
                                                  seed=0)
    splits.write_id_list(labeled, labeled_ids)
    splits.write_id_list(unlabeled, unlabeled_ids)
  return record_dir, labeled, unlabeled
