"""Transfer learning in the training loop: the model (image bytes -> decode ->
pre-trained base cut at its bottleneck -> new head), which of its layers train at
each stage, the learning rate of the stages after the first, and the cache of
bottleneck features that makes feature extraction fast.

The model's parts are named: `decode`, `base` (the cut network) and `head`.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import time
from typing import Callable, Optional

import keras
import numpy as np
import tensorflow as tf

from components import features
from components.config import HyperParameters, PipelineConfig
from components.model_bases import cut, loading
from components.trainer import data
from components.model_bases.images import DecodeImages


def build_model(config: PipelineConfig, hp: HyperParameters, num_classes: int) -> keras.Model:
  m = config.model
  base = loading.load(m, pretrained=m.transfer != "scratch")
  layer = cut.find_bottleneck(base.network, m.bottleneck)
  trunk = cut.cut(base.network, layer)
  image = keras.Input(shape=(), dtype="string",
                      name=features.transformed_name(config.features.image))
  pixels = DecodeImages(base.input_size, base.preprocessing, name="decode")(image)
  # A pre-trained base runs in inference mode even while its top layers train:
  # BatchNorm keeps the statistics it learnt, instead of those of a few small
  # batches. Trained from scratch, it normalises with batch statistics.
  pooled = trunk(pixels, training=False) if m.transfer != "scratch" else trunk(pixels)
  logits = _head(trunk.output.shape[-1], hp, num_classes)(pooled)
  # Named inputs, as the transformed features arrive (a dict).
  return keras.Model({image.name: image}, logits, name="transfer")


def _head(width: int, hp: HyperParameters, num_classes: int) -> keras.Model:
  reg = keras.regularizers.L2(hp.l2) if hp.l2 else None
  x = inputs = keras.Input(shape=(width,), name="bottleneck")
  for units in hp.hidden_units:
    x = keras.layers.Dense(units, activation=hp.activation, kernel_regularizer=reg)(x)
    if hp.dropout:
      x = keras.layers.Dropout(hp.dropout)(x)
  if hp.dropout and not hp.hidden_units:
    x = keras.layers.Dropout(hp.dropout)(x)
  logits = keras.layers.Dense(num_classes, kernel_regularizer=reg, name="logits")(x)
  return keras.Model(inputs, logits, name="head")


def is_transfer(config: PipelineConfig) -> bool:
  return bool(config.model.base)


def describe(config: PipelineConfig, model: keras.Model) -> str:
  trunk = model.get_layer("base")
  layer = cut.find_bottleneck(trunk, config.model.bottleneck)
  layers = weight_layers(trunk)
  return (cut.describe(trunk, layer, trunk) + f"; {len(layers)} layers with weights, "
          f"{config.model.transfer}")


def weight_layers(trunk: keras.Model) -> list:
  """The base's layers with weights, bottom to top, BatchNorm left out: what
  `unfreeze` and `stages` count."""
  return [layer for layer in trunk.layers
          if layer.weights and not isinstance(layer, keras.layers.BatchNormalization)]


def set_stage(config: PipelineConfig, model: keras.Model, unfrozen: int) -> list[str]:
  """Makes the head and the top `unfrozen` weight layers of the base trainable,
  and nothing else (everything, from scratch). Returns the unfrozen layers' names."""
  trunk = model.get_layer("base")
  if config.model.transfer == "scratch":
    trunk.trainable = True
    return [layer.name for layer in weight_layers(trunk)]
  trunk.trainable = True  # Keras: a frozen parent would freeze every child
  for layer in trunk.layers:
    layer.trainable = False
  top = weight_layers(trunk)[-unfrozen:] if unfrozen else []
  for layer in top:
    layer.trainable = True
  model.get_layer("head").trainable = True
  return [layer.name for layer in top]


class Stages:
  """Which stage each virtual epoch belongs to: the epochs are shared out evenly
  between the stages, in order (the last ones get the remainder)."""

  def __init__(self, config: PipelineConfig):
    self.layers = config.model.stage_layers() if is_transfer(config) else (0,)
    self._epochs = config.trainer.num_checkpoints
    self.factor = config.model.fine_tune_lr_factor

  def __len__(self) -> int:
    return len(self.layers)

  def of_epoch(self, epoch_index: int) -> int:
    return min(epoch_index * len(self.layers) // self._epochs, len(self.layers) - 1)

  def first_epoch(self, stage: int) -> int:
    return next(e for e in range(self._epochs + 1) if self.of_epoch(e) >= stage)

  def is_last_epoch_of_stage(self, epoch_index: int) -> bool:
    return (epoch_index + 1 < self._epochs
            and self.of_epoch(epoch_index + 1) != self.of_epoch(epoch_index))


class StagedRate(keras.optimizers.schedules.LearningRateSchedule):
  """The rate (a number or a schedule) times `factor` from the first boundary on,
  ramped up linearly after every boundary: the stages that unfreeze pre-trained
  layers move them gently. The ramp matters with Adam: a newly trained
  variable's moments start at zero, so its first steps are full-size whatever
  its (tiny) gradient, and without the ramp they wreck what the base learnt.
  Its position is the optimizer's iteration count, which is checkpointed, so a
  resumed run continues at the same rate."""

  def __init__(self, inner, boundaries: list[int], factor: float, ramp: int):
    self.inner, self.boundaries, self.factor, self.ramp = inner, boundaries, factor, ramp

  def __call__(self, step):
    step = tf.cast(step, tf.float32)
    rate = self.inner(step) if callable(self.inner) else tf.constant(self.inner, tf.float32)
    bounds = tf.constant(self.boundaries, tf.float32)
    last = tf.reduce_max(tf.where(bounds <= step, bounds, -1.0))  # -1: before any
    ramp = tf.minimum(1.0, (step - last + 1.0) / float(self.ramp))
    return tf.where(last < 0, rate, rate * self.factor * ramp)

  def get_config(self):
    return {"boundaries": self.boundaries, "factor": self.factor, "ramp": self.ramp}


def staged_rate(config: PipelineConfig, rate, interval: int):
  stages = Stages(config)
  if len(stages) < 2:
    return rate
  return StagedRate(rate, [stages.first_epoch(k) * interval for k in range(1, len(stages))],
                    stages.factor, max(1, interval // 2))


# -- Feature extraction: the frozen base's output never changes, so compute it once.

class BottleneckCache:
  """Bottleneck features of every image of a split, computed once with the frozen
  base and kept in a file (keyed by the base and the records' content), so that
  later epochs, resumed runs, other seeds and the tuner's trials reuse them."""

  def __init__(self, config: PipelineConfig, model: keras.Model, cache_dir: str,
               progress: Callable[[str], None] = print):
    self._config, self._progress, self._dir = config, progress, cache_dir
    decode, trunk = model.get_layer("decode"), model.get_layer("base")

    @tf.function(reduce_retracing=True)
    def compute(images):
      return trunk(decode(images), training=False)

    self._compute = compute

  def _key(self, digest: str) -> str:
    m = self._config.model
    spec = {"base": m.base, "weights": m.weights, "bottleneck": m.bottleneck,
            "input_size": m.input_size, "preprocessing": m.preprocessing, "data": digest}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]

  def features(self, name: str, batches, digest: str) -> tuple[np.ndarray, np.ndarray]:
    """(features [n, width], labels [n]) of a split, from the cache or computed.
    batches: the split's (transformed features, label) batches, read only on a miss."""
    path = os.path.join(self._dir, f"{name}-{self._key(digest)}.npz")
    if tf.io.gfile.exists(path):
      with tf.io.gfile.GFile(path, "rb") as f:
        cached = np.load(io.BytesIO(f.read()))
      feats, labels = cached["features"], cached["labels"]
      self._progress(f"bottleneck features of {len(labels):,} {name} images: read from {path}")
      return feats, labels
    began, feats, labels = time.monotonic(), [], []
    image_key = features.transformed_name(self._config.features.image)
    for x, y in batches:
      feats.append(self._compute(x[image_key]).numpy())
      labels.append(y.numpy())
      if len(feats) % 8 == 0:
        self._progress(f"bottleneck features: {sum(map(len, labels)):,} {name} images done")
    feats, labels = np.concatenate(feats), np.concatenate(labels)
    tf.io.gfile.makedirs(self._dir)
    buf = io.BytesIO()  # (np.savez seeks, which a GCS file cannot)
    np.savez(buf, features=feats, labels=labels)
    with tf.io.gfile.GFile(path + ".tmp", "wb") as f:  # a crash leaves no half file
      f.write(buf.getvalue())
    tf.io.gfile.rename(path + ".tmp", path, overwrite=True)
    self._progress(f"bottleneck features of {len(labels):,} {name} images computed in "
                   f"{time.monotonic() - began:.1f} s, cached in {path}")
    return feats, labels


def caches_bottlenecks(config: PipelineConfig) -> bool:
  """Whether some stage trains the head alone on a pre-trained (frozen) base."""
  return is_transfer(config) and config.model.transfer != "scratch"


class Bottlenecks:
  """The train and eval splits' bottleneck features, computed on first use. The
  cache lives beside the pipeline's checkpoint directories."""

  def __init__(self, config: PipelineConfig, model: keras.Model, checkpoint_dir: str,
               train_pattern: str, eval_pattern: str, tft_output, eval_rows: Optional[int],
               progress: Callable[[str], None]):
    self._cache = BottleneckCache(config, model, os.path.join(
        os.path.dirname(checkpoint_dir), "bottlenecks"), progress)
    self._args = (train_pattern, eval_pattern, tft_output, eval_rows)
    self._train = self._eval = None

  def train(self) -> tuple[np.ndarray, np.ndarray]:
    if self._train is None:
      pattern, _, tft_output, _ = self._args
      self._train = self._cache.features("train", data.make_dataset(
          pattern, tft_output, data.EVAL_BATCH_SIZE, training=False),
          data.content_digest(pattern))
    return self._train

  def eval_batches(self) -> list:
    if self._eval is None:
      _, pattern, tft_output, rows = self._args
      feats, labels = self._cache.features(
          f"eval{rows or ''}", data.eval_batches(pattern, tft_output, rows),
          data.content_digest(pattern))
      self._eval = cached_batches(feats, labels, data.EVAL_BATCH_SIZE)
    return self._eval


def cached_dataset(feats: np.ndarray, labels: np.ndarray, batch_size: int, seed: Optional[int],
                   input_context: Optional[tf.distribute.InputContext] = None
                   ) -> tf.data.Dataset:
  """Training batches of cached features: shuffled with `seed`, repeated."""
  ds = tf.data.Dataset.from_tensor_slices((feats, labels))
  if input_context and input_context.num_input_pipelines > 1:
    ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
  return (ds.shuffle(len(labels), seed=seed).repeat()
          .batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE))


def cached_batches(feats: np.ndarray, labels: np.ndarray, batch_size: int) -> list:
  return [(tf.constant(feats[i:i + batch_size]), tf.constant(labels[i:i + batch_size]))
          for i in range(0, len(labels), batch_size)]
