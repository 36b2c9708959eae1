"""MobileNet v1 weights out of a frozen TF1 graph (TF-Slim variable names), into
`keras.applications.MobileNet`: the format the packaged ImageNet base ships in.

A frozen graph holds every weight as a named constant, so no TF1 session is
needed: the constants are read from the GraphDef and copied by name. The graph's
own ImageNet classifier (1001 classes, "background" first) is copied too, so a
converted model can be checked against the graph's class predictions.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

_SLIM = "MobilenetV1/"
_BN = ("gamma", "beta", "moving_mean", "moving_variance")


def read_constants(graph_file: str) -> dict[str, np.ndarray]:
  graph = tf.compat.v1.GraphDef()
  with tf.io.gfile.GFile(graph_file, "rb") as f:
    graph.ParseFromString(f.read())
  return {n.name: tf.make_ndarray(n.attr["value"].tensor) for n in graph.node
          if n.op == "Const" and n.name.startswith(_SLIM)}


def _slim_names(depth: int = 13):
  """(Keras layer, its slim scope, its weights in Keras order)."""
  yield "conv1", "Conv2d_0", ("weights",)
  yield "conv1_bn", "Conv2d_0/BatchNorm", _BN
  for i in range(1, depth + 1):
    yield f"conv_dw_{i}", f"Conv2d_{i}_depthwise", ("depthwise_weights",)
    yield f"conv_dw_{i}_bn", f"Conv2d_{i}_depthwise/BatchNorm", _BN
    yield f"conv_pw_{i}", f"Conv2d_{i}_pointwise", ("weights",)
    yield f"conv_pw_{i}_bn", f"Conv2d_{i}_pointwise/BatchNorm", _BN
  yield "conv_preds", "Logits/Conv2d_1c_1x1", ("weights", "biases")


def mobilenet_v1(graph_file: str, input_size: int = 224, weights: bool = True
                 ) -> keras.Model:
  """keras.applications.MobileNet (alpha 1.0, 1001 ImageNet classes) holding the
  graph's weights. The network is convolutional up to a global pooling, so the
  same weights serve other input sizes (at some cost in accuracy below 224).
  weights=False: the same architecture, randomly initialised."""
  model = keras.applications.MobileNet(weights=None, classes=1001,
                                       input_shape=(input_size, input_size, 3))
  if not weights:
    return model
  consts = read_constants(graph_file)
  for layer, scope, names in _slim_names():
    try:
      values = [consts[f"{_SLIM}{scope}/{n}"] for n in names]
    except KeyError as e:
      raise ValueError(f"{graph_file}: not a MobileNet v1 1.0 graph (no constant {e})") from None
    model.get_layer(layer).set_weights(values)
  return model
