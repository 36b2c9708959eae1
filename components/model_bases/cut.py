"""The cut: a pre-trained network up to its bottleneck, the layer just before its
own head, pooled to one feature vector per image."""
from __future__ import annotations

import difflib

import keras


def find_bottleneck(network: keras.Model, name: str | None = None) -> keras.layers.Layer:
  """The named layer, or the last layer whose output still has a spatial extent:
  after it come the pooling and the classifier of the network's own task."""
  if name:
    names = [layer.name for layer in network.layers]
    if name not in names:
      near = difflib.get_close_matches(name, names, n=3)
      raise ValueError(f"model.bottleneck {name!r}: no such layer in {network.name}"
                       + (f" (did you mean {', '.join(near)}?)" if near else ""))
    return network.get_layer(name)
  for layer in reversed(network.layers):
    shape = layer.output.shape
    if len(shape) == 4 and (shape[1] or 2) * (shape[2] or 2) > 1:
      return layer
  raise ValueError(f"{network.name}: no layer with a spatial output to cut at; name the "
                   f"bottleneck layer in model.bottleneck")


def cut(network: keras.Model, layer: keras.layers.Layer) -> keras.Model:
  """network's input -> layer's output, globally average-pooled when spatial. The
  layers (and weights) are the network's own, not copies."""
  x = layer.output
  if len(x.shape) == 4:
    x = keras.layers.GlobalAveragePooling2D(name="bottleneck_pool")(x)
  elif len(x.shape) > 2:
    x = keras.layers.Flatten(name="bottleneck_flatten")(x)
  return keras.Model(network.inputs, x, name="base")


def describe(network: keras.Model, layer: keras.layers.Layer, trunk: keras.Model) -> str:
  pooled = " -> global average pooling" if len(layer.output.shape) == 4 else ""
  return (f"bottleneck: {layer.name} of {network.name}, output {tuple(layer.output.shape)}"
          f"{pooled} -> {tuple(trunk.output.shape)}")
