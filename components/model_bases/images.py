"""Encoded image bytes -> the pixels a base expects, inside the model.

Decoding is part of the Keras model (its first layer), so the served model takes
raw JPEG/PNG bytes and training, evaluation and serving prepare pixels with one
implementation. Pixels are scaled with keras.applications' own preprocess modes.
"""
from __future__ import annotations

import keras
import tensorflow as tf

# keras.applications.imagenet_utils.preprocess_input modes.
MODES = ("tf", "torch", "caffe")


@keras.saving.register_keras_serializable(package="training_patterns")
class DecodeImages(keras.layers.Layer):
  """[batch] encoded images (JPEG, PNG, BMP, GIF; any size, grey or colour) ->
  [batch, size, size, 3] float pixels, resized and scaled for the base."""

  def __init__(self, size: int, preprocessing: str = "tf", **kwargs):
    super().__init__(**kwargs)
    if preprocessing not in MODES:
      raise ValueError(f"preprocessing {preprocessing!r} is not one of {MODES}")
    self.size, self.preprocessing = int(size), preprocessing

  def call(self, encoded):
    def one(image_bytes):
      pixels = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
      return tf.image.resize(tf.cast(pixels, tf.float32), [self.size, self.size])
    pixels = tf.map_fn(one, tf.reshape(encoded, [-1]), fn_output_signature=tf.TensorSpec(
        [self.size, self.size, 3], tf.float32))
    return keras.applications.imagenet_utils.preprocess_input(
        pixels, data_format="channels_last", mode=self.preprocessing)

  def compute_output_shape(self, input_shape):
    return (input_shape[0], self.size, self.size, 3)

  def get_config(self):
    return {**super().get_config(), "size": self.size, "preprocessing": self.preprocessing}
