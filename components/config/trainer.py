"""The `trainer` section: the step budget, checkpoints, the distribution strategy
and the model's hyperparameters."""
from __future__ import annotations

import enum
from typing import Literal, Optional

import pydantic

from components.config._strict import Strict


class HyperParameters(Strict):
  """Model hyperparameters; the tuner searches some of them."""
  learning_rate: float = pydantic.Field(0.003, gt=0)
  hidden_units: tuple[int, ...] = (64, 32)
  embedding_dim: int = pydantic.Field(8, ge=1)
  dropout: float = pydantic.Field(0.0, ge=0, lt=1)
  l2: float = pydantic.Field(0.0, ge=0)
  # Per-replica batch size when the tuner searched it (else trainer's).
  batch_size: Optional[int] = pydantic.Field(None, ge=1)
  # Smooth activations (tanh, silu) fit smooth functions far better than relu's
  # piecewise-linear pieces: what memorising a simulator needs.
  activation: Literal["relu", "tanh", "silu", "gelu"] = "relu"


class Strategy(str, enum.Enum):
  AUTO = "auto"
  ONE_DEVICE = "one_device"
  MIRRORED = "mirrored"
  MULTI_WORKER_MIRRORED = "multi_worker_mirrored"
  # Asynchronous: a coordinator sends steps to workers, variables live on the
  # parameter servers, and a lost worker does not stop training.
  PARAMETER_SERVER = "parameter_server"


class EarlyStoppingConfig(Strict):
  """Stops when the checkpoint_selection metric has not improved by more than
  min_delta for `patience` checkpoints in a row."""
  enabled: bool = False
  patience: int = pydantic.Field(3, ge=1)
  min_delta: float = pydantic.Field(0.0, ge=0)


class TrainerConfig(Strict):
  # Training length is a step budget, not passes over the data: a "virtual
  # epoch" is train_steps // num_checkpoints steps and ends with a checkpoint.
  train_steps: int = pydantic.Field(2000, ge=1)
  num_checkpoints: int = pydantic.Field(10, ge=1)
  # Retention: the newest K checkpoints, plus the best one on eval so far.
  keep_checkpoints: int = pydantic.Field(10, ge=1)
  lr_schedule: Literal["constant", "cosine"] = "constant"
  early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()
  # Fine-tuning: start from a checkpoint of an earlier training run ("latest",
  # a step of the latest run, or a checkpoint path), at a new learning rate.
  resume_from: Optional[str] = None
  resume_learning_rate: Optional[float] = pydantic.Field(None, gt=0)
  # Batch per device. The global batch is this times the number of replicas, and
  # the learning rate scales linearly: lr * global_batch / base_batch_size.
  per_replica_batch_size: int = pydantic.Field(128, ge=1)
  base_batch_size: int = pydantic.Field(128, ge=1)
  # Eval rows used to score each checkpoint (and each tuner trial).
  eval_examples: int = pydantic.Field(10_000, ge=1)
  # The large-batch rule needs a warm-up: the learning rate rises linearly to its
  # scaled value over the first warmup_steps steps (0: no warm-up).
  warmup_steps: int = pydantic.Field(0, ge=0)
  strategy: Strategy = Strategy.AUTO
  # Local runs: worker processes on this host (TF_CONFIG on localhost ports).
  # workers > 1 trains with MultiWorkerMirrored, or with parameter servers when
  # strategy is parameter_server (then ps >= 1 and a coordinator process too).
  workers: int = pydantic.Field(1, ge=1)
  ps: int = pydantic.Field(0, ge=0)
  seed: int = 42
  hyperparameters: HyperParameters = HyperParameters()
  # After train_steps, this many full-batch L-BFGS iterations on the whole train
  # split (held in memory): the polish that takes a memorised table from about 1%
  # to below 0.1% worst error (measured in BENCHMARKS.md). One process only.
  polish_steps: int = pydantic.Field(0, ge=0)
  # float64 lets the polish keep improving where float32's rounding stalls it.
  precision: Literal["float32", "float64"] = "float32"

  @property
  def total_steps(self) -> int:
    return self.train_steps + self.polish_steps

  @pydantic.model_validator(mode="after")
  def _checkpoints_fit_budget(self):
    if self.num_checkpoints > self.train_steps:
      raise ValueError(
          f"num_checkpoints ({self.num_checkpoints}) exceeds train_steps "
          f"({self.train_steps})")
    if self.warmup_steps >= self.train_steps:
      raise ValueError(f"warmup_steps ({self.warmup_steps}) must be below train_steps "
                       f"({self.train_steps})")
    check_cluster(self.strategy, self.workers, self.ps, "trainer")
    if self.polish_steps and (self.workers > 1 or self.strategy == Strategy.PARAMETER_SERVER):
      raise ValueError("polish_steps: the full-batch polish runs in one process "
                       "(workers 1, not parameter_server)")
    return self


def check_cluster(strategy: Strategy, workers: int, ps: int, where: str) -> None:
  """The replica counts a strategy can use; the error names the keys to change."""
  if strategy == Strategy.PARAMETER_SERVER and ps < 1:
    raise ValueError(f"strategy parameter_server needs {where}.ps >= 1 (parameter servers)")
  if ps and strategy != Strategy.PARAMETER_SERVER:
    raise ValueError(f"{where}.ps is {ps}: parameter servers need strategy "
                     f"parameter_server (not {strategy.value})")
  if workers > 1 and strategy in (Strategy.ONE_DEVICE, Strategy.MIRRORED):
    raise ValueError(f"{where}.workers is {workers}, but strategy {strategy.value} trains "
                     f"on one host; use multi_worker_mirrored or auto")
