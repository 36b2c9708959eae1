"""The training record: what a training run did, as JSON next to its model.

The Trainer step writes it into its Model artifact (which holds this record, not
a servable model); the chief replica of a distributed run writes it into the
run's checkpoint directory for the step to hand on; the checkpoint evaluator
reads it to find the checkpoints it scores. Defined, written and read here only.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Optional

import tensorflow as tf

RECORD_FILE = "training_record.json"


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


def path_in(directory: str) -> str:
  return os.path.join(directory, RECORD_FILE)


def write(record: TrainRecord, path: str) -> None:
  """Whole or not at all: a reader never sees half a record."""
  tf.io.gfile.makedirs(os.path.dirname(path))
  with tf.io.gfile.GFile(path + ".tmp", "w") as f:
    json.dump(dataclasses.asdict(record), f, indent=2)
  tf.io.gfile.rename(path + ".tmp", path, overwrite=True)


def read(path: str) -> TrainRecord:
  with tf.io.gfile.GFile(path) as f:
    return TrainRecord(**json.load(f))


def discard(path: str) -> None:
  """An earlier attempt's record, which must never be handed on as this one's."""
  if tf.io.gfile.exists(path):
    tf.io.gfile.remove(path)
