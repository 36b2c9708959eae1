"""The `trainer` section: the step budget, checkpoints, the distribution strategy
and the model's hyperparameters."""
from __future__ import annotations

import enum
from typing import Literal, Optional

import pydantic

from components.config._strict import Strict


class HyperParameters(Strict):
  """Model hyperparameters; the tuner searches some of them."""
  learning_rate: float = pydantic.Field(
      0.003, gt=0, description="Adam's learning rate at trainer.base_batch_size; scaled "
                               "linearly with the global batch.")
  hidden_units: tuple[int, ...] = pydantic.Field(
      (64, 32), description="Units of each hidden dense layer, input side first (on top of "
                            "a pre-trained base: the head's layers).")
  embedding_dim: int = pydantic.Field(
      8, ge=1, description="Size of the embedding of each categorical and coordinates "
                           "column.")
  dropout: float = pydantic.Field(
      0.0, ge=0, lt=1, description="Dropout rate after each hidden layer; 0: none.")
  l2: float = pydantic.Field(
      0.0, ge=0, description="L2 penalty on the model's weights (embeddings and layers); 0: none.")
  batch_size: Optional[int] = pydantic.Field(
      None, ge=1, description="Per-replica batch size when the tuner searched it; null: "
                              "trainer.per_replica_batch_size.")
  activation: Literal["relu", "tanh", "silu", "gelu"] = pydantic.Field(
      "relu", description="The hidden layers' activation. Smooth ones (tanh, silu) fit "
                          "smooth functions far better than relu's piecewise-linear pieces: "
                          "what memorizing a simulator needs.")


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
  enabled: bool = pydantic.Field(False, description="Stop training early when eval stops "
                                                    "improving.")
  patience: int = pydantic.Field(
      3, ge=1, description="Checkpoints in a row without improvement before training stops.")
  min_delta: float = pydantic.Field(
      0.0, ge=0, description="The least change of the metric that counts as an improvement.")


class TrainerConfig(Strict):
  """How long and how the model trains: a step budget in checkpointed virtual
  epochs, the batch and learning-rate rule, the distribution strategy."""
  train_steps: int = pydantic.Field(
      2000, ge=1, description="Training length, as a step budget rather than passes over "
                              "the data.")
  num_checkpoints: int = pydantic.Field(
      10, ge=1, description="Virtual epochs: each is train_steps // num_checkpoints steps "
                            "and ends with a checkpoint scored on eval data.")
  keep_checkpoints: int = pydantic.Field(
      10, ge=1, description="Checkpoints kept: the newest K, plus the best one on eval so "
                            "far.")
  lr_schedule: Literal["constant", "cosine"] = pydantic.Field(
      "constant", description="constant, or cosine: the (scaled) learning rate decays over "
                              "train_steps to a tenth of itself.")
  early_stopping: EarlyStoppingConfig = pydantic.Field(
      EarlyStoppingConfig(), description="Stop before train_steps when eval stops improving.")
  resume_from: Optional[str] = pydantic.Field(
      None, description="Fine-tuning: start from a checkpoint of an earlier training run: "
                        "\"latest\", a step of the latest run, or a checkpoint path.")
  resume_learning_rate: Optional[float] = pydantic.Field(
      None, gt=0, description="With resume_from: the new learning rate; null keeps the "
                              "configured one.")
  per_replica_batch_size: int = pydantic.Field(
      128, ge=1, description="Batch per device; the global batch is this times the number "
                             "of replicas.")
  base_batch_size: int = pydantic.Field(
      128, ge=1, description="The batch the learning rate is given for: it scales linearly, "
                             "lr * global_batch / base_batch_size.")
  eval_examples: int = pydantic.Field(
      10_000, ge=1, description="Eval rows used to score each checkpoint (and each tuner "
                                "trial).")
  warmup_steps: int = pydantic.Field(
      0, ge=0, description="The learning rate rises linearly to its scaled value over the "
                           "first steps, as the large-batch rule needs; 0: no warm-up.")
  strategy: Strategy = pydantic.Field(
      Strategy.AUTO,
      description="The tf.distribute strategy; auto: multi_worker_mirrored with several "
                  "workers, mirrored on several GPUs, else one device. "
                  "parameter_server is asynchronous: a coordinator sends steps to workers, "
                  "variables live on the parameter servers, and a lost worker does not stop "
                  "training.")
  workers: int = pydantic.Field(
      1, ge=1,
      description="Local runs: worker processes on this host (TF_CONFIG on localhost ports). "
                  "More than 1 trains with multi_worker_mirrored, or parameter servers with "
                  "strategy parameter_server.")
  ps: int = pydantic.Field(
      0, ge=0, description="Local runs: parameter server processes (strategy "
                           "parameter_server needs at least 1, and adds a coordinator).")
  seed: int = pydantic.Field(42, description="Seeds weights, shuffling and the tuner's "
                                             "trials.")
  hyperparameters: HyperParameters = pydantic.Field(
      HyperParameters(), description="The model's hyperparameters, when the tuner does not "
                                     "choose them.")
  polish_steps: int = pydantic.Field(
      0, ge=0,
      description="After train_steps, this many full-batch L-BFGS iterations on the whole "
                  "train split (held in memory): takes a memorized table from about 1% to "
                  "below 0.1% worst error (see BENCHMARKS.md). One process only.")
  precision: Literal["float32", "float64"] = pydantic.Field(
      "float32", description="float64 lets the polish keep improving where float32's "
                             "rounding stalls it.")

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
