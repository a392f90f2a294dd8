"""What the prediction binaries share: images from files and records, predictors.

Imported by vis.py and export_model.py only. Images come as uint8 [height, width,
3] numpy arrays: from image files (`read_image_file`: checked and decoded as the
converters decode them, EXIF orientation applied) or from a record split
(`record_examples`, with the mask when the record has one). A predictor turns
one image into class ids and probabilities at the image's size: a run's model
(multi-scale and flip as in evaluation) or an exported SavedModel, either of them
window by window over a large image (`TiledPredictor`).
"""

import os

import numpy as np
from PIL import Image
import tensorflow as tf

from core.evaluation import evaluator
from core.evaluation import sliding_window
from core.serving import export
from datasets import convert_utils
from datasets import descriptors
from datasets import record_format

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp')

# EXIF tag 0x0112: how the camera was held; the transposition that undoes it.
_ORIENTATION_TAG = 0x0112
_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def image_files(image_dir):
  """Sorted paths of the images (IMAGE_EXTENSIONS, any case) in a folder.

  Raises:
    FileNotFoundError: the folder does not exist or holds no image.
  """
  if not os.path.isdir(image_dir):
    raise FileNotFoundError('Image folder not found: %s' % image_dir)
  paths = sorted(os.path.join(image_dir, name) for name in os.listdir(image_dir)
                 if name.lower().endswith(IMAGE_EXTENSIONS) and
                 os.path.isfile(os.path.join(image_dir, name)))
  if not paths:
    raise FileNotFoundError('No image (%s) in %s.' % (
        ', '.join(IMAGE_EXTENSIONS), image_dir))
  return paths


def _exif_orientation(path):
  try:
    with Image.open(path) as img:
      return int(img.getexif().get(_ORIENTATION_TAG, 1))
  except (OSError, SyntaxError, ValueError, TypeError):
    return 1


def read_image_file(path):
  """[height, width, 3] uint8 RGB pixels of an image file, as it is meant to be seen.

  Decoded and checked as the converters do (`convert_utils.load_image`: grey,
  palette, RGBA, CMYK, 16-bit; truncated or corrupt files refused), then turned
  upright by the EXIF orientation tag, which cameras write instead of rotating
  the pixels (the converters keep the stored pixels, which the masks match).

  Raises:
    convert_utils.ConversionError: the file cannot be decoded; the message names it.
  """
  _, _, rgb = convert_utils.load_image(path)
  transpose = _ORIENTATION_TRANSPOSE.get(_exif_orientation(path))
  if transpose is not None:
    rgb = np.asarray(Image.fromarray(rgb).transpose(transpose))
  return rgb


def record_examples(record_dir, split):
  """Yields (name, image, label or None) for every record of a split, in order.

  image: [height, width, 3] uint8; label: [height, width] uint8 class ids (255 =
  ignore), None for a record without a mask. (A generator: call `check_split`
  first to refuse a missing split before anything is built.)
  """
  files = record_format.list_shards(record_dir, split)
  for serialized in tf.data.TFRecordDataset(files):
    data = record_format.decode_example(serialized)
    name = data['filename'].numpy().decode('utf-8', 'replace')
    label = data['label'].numpy()[..., 0] if data['has_mask'].numpy() else None
    yield name, data['image'].numpy(), label


def check_split(record_dir, split):
  """Raises (naming the split and folder) unless the split has shards."""
  record_format.list_shards(record_dir, split)


def representative_images(record_dir, split, size, count):
  """The first `count` images of a split, resized to `size`, uint8 [h, w, 3].

  The calibration set of an int8 TFLite export: images like those served, at
  the model's fixed input size.
  """
  images = []
  for _, image, _ in record_examples(record_dir, split):
    if len(images) >= count:
      break
    resized = tf.image.resize(tf.constant(image, tf.float32), size,
                              method='bilinear')
    images.append(tf.cast(tf.clip_by_value(tf.round(resized), 0, 255),
                          tf.uint8).numpy())
  return images


def palette_for(record_dir):
  """[256, 3] uint8 colours of a record folder's data set (dataset_info.json).

  The VOC colour map when there is no record folder or it holds no description.
  """
  if record_dir and os.path.exists(
      os.path.join(record_dir, descriptors.INFO_FILENAME)):
    return descriptors.load_info(record_dir).palette
  return descriptors.voc_palette(256)


class ModelPredictor(object):
  """A run's model: softmax probabilities averaged over scales and flips."""

  def __init__(self, model, scales=(1.0,), flip=False):
    self._predict = tf.function(
        lambda images: evaluator.predict_probabilities(model, images, scales,
                                                       flip),
        input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32)],
        autograph=False)

  def __call__(self, image):
    """uint8 [h, w, 3] -> (class ids [h, w] int32, probabilities [h, w, C])."""
    x = tf.constant(image, tf.float32)[None] / 255.0
    probabilities = self._predict(x)[0].numpy()
    return np.argmax(probabilities, -1).astype(np.int32), probabilities


class SavedModelPredictor(object):
  """An export_model.py SavedModel, through its encoded-image signature.

  The image goes in as PNG (lossless), so a SavedModel of a fixed input size
  serves images of every size.
  """

  def __init__(self, export_dir):
    loaded = tf.saved_model.load(export_dir)
    if export.BYTES_SIGNATURE not in loaded.signatures:
      raise ValueError('%s has no %r signature: export it with export_model.py.'
                       % (export_dir, export.BYTES_SIGNATURE))
    self._loaded = loaded  # Keeps the signature's variables alive.
    self._serve = loaded.signatures[export.BYTES_SIGNATURE]

  def __call__(self, image):
    encoded = tf.io.encode_png(tf.constant(image, tf.uint8))
    out = self._serve(image_bytes=encoded[None])
    return (out['predictions'][0].numpy(), out['probabilities'][0].numpy())


class TiledPredictor(object):
  """Another predictor run window by window (core/evaluation/sliding_window.py):
  for images larger than what the model was trained or exported for."""

  def __init__(self, predictor, window, overlap=1.0 / 3.0):
    self._predictor = predictor
    self._window = tuple(window)
    self._overlap = overlap

  def __call__(self, image):
    probabilities = sliding_window.predict_tiled(
        lambda tile: self._predictor(tile)[1], image, self._window,
        self._overlap)
    return np.argmax(probabilities, -1).astype(np.int32), probabilities
