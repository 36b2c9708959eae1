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

`train` reads top to bottom: set up, resume, then per epoch: stage, train,
evaluate, checkpoint, report, until the budget is spent or early stopping says
stop. The Trainer step, its distributed replicas (job.py), tuner trials and
Katib trials all run it.
"""
from __future__ import annotations

import shutil
import time

import tensorflow as tf

from components.trainer import checkpoints, early_stopping, restore, run as run_lib
from components.trainer.epoch_steps import EpochSteps, continue_from_best
from components.trainer.inputs import TrainInputs
from components.trainer.run import Run, RunState
from components.trainer.train_record import TrainRecord


def train(inputs: TrainInputs) -> TrainRecord:
  """Trains to the step budget, resuming from `inputs.checkpoint_dir` if it holds
  a run, else starting from `inputs.warm_start` (another run's checkpoint, whose
  full state is restored, at the configured learning rate) if given."""
  t = inputs.trainer
  # Set up: strategy, learning rate for the global batch, model, checkpoint stores.
  run = run_lib.start(inputs)
  # Resume: this run's latest checkpoint, else the warm start, else a new model.
  state = restore.resume(run)
  # What trains an epoch (each transfer stage's steps, then the polish).
  epochs = EpochSteps(run)
  writer = (tf.summary.create_file_writer(inputs.log_dir) if run.chief
            else tf.summary.create_noop_writer())
  if state.step < t.total_steps and not state.stopped:
    _announce(run, state)
  state.began = time.monotonic()
  while state.step < t.total_steps and not state.stopped:
    epoch_index = state.step // run.interval
    # Stage: a transfer stage that begins starts from the best checkpoint so far.
    stage = run.stages.of_epoch(epoch_index)
    if stage != epochs.stage:
      if epoch_index and run.stages.of_epoch(epoch_index - 1) != stage:
        continue_from_best(run, state.history)
      epochs.enter(stage)
    # Train one epoch, on data shuffled by its number.
    train_loss = epochs.train(epoch_index, state.step)
    state.step = int(run.training.step.numpy())
    run.training.epoch.assign(epoch_index + 1)
    # Evaluate, and let early stopping judge the history so far.
    metrics = epochs.score()
    _remember(run, state, epochs.stage, epoch_index, train_loss, metrics)
    state.stopped = early_stopping.check(run.config, state.history)
    # Checkpoint, and drop old ones (never the best).
    if inputs.save_checkpoints:
      _checkpoint(run, state)
    # Report: TensorBoard, and one progress line per epoch.
    _report(run, state, writer, train_loss, metrics)
  writer.flush()
  return _finish(run, state)


def _announce(run: Run, state: RunState) -> None:
  t = run.config.trainer
  run.say(f"training from step {state.step} to {t.train_steps}: {type(run.strategy).__name__}, "
          + run.lr_plan.describe(t.per_replica_batch_size, run.strategy.num_replicas_in_sync,
                                 t.base_batch_size)
          + (f"; then {t.polish_steps} full-batch L-BFGS steps to {t.total_steps}"
             if t.polish_steps else ""))


def _remember(run: Run, state: RunState, stage: int, epoch_index: int, train_loss: float,
              metrics: dict) -> None:
  """The epoch's entry in the history: what the checkpoint evaluator and a resume read."""
  # seconds: training time in this process so far (how long a bound took to reach).
  state.history.append({"step": state.step, "epoch": epoch_index + 1,
                        "train_loss": train_loss, "eval": metrics,
                        "seconds": round(time.monotonic() - state.began, 2)})
  if len(run.stages) > 1:
    state.history[-1].update(stage=stage + 1, unfrozen=run.stages.layers[stage])


def _checkpoint(run: Run, state: RunState) -> None:
  if run.chief:  # state first: a crash before the checkpoint lands just drops it
    checkpoints.write_state(run.inputs.checkpoint_dir,
                            {"history": state.history, "stopped_early": state.stopped})
  run.store.save(state.step)
  run.store.retain(run.config.trainer.keep_checkpoints,
                   protect={early_stopping.best_step(run.config, state.history)})


def _report(run: Run, state: RunState, writer, train_loss: float, metrics: dict) -> None:
  t, current = run.config.trainer, state.step
  with writer.as_default(step=current):
    tf.summary.scalar("train/loss", train_loss)
    tf.summary.scalar("train/learning_rate", _current(run.training.optimizer.learning_rate))
    for name, value in metrics.items():
      tf.summary.scalar(f"eval/{name}", value)
  rate = ((current - state.start_step) * run.lr_plan.global_batch
          / max(time.monotonic() - state.began, 1e-9))
  speed = (f"{rate:,.0f} examples/s" if current <= t.train_steps
           else "L-BFGS on the full batch")
  run.say(f"step {current}/{t.total_steps}  train loss {train_loss:.4g}  eval "
          + "  ".join(f"{k} {v:.4g}" for k, v in metrics.items())
          + f"  ({speed})" + ("  checkpoint saved" if run.inputs.save_checkpoints else ""))
  if state.stopped:
    run.say(f"early stopping at step {current}: {state.stopped['reason']}")


def _current(value) -> float:
  """A float from a learning rate that may be a (mirrored) variable or a tensor."""
  return float(tf.convert_to_tensor(getattr(value, "value", value)))


def _finish(run: Run, state: RunState) -> TrainRecord:
  inputs, t = run.inputs, run.config.trainer
  if not run.chief:
    shutil.rmtree(run.write_dir, ignore_errors=True)
  steps_kept = run.store.steps() if inputs.save_checkpoints else []
  return TrainRecord(
      checkpoint_dir=inputs.checkpoint_dir, start_step=state.start_step, final_step=state.step,
      checkpoint_interval=run.interval, global_batch_size=run.lr_plan.global_batch,
      learning_rate=run.lr_plan.scaled, lr_schedule=t.lr_schedule,
      strategy=type(run.strategy).__name__, replicas=run.strategy.num_replicas_in_sync,
      seconds=time.monotonic() - state.began, hyperparameters=inputs.hp.model_dump(mode="json"),
      history=state.history, resumed_from=state.resumed_from, stopped_early=state.stopped,
      checkpoint_bytes=(checkpoints.size_bytes(run.store.path(steps_kept[-1]))
                        if steps_kept else 0),
      base_learning_rate=run.lr_plan.base, warmup_steps=t.warmup_steps, is_chief=run.chief)
