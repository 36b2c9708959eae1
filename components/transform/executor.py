"""The Transform step's code: the tf.Transform preprocessing_fn TFX's executor
calls, driven by the pipeline config.

Numeric columns are z-scored, categorical ones get vocabularies and coordinates
are bucketized by quantiles. The transform graph is exported inside the serving
model (see trainer/export.py), so training and serving share one implementation.
"""
from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from components import column_keys, features
from components.config import PipelineConfig, Strategy, TaskType


def tf_compat_v1(config: PipelineConfig) -> bool:
  """Whether Transform analyzes and writes its graph in TF1 graph mode: the same
  outputs, and on the embedded data 20 s instead of 34 s (TF2 mode traces and
  saves a SavedModel per analysis phase); the graph serves under TF2 either way.

  Not for parameter-server training: a TF1 graph's lookup tables are initialized
  once, where it is loaded (the coordinator), and workers that read through the
  graph find them uninitialized. A TF2 graph's tables are created in each worker.

  Nor for columns whose names are not ASCII identifiers (`Fare ($)`, `Größe`):
  loading a TF1 graph turns its raw input names into Python argument names, and
  fails on `Area m²` (not an identifier) or on `Bill (mm)` beside `Bill [mm]` (both
  become `Bill__mm_`). A TF2 graph takes any name.
  """
  names = config.features.all() + (config.task.label,)
  return (config.trainer.strategy != Strategy.PARAMETER_SERVER
          and all(column_keys.is_plain(n) for n in names))


def _dense(x, default):
  """Sparse or ragged (a column with missing values) -> dense [batch], filled."""
  if isinstance(x, tf.sparse.SparseTensor):
    x = tf.sparse.to_dense(
        tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]), default)
  elif isinstance(x, tf.RaggedTensor):
    x = x.to_tensor(default_value=default, shape=[None, 1])
  return tf.reshape(x, [-1])


def preprocessing_fn(inputs, custom_config):
  config = PipelineConfig.from_json(custom_config["config"])
  t = config.transform
  outputs = {}
  # Analyzers see only the values present; missing values are filled afterwards.
  # One analysis pass over the data, instead of one for imputation and another
  # for scaling.
  for name in config.features.numeric:
    # Missing -> 0 after scaling, which is the column mean.
    outputs[features.transformed_name(name)] = _dense(tft.scale_to_z_score(inputs[name]), 0.0)
  for name in config.features.categorical:
    # Missing -> the empty string, a category of its own.
    outputs[features.transformed_name(name)] = tft.compute_and_apply_vocabulary(
        _dense(inputs[name], b""), top_k=t.vocab_size, num_oov_buckets=t.oov_buckets,
        vocab_filename=features.categorical_vocabulary_name(name))
  for name in config.features.coordinates:
    # Missing -> an extra bucket after the quantile buckets.
    outputs[features.transformed_name(name)] = _dense(
        tft.bucketize(inputs[name], t.coordinate_buckets), tf.constant(t.coordinate_buckets, tf.int64))

  if config.features.image:
    # Encoded bytes pass through: the model decodes them (its first layer), the
    # way its pre-trained base expects, in training and in serving alike.
    image = config.features.image
    outputs[features.transformed_name(image)] = _dense(inputs[image], b"")

  label = inputs[config.task.label]
  if config.task.type == TaskType.REGRESSION:
    outputs[features.LABEL_KEY] = _dense(label, 0.0)
  elif config.task.type == TaskType.BINARY:
    positive = tf.constant(config.task.positive_class.encode())
    outputs[features.LABEL_KEY] = tf.cast(tf.equal(_dense(label, b""), positive), tf.int64)
  else:
    # Sorted by frequency; the class names are served alongside the scores. The
    # vocabulary comes from the train split: a class seen only in eval data gets
    # the one extra id (features.UNKNOWN_CLASS) instead of breaking the loss.
    outputs[features.LABEL_KEY] = tft.compute_and_apply_vocabulary(
        _dense(label, b""), num_oov_buckets=1,
        vocab_filename=features.label_vocabulary_name(config))
  return outputs
