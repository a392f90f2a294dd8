"""Smoke test of scripts/draw_example.py on a tiny PseudoSeg run."""

import os

import numpy as np
from PIL import Image
import pytest


@pytest.mark.slow
def test_draws_one_row_per_image(tmp_path, tiny_records, binaries,
                                 smoke_flags_fn):
  model_dir = str(tmp_path / 'wss')
  binaries.run_ok('train_wss.py', **smoke_flags_fn(
      tiny_records, model_dir, unlabeled_ids=tiny_records.unlabeled_ids,
      train_steps=2, use_image_labels=True))
  output = str(tmp_path / 'pictures' / 'example.png')
  proc = binaries.run_ok('scripts/draw_example.py', model_dir=model_dir,
                         output=output, num_images=3, scale=1)
  assert 'Wrote %s' % output in proc.stdout
  picture = np.asarray(Image.open(output))
  size = tiny_records.image_size
  # Image | ground truth | pseudo label | prediction, one row per image.
  assert picture.shape == (3 * size, 4 * size, 3)
  # The ground-truth column is the palette's colours of the masks: not the image.
  assert not np.array_equal(picture[:, :size], picture[:, size:2 * size])
  proc = binaries.run('scripts/draw_example.py', model_dir=model_dir,
                      output=output, split='no_such_split')
  assert proc.returncode != 0
  assert os.path.exists(output)  # What was written is still there.
