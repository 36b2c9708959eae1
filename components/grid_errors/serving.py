"""Scores a servable SavedModel on every point of a simulator's examples: the
test of a memorized table is the model users get, on the whole grid."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

_BATCH = 8192


def read_points(file_pattern: str, inputs: list[str], output: str
                ) -> tuple[dict[str, np.ndarray], np.ndarray, list[bytes]]:
  """(inputs, labels, serialized examples) of gzip TFRecords, sorted into grid
  order (first input slowest), whatever order the writers left them in."""
  files = sorted(tf.io.gfile.glob(file_pattern))
  if not files:
    raise FileNotFoundError(f"no examples match {file_pattern}")
  spec = {name: tf.io.FixedLenFeature([], tf.float32) for name in [*inputs, output]}
  serialized, columns = [], {name: [] for name in spec}
  for batch in tf.data.TFRecordDataset(files, compression_type="GZIP").batch(_BATCH):
    parsed = tf.io.parse_example(batch, spec)
    for name in spec:
      columns[name].append(parsed[name].numpy().astype(np.float64))
    serialized.extend(batch.numpy())
  values = {name: np.concatenate(parts) for name, parts in columns.items()}
  order = np.lexsort([values[name] for name in reversed(inputs)])
  return ({name: values[name][order] for name in inputs}, values[output][order],
          [serialized[i] for i in order])


def load(model_dir: str):
  """The served model's `serving_default` signature (loading is paid once, not
  per call: bench/memorize.py times calls)."""
  return tf.saved_model.load(model_dir).signatures["serving_default"]


def predict(serve, serialized: list[bytes]) -> np.ndarray:
  """`scores` of a loaded signature for each serialized tf.Example, batched."""
  out = [serve(examples=tf.constant(serialized[i:i + _BATCH]))["scores"].numpy()
         for i in range(0, len(serialized), _BATCH)]
  return np.concatenate(out).reshape(-1).astype(np.float64)
