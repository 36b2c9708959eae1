"""Eval metrics of a model on held-in-memory eval batches. Used by the Trainer at
each checkpoint (early stopping, keeping the best) and by the checkpoint evaluator."""
from __future__ import annotations

from typing import Optional

import keras
import tensorflow as tf

from components.trainer import model as model_lib
from components.config import PipelineConfig, TaskType


def prepare_labels(config: PipelineConfig, labels: tf.Tensor,
                   dtype: tf.DType = tf.float32) -> tf.Tensor:
  """Labels in the shape and dtype (the model's output's) the per-example loss expects."""
  if config.task.type == TaskType.MULTICLASS:
    return labels
  return tf.reshape(tf.cast(labels, dtype), [-1, 1])


class EvalScorer:
  """A model's eval metrics on held-in-memory batches. Compiles the forward pass
  once; call it after each weight change."""

  def __init__(self, config: PipelineConfig, model: keras.Model, batches: list):
    self._config, self._model, self._batches = config, model, batches
    loss_fn = model_lib.loss_fn(config, reduction=None)
    kind = config.task.type

    @tf.function(reduce_retracing=True)
    def sums(x, labels):
      logits = model(x, training=False)
      y = prepare_labels(config, labels, logits.dtype)
      out = {"loss": tf.reduce_sum(loss_fn(*model_lib.loss_inputs(model, y, logits))),
             "count": tf.cast(tf.shape(labels)[0], tf.float32)}
      if kind == TaskType.BINARY:
        out["correct"] = tf.reduce_sum(
            tf.cast(tf.equal(tf.cast(logits > 0, tf.float32), y), tf.float32))
      elif kind == TaskType.MULTICLASS:
        out["correct"] = tf.reduce_sum(
            tf.cast(tf.equal(tf.argmax(logits, -1), labels), tf.float32))
      else:
        err = tf.abs(y - logits)
        out["abs_err"] = tf.reduce_sum(err)
        # The worst point, and the label range it is measured against.
        out["max_abs_err"] = tf.reduce_max(err)
        out["min_label"], out["max_label"] = tf.reduce_min(y), tf.reduce_max(y)
      return logits, out

    self._sums = sums

  def __call__(self) -> dict[str, float]:
    kind = self._config.task.type
    totals: dict[str, float] = {}
    auc = keras.metrics.AUC(from_logits=True)
    combine = {"max_abs_err": max, "max_label": max, "min_label": min}
    for features, labels in self._batches:
      logits, sums = self._sums(features, labels)
      for k, v in sums.items():
        totals[k] = combine.get(k, sum)((totals[k], float(v))) if k in totals else float(v)
      if kind == TaskType.BINARY:
        auc.update_state(prepare_labels(self._config, labels), logits)
    n = totals["count"]
    metrics = {"loss": totals["loss"] / n}
    if kind == TaskType.BINARY:
      metrics.update(auc=float(auc.result()), accuracy=totals["correct"] / n)
    elif kind == TaskType.MULTICLASS:
      metrics["accuracy"] = totals["correct"] / n
    else:
      metrics["mae"] = totals["abs_err"] / n
      metrics["max_abs_error"] = totals["max_abs_err"]
      # Relative to the output range, not to each label (which may be near 0).
      spread = totals["max_label"] - totals["min_label"]
      metrics["max_rel_error"] = totals["max_abs_err"] / spread if spread else totals["max_abs_err"]
    return metrics


def eval_rows(config: PipelineConfig) -> Optional[int]:
  """How many eval rows score a checkpoint: all of them when memorizing, because
  the claim is about the worst error over every point of the grid."""
  return None if config.task.mode == "memorize" else config.trainer.eval_examples


def is_better(value: float, best: float | None, mode: str, min_delta: float = 0.0) -> bool:
  if best is None:
    return True
  return value < best - min_delta if mode == "min" else value > best + min_delta
