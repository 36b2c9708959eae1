"""The custom training loop, organised in virtual epochs.

A custom loop (rather than `model.fit`) because Keras 3's `fit` fails under
MultiWorkerMirroredStrategy, while `strategy.run` works under every strategy we
offer (see the shared notes). It also gives full control of what a checkpoint
holds and when it is written.

Training length is a step budget. A virtual epoch is `train_steps //
num_checkpoints` steps; each one reads data shuffled with `seed + epoch` and ends
with an evaluation and a checkpoint of the full state. Because checkpoints fall
on epoch boundaries and each epoch's data order depends only on its number, a run
resumed after a crash sees exactly the batches the uninterrupted run would have.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import time
from typing import Callable, Optional

import keras
import tensorflow as tf

from components import features
from components.trainer import vocabularies
from components.trainer import (checkpoints, data, evaluation, learning_rate as lr_lib,
                                model as model_lib, polish, stepping, strategy as strategy_lib,
                                transfer)
from components.config import HyperParameters, PipelineConfig, TaskType


@dataclasses.dataclass
class TrainRecord:
  """What a training run did; written next to the model and read downstream."""
  checkpoint_dir: str
  start_step: int
  final_step: int
  checkpoint_interval: int
  global_batch_size: int
  learning_rate: float  # after linear scaling with the global batch
  lr_schedule: str
  strategy: str
  replicas: int
  seconds: float
  hyperparameters: dict
  history: list  # [{"step", "epoch", "train_loss", "eval": {...}}], whole run
  resumed_from: Optional[str] = None
  stopped_early: Optional[dict] = None
  checkpoint_bytes: int = 0
  base_learning_rate: Optional[float] = None  # before scaling
  warmup_steps: int = 0
  is_chief: bool = True  # only the chief's record describes the run's checkpoints
  started_from: str = ""  # cold, own checkpoints, or production (see warm_start.py)

  @property
  def train_loss(self) -> list:
    return [(h["step"], h["train_loss"]) for h in self.history]


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


def build(config: PipelineConfig, hp: HyperParameters, tft_output,
          strategy: tf.distribute.Strategy, learning_rate, sizes: Optional[dict] = None):
  """Model, optimizer, step and epoch counters, created under the strategy's scope.
  sizes: embedding sizes other than this transform graph's (an earlier run's)."""
  with strategy.scope():
    keras.utils.set_random_seed(config.trainer.seed)
    model = model_lib.build_model(config, hp, sizes or vocab_sizes(config, tft_output),
                                  num_classes(config, tft_output))
    optimizer = keras.optimizers.Adam(learning_rate)
    if transfer.is_transfer(config):  # slots for every layer some stage will train
      transfer.set_stage(config, model, max(transfer.Stages(config).layers))
    # Slots now, not lazily inside the first tf.function step: under Mirrored
    # that fails, and a restore needs the slots to exist to fill them.
    optimizer.build(model.trainable_variables)
    if transfer.is_transfer(config):
      transfer.set_stage(config, model, transfer.Stages(config).layers[0])
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
  return model, optimizer, step, epoch


class IncompatibleCheckpoint(ValueError):
  """Another run's checkpoint whose variables do not fit this model (its
  architecture changed), beyond what a vocabulary remap explains."""


def _restore_warm_start(config, hp, tft_output, strategy, learning_rate, source: str,
                        built: tuple, ckpt: tf.train.Checkpoint, progress) -> None:
  """The full state of another run's checkpoint; embedding rows follow their
  categories when that run's vocabularies differ from this one's."""
  try:
    _restore_remapped(config, hp, tft_output, strategy, learning_rate, source, built, ckpt,
                      progress)
  except (ValueError, AssertionError, tf.errors.InvalidArgumentError) as e:
    reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
    raise IncompatibleCheckpoint(f"{source} does not fit this model ({reason})") from e


def _restore_remapped(config, hp, tft_output, strategy, learning_rate, source: str,
                      built: tuple, ckpt: tf.train.Checkpoint, progress) -> None:
  maps = vocabularies.row_maps(config, tft_output, source)
  if not maps:
    ckpt.read(source).assert_existing_objects_matched()
    return
  sizes = vocabularies.old_sizes(vocab_sizes(config, tft_output), maps, config, source)
  old = build(config, hp, tft_output, strategy, learning_rate, sizes=sizes)
  tf.train.Checkpoint(model=old[0], optimizer=old[1], step=old[2], epoch=old[3]).read(
      source).assert_existing_objects_matched()
  model, optimizer, step, epoch = built
  moved = vocabularies.copy_remapped(model.variables, old[0].variables, maps)
  vocabularies.copy_remapped(optimizer.variables, old[1].variables, maps)
  step.assign(old[2])
  epoch.assign(old[3])
  progress(f"vocabularies changed since {source}: {len(maps)} embedding table(s) remapped "
           f"by category ({moved} ids moved or new)")


def _early_stop(config: PipelineConfig, history: list) -> Optional[dict]:
  es, sel = config.trainer.early_stopping, config.checkpoint_selection
  if not es.enabled:
    return None
  best_i = _best_index(history, sel.metric, sel.mode, es.min_delta)
  waited = len(history) - 1 - best_i
  if waited < es.patience:
    return None
  best = history[best_i]
  return {"step": history[-1]["step"],
          "reason": f"eval {sel.metric} did not improve by more than {es.min_delta} for "
                    f"{waited} checkpoints (best {best['eval'][sel.metric]:.4f} at step "
                    f"{best['step']})"}


def _continue_from_best(config: PipelineConfig, history: list, model,
                        path_of: Callable[[int], str], progress) -> None:
  """Transfer in stages keeps the best stage: a new stage starts from the best
  checkpoint so far, so a stage that made things worse does not carry its damage
  into the next. (Optimizer state and step go on; only the weights go back.)"""
  if len(transfer.Stages(config)) < 2 or not history:
    return
  sel = config.checkpoint_selection
  best = history[_best_index(history, sel.metric, sel.mode)]
  if best["step"] == history[-1]["step"]:
    return
  tf.train.Checkpoint(model=model).read(path_of(best["step"])).expect_partial()
  progress(f"the last stage did not beat step {best['step']} (eval {sel.metric} "
           f"{best['eval'][sel.metric]:.4f}): the next stage starts from that checkpoint")


def _best_index(history: list, metric: str, mode: str, min_delta: float = 0.0) -> int:
  best_i, best = 0, None
  for i, h in enumerate(history):
    if evaluation.is_better(h["eval"][metric], best, mode, min_delta if best is not None else 0):
      best_i, best = i, h["eval"][metric]
  return best_i


def _current(value) -> float:
  """A float from a learning rate that may be a (mirrored) variable or a tensor."""
  return float(tf.convert_to_tensor(getattr(value, "value", value)))


def train(config: PipelineConfig, hp: HyperParameters, tft_output, train_pattern: str,
          eval_pattern: str, checkpoint_dir: str, log_dir: str,
          progress: Callable[[str], None] = print, warm_start: Optional[str] = None,
          save_checkpoints: bool = True) -> TrainRecord:
  """Trains to the step budget, resuming from `checkpoint_dir` if it holds a run.

  warm_start: a checkpoint of another run to start from when `checkpoint_dir` is
  empty (fine-tuning); its full state is restored, at the configured learning rate.
  save_checkpoints=False is for measuring what checkpoints cost (bench/).
  """
  t = config.trainer
  strategy = strategy_lib.choose(t.strategy)
  replicas = strategy.num_replicas_in_sync
  base_lr = t.resume_learning_rate if warm_start and t.resume_learning_rate else hp.learning_rate
  lr_plan = lr_lib.plan(config, base_lr, replicas)
  global_batch, lr_value = lr_plan.global_batch, lr_plan.scaled
  interval = max(1, t.train_steps // t.num_checkpoints)
  learning_rate = transfer.staged_rate(config, lr_lib.schedule(config, lr_plan), interval)
  model, optimizer, step, epoch = build(config, hp, tft_output, strategy, learning_rate)
  if transfer.is_transfer(config):
    progress(transfer.describe(config, model))
  ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step, epoch=epoch)

  chief = strategy_lib.is_chief(strategy)
  # Non-chief workers must still save (it is a collective op), but somewhere private.
  write_dir = checkpoint_dir if chief else os.path.join(
      checkpoint_dir, f".worker-{strategy.cluster_resolver.task_id}")
  store = checkpoints.CheckpointStore(write_dir, ckpt, step, warn=progress)
  reader = store if chief else checkpoints.CheckpointStore(
      checkpoint_dir, ckpt, step, warn=progress, read_only=True)

  if chief and save_checkpoints:  # what a later warm start remaps ids from
    vocabularies.save(config, tft_output, checkpoint_dir)
  state = checkpoints.read_state(checkpoint_dir)
  resumed_from = None
  restored = reader.restore_latest() if save_checkpoints else None
  if restored is not None:
    resumed_from = reader.path(restored)
    progress(f"resumed from {resumed_from} (step {restored}, epoch {int(epoch.numpy())})")
  elif warm_start:
    _restore_warm_start(config, hp, tft_output, strategy, learning_rate, warm_start,
                        (model, optimizer, step, epoch), ckpt, progress)
    resumed_from = warm_start
    progress(f"fine-tuning from {warm_start} at step {int(step.numpy())}, "
             f"learning rate {lr_value:g}")
  else:
    _set_label_scale(config, model, train_pattern, tft_output, progress)
  if isinstance(learning_rate, float):
    optimizer.learning_rate = learning_rate  # the restored value is the old run's
  current = start_step = int(step.numpy())
  if warm_start and restored is None and current >= t.train_steps:
    raise ValueError(f"resume_from {warm_start} is at step {current}, which is not "
                     f"before train_steps {t.train_steps}")

  # History of the checkpoints that still exist; later entries died with a crash.
  history = [h for h in state.get("history", []) if h["step"] <= current]
  stopped = state.get("stopped_early")
  if stopped and stopped["step"] != current:
    stopped = None
  if stopped:
    progress(f"training had stopped early at step {current}: {stopped['reason']}")

  # While none of a pre-trained base trains, the head alone trains, on the base's
  # bottleneck features, computed once and cached (they cannot change).
  bottlenecks = (transfer.Bottlenecks(config, model, checkpoint_dir, train_pattern,
                                      eval_pattern, tft_output, eval_rows(config), progress)
                 if transfer.caches_bottlenecks(config) else None)
  eval_images = []  # read when a stage first needs them
  loss_fn = model_lib.loss_fn(config, reduction=None)

  transform = None
  if isinstance(strategy, tf.distribute.ParameterServerStrategy):
    if tft_output._exported_as_v1:  # pylint: disable=protected-access
      raise ValueError("parameter_server training needs a transform graph written in "
                       "TF2 mode; this one is TF1 (rerun Transform with strategy "
                       "parameter_server in the config)")
    with strategy.scope():  # its lookup tables then have a copy on each worker
      transform = tft_output.transform_features_layer()

  def make_steps(trained: keras.Model, cached: Optional[tuple]):
    """The steps that train `trained` (the model, or only its head on `cached`
    features); made again at each transfer stage, whose variables differ."""

    def replica_step(feats, labels):
      with tf.GradientTape() as tape:
        logits = trained(feats, training=True)
        per_example = loss_fn(*model_lib.loss_inputs(
            model, evaluation.prepare_labels(config, labels, logits.dtype), logits))
        loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
        if trained.losses:
          loss += tf.nn.scale_regularization_loss(tf.cast(tf.add_n(trained.losses),
                                                          loss.dtype))
      # The stage's trainable variables (the list is read when this is traced).
      grads = tape.gradient(loss, trained.trainable_variables)
      optimizer.apply_gradients(zip(grads, trained.trainable_variables))
      return tf.cast(loss, tf.float32)

    def dataset_fn(ctx, seed):
      batch = ctx.get_per_replica_batch_size(global_batch) if ctx else global_batch
      if cached is not None:
        return transfer.cached_dataset(*cached, batch, seed, ctx)
      return data.make_dataset(train_pattern, tft_output, batch, training=True, seed=seed,
                               input_context=ctx, transform=transform)

    if transform is not None:
      return stepping.Asynchronous(strategy, replica_step, step, optimizer, dataset_fn)
    return stepping.Synchronous(strategy, replica_step, step, dataset_fn)

  def start_stage(unfrozen: int):
    """(steps, evaluator) of a training stage; `unfrozen` layers of a base train."""
    if transfer.is_transfer(config):
      names = transfer.set_stage(config, model, unfrozen)
      if len(stages) > 1:
        progress(f"stage {stage + 1}/{len(stages)}: the head"
                 + (f" and {len(names)} layers of the base ({', '.join(names)}), at "
                    f"learning rate x {stages.factor:g}" if names else " alone"))
    if bottlenecks and not unfrozen:
      head = model.get_layer("head")
      return (make_steps(head, bottlenecks.train()),
              evaluation.Evaluator(config, head, bottlenecks.eval_batches()))
    if not eval_images:
      eval_images.extend(data.eval_batches(eval_pattern, tft_output, eval_rows(config)))
    return make_steps(model, None), evaluation.Evaluator(config, model, eval_images)

  stages, stage = transfer.Stages(config), None
  polisher = None
  if t.polish_steps:
    polisher = polish.FullBatchPolish(
        model, loss_fn, data.eval_batches(train_pattern, tft_output, None), step,
        lambda labels, dtype: evaluation.prepare_labels(config, labels, dtype),
        model_lib.loss_inputs)
  writer = tf.summary.create_file_writer(log_dir) if chief else tf.summary.create_noop_writer()
  sel = config.checkpoint_selection
  total = t.total_steps
  if current < total and not stopped:
    progress(f"training from step {current} to {t.train_steps}: {type(strategy).__name__}, "
             + lr_plan.describe(t.per_replica_batch_size, replicas, t.base_batch_size)
             + (f"; then {t.polish_steps} full-batch L-BFGS steps to {total}"
                if t.polish_steps else ""))
  began = time.monotonic()
  while current < total and not stopped:
    epoch_index = current // interval
    if stages.of_epoch(epoch_index) != stage:
      stage = stages.of_epoch(epoch_index)
      if epoch_index and stages.of_epoch(epoch_index - 1) != stage:  # a stage begins
        _continue_from_best(config, history, model, reader.path, progress)
      steps, evaluator = start_stage(stages.layers[stage])
    if current < t.train_steps:
      end = epoch_end(current, interval, t.train_steps)
      train_loss = steps.run(t.seed + epoch_index, current, end - current)
    else:  # the polish, in epochs of the same length
      end = min(current + interval, total)
      train_loss = polisher.run(t.seed + epoch_index, current, end - current)
    current = int(step.numpy())
    epoch.assign(epoch_index + 1)
    metrics = evaluator()
    # seconds: training time in this process so far (how long a bound took to reach).
    history.append({"step": current, "epoch": epoch_index + 1, "train_loss": train_loss,
                    "eval": metrics, "seconds": round(time.monotonic() - began, 2)})
    if len(stages) > 1:
      history[-1].update(stage=stage + 1, unfrozen=stages.layers[stage])
    stopped = _early_stop(config, history)
    if save_checkpoints:
      if chief:  # state first: a crash before the checkpoint lands just drops it
        checkpoints.write_state(checkpoint_dir, {"history": history, "stopped_early": stopped})
      store.save(current)
      best_step = history[_best_index(history, sel.metric, sel.mode)]["step"]
      store.retain(t.keep_checkpoints, protect={best_step})
    with writer.as_default(step=current):
      tf.summary.scalar("train/loss", train_loss)
      tf.summary.scalar("train/learning_rate", _current(optimizer.learning_rate))
      for name, value in metrics.items():
        tf.summary.scalar(f"eval/{name}", value)
    rate = (current - start_step) * global_batch / max(time.monotonic() - began, 1e-9)
    speed = (f"{rate:,.0f} examples/s" if current <= t.train_steps
             else "L-BFGS on the full batch")
    progress(f"step {current}/{total}  train loss {train_loss:.4g}  eval "
             + "  ".join(f"{k} {v:.4g}" for k, v in metrics.items())
             + f"  ({speed})" + ("  checkpoint saved" if save_checkpoints else ""))
    if stopped:
      progress(f"early stopping at step {current}: {stopped['reason']}")
  writer.flush()
  if not chief:
    shutil.rmtree(write_dir, ignore_errors=True)
  steps_kept = store.steps() if save_checkpoints else []
  return TrainRecord(
      checkpoint_dir=checkpoint_dir, start_step=start_step, final_step=current,
      checkpoint_interval=interval, global_batch_size=global_batch,
      learning_rate=lr_value, lr_schedule=t.lr_schedule,
      strategy=type(strategy).__name__, replicas=replicas,
      seconds=time.monotonic() - began, hyperparameters=hp.model_dump(mode="json"),
      history=history, resumed_from=resumed_from, stopped_early=stopped,
      checkpoint_bytes=checkpoints.size_bytes(store.path(steps_kept[-1])) if steps_kept else 0,
      base_learning_rate=base_lr, warmup_steps=t.warmup_steps, is_chief=chief)


def eval_rows(config: PipelineConfig) -> Optional[int]:
  """How many eval rows score a checkpoint: all of them when memorising, because
  the claim is about the worst error over every point of the grid."""
  return None if config.task.mode == "memorize" else config.trainer.eval_examples


def _set_label_scale(config: PipelineConfig, model, train_pattern: str, tft_output,
                     progress) -> None:
  """A new regression model's output map, from the train labels' mean and spread."""
  scale = model_lib.label_scale(model)
  if scale is None:
    return
  mean, std = data.label_moments(train_pattern, tft_output)
  scale.offset.assign(mean)
  scale.scale.assign(std or 1.0)
  progress(f"label {config.task.label}: mean {mean:.4g}, standard deviation {std:.4g} "
           f"(the output layer's scale)")


def epoch_end(current: int, interval: int, train_steps: int) -> int:
  """The step at which the virtual epoch containing `current` ends. The remainder
  of train_steps / interval joins the last epoch, so there are exactly
  num_checkpoints epochs."""
  end = (current // interval + 1) * interval
  return train_steps if end + interval > train_steps else end

