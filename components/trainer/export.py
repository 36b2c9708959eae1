"""Exports a servable SavedModel: raw serialized tf.Examples in, scores out.

The tf.Transform graph is part of the served model, so serving applies exactly
the preprocessing that training saw.
"""
from __future__ import annotations

import os

import tensorflow as tf

from components import features
from components.config import PipelineConfig, TaskType


class ServingModule(tf.Module):

  def __init__(self, config: PipelineConfig, model, tft_output):
    super().__init__()
    self.model = model
    self.tft_layer = tft_output.transform_features_layer()
    raw_spec = tft_output.raw_feature_spec()
    self._feature_spec = {k: raw_spec[k] for k in config.features.all()}
    self._labelled_spec = dict(self._feature_spec)
    self._labelled_spec[config.task.label] = raw_spec[config.task.label]
    self._task = config.task.type
    if self._task == TaskType.MULTICLASS:
      self._classes = tf.constant(tft_output.vocabulary_by_name(
          features.label_vocabulary_name(config)) + [features.UNKNOWN_CLASS])

  def _scores(self, transformed):
    logits = self.model({k: v for k, v in transformed.items() if k != features.LABEL_KEY},
                        training=False)
    if self._task == TaskType.BINARY:
      return {"scores": tf.sigmoid(logits)}
    if self._task == TaskType.MULTICLASS:
      probs = tf.nn.softmax(logits)
      return {"scores": probs,
              "classes": tf.gather(self._classes, tf.argmax(probs, axis=-1))}
    return {"scores": logits}

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
  def serve(self, examples):
    raw = tf.io.parse_example(examples, self._feature_spec)
    return self._scores(self.tft_layer(raw))

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
  def transform_features(self, examples):
    """Used by TFMA to get the transformed label next to the predictions."""
    raw = tf.io.parse_example(examples, self._labelled_spec)
    return self.tft_layer(raw)


# Beside a transfer model's SavedModel: the Keras model itself, so that a pushed
# model can be the base of the next one (model_bases/loading.py reads it).
KERAS_FILE = os.path.join("keras", "model.keras")


def export_serving_model(config: PipelineConfig, model, tft_output, export_dir: str) -> None:
  module = ServingModule(config, model, tft_output)
  tf.saved_model.save(module, export_dir, signatures={
      "serving_default": module.serve,
      "transform_features": module.transform_features})
  if config.model.base:
    keras_file = os.path.join(export_dir, KERAS_FILE)
    tf.io.gfile.makedirs(os.path.dirname(keras_file))
    model.save(keras_file)
