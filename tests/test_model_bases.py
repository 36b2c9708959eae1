"""The pre-trained bases: the packaged ImageNet network is real and intact, the
bottleneck is found where it should be, and each way of naming a base loads the
same weights. No network access: everything is read from disk."""
from __future__ import annotations

import io
import shutil

import keras
import matplotlib.cbook
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from components.config import ModelConfig
from components.model_bases import cut, loading, packaged
from components.model_bases.images import DecodeImages

# ImageNet class 652 "military uniform"; the graph's 1001 classes put "background" first.
MILITARY_UNIFORM = 653


def _pixels(image: Image.Image, size: int) -> np.ndarray:
  data = io.BytesIO()
  image.convert("RGB").save(data, format="PNG")
  return DecodeImages(size, "tf")(tf.constant([data.getvalue()])).numpy()


@pytest.fixture(scope="module")
def mobilenet():
  return loading.load(ModelConfig(base="mobilenet_v1_imagenet"))


def test_the_packaged_base_is_imagenet_mobilenet(mobilenet):
  """Grace Hopper's portrait (matplotlib's sample image) comes out as a military
  uniform: the weights are ImageNet's, not random and not another task's."""
  hopper = Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg"))
  probabilities = mobilenet.network(_pixels(hopper, 224), training=False).numpy()[0]
  assert probabilities.argmax() == MILITARY_UNIFORM
  assert probabilities.max() > 0.5
  assert mobilenet.input_size == 224 and mobilenet.preprocessing == "tf"
  assert "nudity==0.2.3" in mobilenet.source


@pytest.mark.parametrize("size, spatial", [(224, 7), (128, 4)])
def test_the_bottleneck_is_the_last_spatial_layer_before_the_classifier(size, spatial):
  base = loading.load(ModelConfig(base="mobilenet_v1_imagenet", input_size=size))
  layer = cut.find_bottleneck(base.network)
  assert layer.name == "conv_pw_13_relu"
  assert tuple(layer.output.shape) == (None, spatial, spatial, 1024)
  trunk = cut.cut(base.network, layer)
  assert tuple(trunk.output.shape) == (None, 1024)
  # The cut shares the network's weights; it does not copy them.
  assert trunk.get_layer("conv_pw_13").kernel is base.network.get_layer("conv_pw_13").kernel


def test_a_named_bottleneck_and_a_misspelt_one(mobilenet):
  assert cut.find_bottleneck(mobilenet.network, "conv_pw_12_relu").name == "conv_pw_12_relu"
  with pytest.raises(ValueError, match=r"conv_pw_13_rleu.*did you mean conv_pw_13_relu"):
    cut.find_bottleneck(mobilenet.network, "conv_pw_13_rleu")


def test_a_keras_applications_architecture_with_a_weights_file(mobilenet, tmp_path):
  weights = tmp_path / "mobilenet_v1.weights.h5"
  mobilenet.network.save_weights(weights)
  again = loading.load(ModelConfig(base="keras.applications.MobileNet", weights=str(weights)))
  x = np.random.default_rng(0).uniform(-1, 1, (2, 224, 224, 3)).astype("float32")
  np.testing.assert_allclose(again.network(x, training=False), mobilenet.network(x, training=False),
                             atol=1e-5)
  with pytest.raises(ValueError, match="give model.weights"):
    loading.load(ModelConfig(base="keras.applications.MobileNet"))
  with pytest.raises(ValueError, match="keras.applications.MobileNot: no such architecture"):
    loading.load(ModelConfig(base="keras.applications.MobileNot", weights=str(weights)))


def test_a_keras_model_file(tmp_path):
  inputs = keras.Input((64, 64, 3))
  x = keras.layers.Conv2D(8, 3, activation="relu", name="features")(inputs)
  x = keras.layers.GlobalAveragePooling2D()(x)
  outputs = keras.layers.Dense(3, activation="softmax")(x)
  path = tmp_path / "small.keras"
  keras.Model(inputs, outputs, name="small").save(path)
  base = loading.load(ModelConfig(base=str(path)))
  assert base.input_size == 64
  assert cut.find_bottleneck(base.network).name == "features"
  with pytest.raises(ValueError, match="takes 64x64 images"):
    loading.load(ModelConfig(base=str(path), input_size=128))


def test_a_damaged_or_missing_packaged_file_is_refused(monkeypatch, tmp_path):
  original = packaged.path("mobilenet_v1_imagenet")
  damaged = tmp_path / packaged.BUILT_IN["mobilenet_v1_imagenet"].file
  shutil.copy(original, damaged)
  with open(damaged, "r+b") as f:
    f.seek(1000)
    f.write(b"\x00" * 16)
  monkeypatch.setenv("TP_BASES_DIR", str(tmp_path))
  with pytest.raises(ValueError, match=r"has sha256 .* run `make setup` again"):
    packaged.path("mobilenet_v1_imagenet")
  damaged.unlink()
  with pytest.raises(FileNotFoundError, match="is missing; run `make setup`"):
    packaged.path("mobilenet_v1_imagenet")


def test_images_are_decoded_resized_and_scaled_for_the_base():
  grey = io.BytesIO()
  Image.fromarray(np.full((8, 8), 255, np.uint8), mode="L").save(grey, format="PNG")
  colour = io.BytesIO()
  Image.fromarray(np.zeros((30, 50, 3), np.uint8)).save(colour, format="JPEG")
  pixels = DecodeImages(96, "tf")(tf.constant([grey.getvalue(), colour.getvalue()])).numpy()
  assert pixels.shape == (2, 96, 96, 3)
  np.testing.assert_allclose(pixels[0], 1.0, atol=1e-5)  # white: 255 -> 1 in "tf" mode
  np.testing.assert_allclose(pixels[1], -1.0, atol=0.02)  # black (JPEG rounding) -> -1
