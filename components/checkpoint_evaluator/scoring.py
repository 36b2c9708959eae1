"""Scoring checkpoints on the eval split, and choosing one."""
from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from components.trainer import data, loop, model as model_lib
from pipelines.config import HyperParameters, PipelineConfig, TaskType


@dataclasses.dataclass
class CheckpointScore:
  step: int
  path: str
  metrics: dict


def list_checkpoints(checkpoint_dir: str) -> list[tuple[int, str]]:
  """(step, prefix) of every complete checkpoint, oldest first."""
  state = tf.train.get_checkpoint_state(checkpoint_dir)
  if state is None:
    raise FileNotFoundError(f"{checkpoint_dir}: no checkpoints found")
  return sorted((int(p.rsplit("-", 1)[1]), p) for p in state.all_model_checkpoint_paths)


def restore_model(config: PipelineConfig, record: loop.TrainRecord, tft_output,
                  checkpoint_path: str | None = None) -> keras.Model:
  """The trained model, weights from a checkpoint (optimizer state is not needed)."""
  hp = HyperParameters.model_validate(record.hyperparameters)
  model = model_lib.build_model(config, hp, loop.vocab_sizes(config, tft_output),
                                loop.num_classes(config, tft_output))
  if checkpoint_path:
    tf.train.Checkpoint(model=model).restore(checkpoint_path).expect_partial()
  return model


def _metric_fn(config: PipelineConfig):
  """A compiled function: batch -> summed statistics the metrics are made of."""
  loss_fn = model_lib.loss_fn(config, reduction=None)
  kind = config.task.type

  def sums(logits, labels):
    y = loop.prepare_labels(config, labels)
    out = {"loss": tf.reduce_sum(loss_fn(y, logits)),
           "count": tf.cast(tf.shape(labels)[0], tf.float32)}
    if kind == TaskType.BINARY:
      out["correct"] = tf.reduce_sum(tf.cast(tf.equal(tf.cast(logits > 0, tf.float32), y), tf.float32))
    elif kind == TaskType.MULTICLASS:
      out["correct"] = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, -1), labels), tf.float32))
    else:
      out["abs_err"] = tf.reduce_sum(tf.abs(y - logits))
    return out
  return sums


def score(config: PipelineConfig, record: loop.TrainRecord, tft_output,
          examples_uri: str, progress=print) -> list[CheckpointScore]:
  spec = tft_output.transformed_feature_spec()
  # Read the eval rows once; every checkpoint is scored on the same rows.
  batches = list(data.make_dataset(
      data.split_pattern(examples_uri, "eval"), spec, data.EVAL_BATCH_SIZE,
      training=False).unbatch().take(config.trainer.eval_examples).batch(data.EVAL_BATCH_SIZE))
  if not batches:
    raise ValueError(f"{examples_uri}: the eval split is empty")
  model = restore_model(config, record, tft_output)
  weights = tf.train.Checkpoint(model=model)
  sums_fn = _metric_fn(config)

  @tf.function(reduce_retracing=True)
  def evaluate(x, y):
    logits = model(x, training=False)
    return logits, sums_fn(logits, y)

  kind = config.task.type

  scores = []
  for step, path in list_checkpoints(record.checkpoint_dir):
    weights.restore(path).expect_partial()
    totals: dict = {}
    auc = keras.metrics.AUC(from_logits=True)
    for features, labels in batches:
      logits, sums = evaluate(features, labels)
      for k, v in sums.items():
        totals[k] = totals.get(k, 0.0) + float(v)
      if kind == TaskType.BINARY:
        auc.update_state(loop.prepare_labels(config, labels), logits)
    n = totals["count"]
    metrics = {"loss": totals["loss"] / n}
    if kind == TaskType.BINARY:
      metrics.update(auc=float(auc.result()), accuracy=totals["correct"] / n)
    elif kind == TaskType.MULTICLASS:
      metrics["accuracy"] = totals["correct"] / n
    else:
      metrics["mae"] = totals["abs_err"] / n
    scores.append(CheckpointScore(step, path, metrics))
    progress(f"checkpoint {step}: " + "  ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
  return scores


def select(scores: list[CheckpointScore], metric: str, mode: str) -> CheckpointScore:
  if metric not in scores[0].metrics:
    raise ValueError(f"checkpoint_selection.metric {metric!r} is not one of "
                     f"{sorted(scores[0].metrics)}")
  # Ties go to the earlier checkpoint: the same quality with less training.
  key = (lambda s: s.metrics[metric]) if mode == "min" else (lambda s: -s.metrics[metric])
  return min(scores, key=lambda s: (key(s), s.step))
