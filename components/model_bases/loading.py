"""`model.base` -> the pre-trained network, with the image size and pixel scaling
it was trained with. Everything is read from disk; nothing is downloaded."""
from __future__ import annotations

import dataclasses
import os

import keras

from components.config import ModelConfig
from components.model_bases import frozen_graph, packaged
from components.model_bases.images import DecodeImages

# Inside a model directory this pipeline exported (trainer/export.py writes it):
# the Keras model beside the SavedModel, so a pushed model can be the next base.
KERAS_FILE = os.path.join("keras", "model.keras")
_APPLICATIONS = "keras.applications."


@dataclasses.dataclass
class Base:
  network: keras.Model  # float pixels in
  input_size: int
  preprocessing: str
  source: str


def load(m: ModelConfig, pretrained: bool = True) -> Base:
  """pretrained=False: the same architecture with fresh random weights."""
  spec = m.base
  if spec in packaged.BUILT_IN:
    built_in = packaged.BUILT_IN[spec]
    size = m.input_size or built_in.input_size
    network = frozen_graph.mobilenet_v1(packaged.path(spec) if pretrained else "", size,
                                        weights=pretrained)
    return Base(network, size, m.preprocessing or built_in.preprocessing, built_in.source)
  if spec.startswith(_APPLICATIONS):
    return _application(m, spec[len(_APPLICATIONS):], pretrained)
  if os.path.isdir(spec):
    if not os.path.exists(os.path.join(spec, KERAS_FILE)):
      raise ValueError(f"model.base {spec}: a directory, but not a model this pipeline "
                       f"exported (no {KERAS_FILE}); give a .keras or .h5 file instead")
    return _pushed(m, os.path.join(spec, KERAS_FILE), pretrained)
  if spec.endswith((".keras", ".h5")):
    if not os.path.exists(spec):
      raise FileNotFoundError(f"model.base {spec}: no such file")
    network = keras.models.load_model(spec, compile=False)
    return _fixed_size(m, _fresh(network) if not pretrained else network, spec,
                       m.preprocessing or "tf")
  raise ValueError(f"model.base {spec!r}: not one of {sorted(packaged.BUILT_IN)}, "
                   f"keras.applications.<Architecture>, a .keras/.h5 file or a pushed "
                   f"model directory")


def _application(m: ModelConfig, name: str, pretrained: bool) -> Base:
  architecture = getattr(keras.applications, name, None)
  if not callable(architecture):
    raise ValueError(f"model.base keras.applications.{name}: no such architecture")
  if pretrained and not m.weights:
    raise ValueError(f"model.base keras.applications.{name}: give model.weights, the "
                     f"weights file on disk (nothing is downloaded)")
  if pretrained and not os.path.exists(m.weights):
    raise FileNotFoundError(f"model.weights {m.weights}: no such file")
  size = m.input_size or 224
  shape = (size, size, 3)
  if not pretrained:
    return Base(architecture(weights=None, include_top=False, input_shape=shape), size,
                m.preprocessing or "tf", f"keras.applications.{name}")
  # A "notop" weights file, or a full one with the classifier: Keras loads a file
  # into the wrong variant without a word, so the file's variables decide.
  notop = architecture(weights=None, include_top=False, input_shape=shape)
  classes = _classes_in_file(m.weights, notop)
  network = notop if classes is None else architecture(
      weights=None, include_top=True, classes=classes, input_shape=shape)
  network.load_weights(m.weights)
  return Base(network, size, m.preprocessing or "tf",
              f"keras.applications.{name}" + (f" with {m.weights}" if pretrained else ""))


def _variables(weights_file: str) -> dict[str, tuple]:
  import h5py
  shapes: dict[str, tuple] = {}

  def visit(name, obj):  # (returning anything but None would stop the walk)
    if isinstance(obj, h5py.Dataset):
      shapes[name] = obj.shape

  with h5py.File(weights_file, "r") as f:
    f.visititems(visit)
  return shapes


def _classes_in_file(weights_file: str, notop: keras.Model) -> int | None:
  """None for a file of the network without its classifier; otherwise the
  classifier's width (the narrowest bias among the variables the top adds)."""
  import tempfile
  with tempfile.TemporaryDirectory() as scratch:
    reference = os.path.join(scratch, "notop.weights.h5")
    notop.save_weights(reference)
    without_top = _variables(reference)
  extra = {k: v for k, v in _variables(weights_file).items() if k not in without_top}
  biases = [shape[0] for shape in extra.values() if len(shape) == 1]
  return min(biases) if biases else None


def _pushed(m: ModelConfig, keras_file: str, pretrained: bool) -> Base:
  """A model this pipeline exported: its cut base (the nested `base` model) and
  the image preparation it was trained with."""
  model = keras.models.load_model(keras_file, compile=False)
  decode = next(layer for layer in model.layers if isinstance(layer, DecodeImages))
  network = model.get_layer("base")
  if not pretrained:
    network = _fresh(network)
  if m.input_size and m.input_size != decode.size:
    raise ValueError(f"model.input_size {m.input_size}: {m.base} takes {decode.size}x"
                     f"{decode.size} images")
  return Base(network, decode.size, m.preprocessing or decode.preprocessing,
              f"{m.base} (a model this pipeline exported)")


def _fixed_size(m: ModelConfig, network: keras.Model, spec: str, preprocessing: str) -> Base:
  size = network.input_shape[1]
  if m.input_size and size and m.input_size != size:
    raise ValueError(f"model.input_size {m.input_size}: {spec} takes {size}x{size} images")
  return Base(network, m.input_size or size or 224, preprocessing, spec)


def _fresh(network: keras.Model) -> keras.Model:
  """The same layers, newly initialised."""
  return keras.models.clone_model(network)
