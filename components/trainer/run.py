"""A training run's two kinds of state: what it sets up once before its first
epoch (`Run`: strategy, learning-rate plan, model and optimizer, where checkpoints
are written and read) and what each epoch changes (`RunState`: the step reached,
the history of evaluations, whether to stop). loop.py reads both.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Optional

import tensorflow as tf

from components.trainer import (checkpoints, learning_rate as lr_lib, strategy as strategy_lib,
                                training_state, transfer)
from components.trainer.inputs import TrainInputs
from components.trainer.training_state import TrainingState


@dataclasses.dataclass
class Run:
  inputs: TrainInputs
  strategy: tf.distribute.Strategy
  lr_plan: lr_lib.Plan
  interval: int  # steps per virtual epoch
  learning_rate: Any  # a float, or a schedule of the step
  training: TrainingState  # model, optimizer, counters: what a checkpoint holds
  chief: bool
  write_dir: str  # where this process saves: the run's directory, or a worker's own
  store: checkpoints.CheckpointStore  # saves into write_dir
  reader: checkpoints.CheckpointStore  # reads the run's checkpoints (the chief's)
  stages: transfer.Stages

  @property
  def config(self):
    return self.inputs.config

  @property
  def say(self):
    return self.inputs.progress


@dataclasses.dataclass
class RunState:
  step: int  # the global step reached
  start_step: int  # where this process began (after a resume or a warm start)
  history: list  # one entry per evaluated epoch, kept in the checkpoint directory
  stopped: Optional[dict]  # early stopping's step and reason, once it decides
  resumed_from: Optional[str]  # the checkpoint this process started from
  began: float = 0.0  # time.monotonic() at the first step


def start(inputs: TrainInputs) -> Run:
  """Strategy, learning rate scaled to the global batch, model and optimizer, and
  the checkpoint stores."""
  config, t = inputs.config, inputs.trainer
  strategy = strategy_lib.choose(t.strategy)
  base_lr = (t.resume_learning_rate if inputs.warm_start and t.resume_learning_rate
             else inputs.hp.learning_rate)
  lr_plan = lr_lib.plan(config, base_lr, strategy.num_replicas_in_sync)
  interval = max(1, t.train_steps // t.num_checkpoints)
  learning_rate = transfer.staged_rate(config, lr_lib.schedule(config, lr_plan), interval)
  training = training_state.build(config, inputs.hp, inputs.tft_output, strategy, learning_rate)
  if transfer.is_transfer(config):
    inputs.progress(transfer.describe(config, training.model))

  chief = strategy_lib.is_chief(strategy)
  # Non-chief workers must still save (it is a collective op), but somewhere private.
  write_dir = inputs.checkpoint_dir if chief else os.path.join(
      inputs.checkpoint_dir, f".worker-{strategy.cluster_resolver.task_id}")
  store = checkpoints.CheckpointStore(write_dir, training.checkpoint, training.step,
                                      warn=inputs.progress)
  reader = store if chief else checkpoints.CheckpointStore(
      inputs.checkpoint_dir, training.checkpoint, training.step, warn=inputs.progress,
      read_only=True)
  return Run(inputs, strategy, lr_plan, interval, learning_rate, training, chief, write_dir,
             store, reader, transfer.Stages(config))
