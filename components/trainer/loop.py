"""The custom training loop.

A custom loop (rather than `model.fit`) because Keras 3's `fit` fails under
MultiWorkerMirroredStrategy, while `strategy.run` + `tf.train.CheckpointManager`
works under every strategy we offer (see shared notes). It also gives us full
control of what a checkpoint holds: weights, optimizer slots and the step.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import time
from typing import Callable

import keras
import tensorflow as tf

from components import features
from components.trainer import data, model as model_lib, strategy as strategy_lib
from pipelines.config import HyperParameters, PipelineConfig, TaskType

# Steps run inside one tf.function call: fewer Python round-trips per step.
_STEPS_PER_CALL = 50


@dataclasses.dataclass
class TrainRecord:
  """What a training run did; written next to the checkpoints and read downstream."""
  checkpoint_dir: str
  start_step: int
  final_step: int
  checkpoint_interval: int
  global_batch_size: int
  learning_rate: float
  strategy: str
  replicas: int
  seconds: float
  hyperparameters: dict
  train_loss: list  # [(step, loss)] at each checkpoint


def vocab_sizes(config: PipelineConfig, tft_output) -> dict[str, int]:
  """Number of ids of each integer input, as the transform module produces them."""
  sizes = {features.transformed_name(c): tft_output.vocabulary_size_by_name(
      features.categorical_vocabulary_name(c)) + config.transform.oov_buckets
           for c in config.features.categorical}
  sizes.update({features.transformed_name(c): config.transform.coordinate_buckets + 1
                for c in config.features.coordinates})  # +1: the "missing" bucket
  return sizes


def num_classes(config: PipelineConfig, tft_output) -> int:
  if config.task.type != TaskType.MULTICLASS:
    return 2
  # +1: the id of classes that appear only outside the train split.
  return tft_output.vocabulary_size_by_name(features.label_vocabulary_name(config)) + 1


def prepare_labels(config: PipelineConfig, labels: tf.Tensor) -> tf.Tensor:
  """Labels in the shape and dtype the per-example loss expects."""
  if config.task.type == TaskType.MULTICLASS:
    return labels
  return tf.reshape(tf.cast(labels, tf.float32), [-1, 1])


def build(config: PipelineConfig, hp: HyperParameters, tft_output,
          strategy: tf.distribute.Strategy, learning_rate: float):
  """Model, optimizer and step counter, created under the strategy's scope."""
  with strategy.scope():
    keras.utils.set_random_seed(config.trainer.seed)
    model = model_lib.build_model(config, hp, vocab_sizes(config, tft_output),
                                  num_classes(config, tft_output))
    optimizer = keras.optimizers.Adam(learning_rate)
    # Slots now, not lazily inside the first tf.function step: under Mirrored
    # that fails, and a restore needs the slots to exist to fill them.
    optimizer.build(model.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
  return model, optimizer, step


def checkpoint_for(model, optimizer, step) -> tf.train.Checkpoint:
  return tf.train.Checkpoint(model=model, optimizer=optimizer, step=step)


def train(config: PipelineConfig, hp: HyperParameters, tft_output, train_pattern: str,
          checkpoint_dir: str, log_dir: str,
          progress: Callable[[str], None] = print) -> TrainRecord:
  t = config.trainer
  strategy = strategy_lib.choose(t.strategy)
  replicas = strategy.num_replicas_in_sync
  global_batch = t.per_replica_batch_size * replicas
  learning_rate = hp.learning_rate * global_batch / t.base_batch_size
  model, optimizer, step = build(config, hp, tft_output, strategy, learning_rate)

  chief = strategy_lib.is_chief(strategy)
  # Non-chief workers must still save (it is a collective op), but somewhere private.
  write_dir = checkpoint_dir if chief else os.path.join(
      checkpoint_dir, f".worker-{strategy.cluster_resolver.task_id}")
  ckpt = checkpoint_for(model, optimizer, step)
  manager = tf.train.CheckpointManager(ckpt, write_dir, max_to_keep=None)
  if tf.train.latest_checkpoint(checkpoint_dir):
    ckpt.restore(tf.train.latest_checkpoint(checkpoint_dir)).expect_partial()
    progress(f"resumed from {tf.train.latest_checkpoint(checkpoint_dir)} at step {int(step.numpy())}")
  start_step = int(step.numpy())

  interval = max(1, t.train_steps // t.num_checkpoints)
  feature_spec = tft_output.transformed_feature_spec()
  dataset = strategy.distribute_datasets_from_function(
      lambda ctx: data.make_dataset(
          train_pattern, feature_spec, ctx.get_per_replica_batch_size(global_batch),
          training=True, seed=t.seed + start_step, input_context=ctx))
  iterator = iter(dataset)
  loss_fn = model_lib.loss_fn(config, reduction=None)

  def replica_step(features, labels):
    with tf.GradientTape() as tape:
      logits = model(features, training=True)
      per_example = loss_fn(prepare_labels(config, labels), logits)
      loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
      if model.losses:
        loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss

  @tf.function
  def run_steps(iterator, n):
    total = tf.constant(0.0)
    for _ in tf.range(n):
      per_replica = strategy.run(replica_step, args=next(iterator))
      total += strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
      step.assign_add(1)
    return total / tf.cast(n, tf.float32)

  writer = tf.summary.create_file_writer(log_dir) if chief else tf.summary.create_noop_writer()
  train_loss = []
  began = time.monotonic()
  current = start_step
  while current < t.train_steps:
    next_stop = min(t.train_steps, (current // interval + 1) * interval)
    losses = []
    while current < next_stop:
      n = min(_STEPS_PER_CALL, next_stop - current)
      losses.append((float(run_steps(iterator, tf.constant(n, tf.int64))), n))
      current = int(step.numpy())
    loss = sum(l * n for l, n in losses) / sum(n for _, n in losses)
    manager.save(checkpoint_number=current)
    train_loss.append((current, loss))
    with writer.as_default(step=current):
      tf.summary.scalar("train/loss", loss)
      tf.summary.scalar("train/learning_rate", learning_rate)
    rate = (current - start_step) * global_batch / max(time.monotonic() - began, 1e-9)
    progress(f"step {current}/{t.train_steps}  train loss {loss:.4f}  "
             f"({rate:,.0f} examples/s)  checkpoint saved")
  writer.flush()
  if not chief:
    shutil.rmtree(write_dir, ignore_errors=True)
  return TrainRecord(
      checkpoint_dir=checkpoint_dir, start_step=start_step, final_step=current,
      checkpoint_interval=interval, global_batch_size=global_batch,
      learning_rate=learning_rate, strategy=type(strategy).__name__, replicas=replicas,
      seconds=time.monotonic() - began, hyperparameters=hp.model_dump(mode="json"),
      train_loss=train_loss)
