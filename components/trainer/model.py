"""The Keras model: embeddings for categorical and bucketized inputs, z-scored
numeric inputs, then a dense tower. It outputs logits (or a value, for regression)."""
from __future__ import annotations

import keras

from components import features
from components.config import HyperParameters, PipelineConfig, TaskType


def num_outputs(config: PipelineConfig, num_classes: int) -> int:
  return num_classes if config.task.type == TaskType.MULTICLASS else 1


def build_model(config: PipelineConfig, hp: HyperParameters,
                vocab_sizes: dict[str, int], num_classes: int = 2) -> keras.Model:
  """vocab_sizes: transformed categorical/coordinate column -> number of ids."""
  inputs, parts = {}, []
  reg = keras.regularizers.L2(hp.l2) if hp.l2 else None
  for name in config.features.numeric:
    key = features.transformed_name(name)
    inputs[key] = keras.Input(shape=(), dtype="float32", name=key)
    parts.append(keras.layers.Reshape((1,))(inputs[key]))
  for name in config.features.categorical + config.features.coordinates:
    key = features.transformed_name(name)
    inputs[key] = keras.Input(shape=(), dtype="int64", name=key)
    embedded = keras.layers.Embedding(vocab_sizes[key], hp.embedding_dim,
                                      embeddings_regularizer=reg, name=f"{key}_embedding")(inputs[key])
    parts.append(embedded)
  x = keras.layers.Concatenate()(parts) if len(parts) > 1 else parts[0]
  for units in hp.hidden_units:
    x = keras.layers.Dense(units, activation="relu", kernel_regularizer=reg)(x)
    if hp.dropout:
      x = keras.layers.Dropout(hp.dropout)(x)
  out = keras.layers.Dense(num_outputs(config, num_classes), kernel_regularizer=reg,
                           name="logits")(x)
  return keras.Model(inputs=inputs, outputs=out)


def loss_fn(config: PipelineConfig, reduction: str | None = "sum_over_batch_size"):
  """The task's loss on logits. reduction=None gives per-example losses, so that a
  distributed loop can average over the global batch itself."""
  kind = config.task.type
  if kind == TaskType.BINARY:
    return keras.losses.BinaryCrossentropy(from_logits=True, reduction=reduction)
  if kind == TaskType.MULTICLASS:
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=reduction)
  return keras.losses.MeanSquaredError(reduction=reduction)
