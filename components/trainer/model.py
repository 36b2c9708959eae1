"""The Keras model: embeddings for categorical and bucketized inputs, z-scored
numeric inputs, then a dense tower. It outputs logits (or a value, for regression).
Image tasks get a pre-trained base under a new head instead (transfer.py).

A regression model ends in a fixed affine map to the label's mean and spread (set
from the training data before the first step, then kept in every checkpoint), so
the tower learns a target of unit scale whatever the label's units."""
from __future__ import annotations

import keras

from components import features
from components.config import HyperParameters, PipelineConfig, TaskType
from components.trainer import transfer


def vocab_sizes_of(config: PipelineConfig, tft_output) -> dict[str, int]:
  """Number of ids of each integer input, as the transform module produces them."""
  sizes = {features.transformed_name(c): tft_output.vocabulary_size_by_name(
      features.categorical_vocabulary_name(c)) + config.transform.oov_buckets
           for c in config.features.categorical}
  sizes.update({features.transformed_name(c): config.transform.coordinate_buckets + 1
                for c in config.features.coordinates})  # +1: the "missing" bucket
  return sizes


def num_classes_of(config: PipelineConfig, tft_output) -> int:
  if config.task.type != TaskType.MULTICLASS:
    return 2
  # +1: the id of classes that appear only outside the train split.
  return tft_output.vocabulary_size_by_name(features.label_vocabulary_name(config)) + 1


def num_outputs(config: PipelineConfig, num_classes: int) -> int:
  return num_classes if config.task.type == TaskType.MULTICLASS else 1


class LabelScale(keras.layers.Layer):
  """y = offset + scale * x, with offset and scale non-trainable weights: they
  are saved and restored with the model, and exported inside it."""

  def build(self, input_shape):
    self.offset = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                  name="offset")
    self.scale = self.add_weight(shape=(), initializer="ones", trainable=False, name="scale")

  def call(self, x):
    return self.offset + self.scale * x


def label_scale(model: keras.Model) -> LabelScale | None:
  layers = [layer for layer in model.layers if isinstance(layer, LabelScale)]
  return layers[0] if layers else None


def loss_inputs(model: keras.Model, labels, outputs):
  """(labels, outputs) as the loss sees them: a regression's in units of the label's
  standard deviation, so that the loss, and an L2 weight or learning rate beside
  it, mean the same whatever units the label has."""
  scale = label_scale(model)
  if scale is None:
    return labels, outputs
  return labels / scale.scale, outputs / scale.scale


def build_model(config: PipelineConfig, hp: HyperParameters,
                vocab_sizes: dict[str, int], num_classes: int = 2) -> keras.Model:
  """vocab_sizes: transformed categorical/coordinate column -> number of ids."""
  if config.model.base:  # images: a pre-trained base under a new head
    return transfer.build_model(config, hp, num_outputs(config, num_classes))
  inputs, parts = {}, []
  reg = keras.regularizers.L2(hp.l2) if hp.l2 else None
  # float64 computes every layer in double precision (the inputs are cast).
  dtype = config.trainer.precision
  for name in config.features.numeric:
    key = features.transformed_name(name)
    inputs[key] = keras.Input(shape=(), dtype="float32", name=key)
    parts.append(keras.layers.Reshape((1,), dtype=dtype)(inputs[key]))
  for name in config.features.categorical + config.features.coordinates:
    key = features.transformed_name(name)
    inputs[key] = keras.Input(shape=(), dtype="int64", name=key)
    embedded = keras.layers.Embedding(vocab_sizes[key], hp.embedding_dim, dtype=dtype,
                                      embeddings_regularizer=reg, name=f"{key}_embedding")(inputs[key])
    parts.append(embedded)
  x = keras.layers.Concatenate(dtype=dtype)(parts) if len(parts) > 1 else parts[0]
  for units in hp.hidden_units:
    x = keras.layers.Dense(units, activation=hp.activation, kernel_regularizer=reg,
                           dtype=dtype)(x)
    if hp.dropout:
      x = keras.layers.Dropout(hp.dropout, dtype=dtype)(x)
  out = keras.layers.Dense(num_outputs(config, num_classes), kernel_regularizer=reg,
                           name="logits", dtype=dtype)(x)
  if config.task.type == TaskType.REGRESSION:
    out = LabelScale(name="label_scale", dtype=dtype)(out)
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
