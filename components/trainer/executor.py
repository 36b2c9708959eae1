"""TFX Trainer entry point (`run_fn`): the work of the Trainer step.

The step trains (or resumes) in the stable checkpoint directory for its inputs
(checkpoint_dirs.py): in its own process, or, with several workers, as replica
processes or a TFJob that it launches (cluster.py). A retraining may start from
production's checkpoint (warm_start.py). The Trainer's Model artifact holds the
training record, not a servable model: the checkpoint evaluator picks the best
checkpoint and exports that one.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable, Optional

import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs

from components import hyperparameters, progress
from components.config import PipelineConfig
from components.trainer import (checkpoint_dirs, cluster, data, loop, train_record,
                                warm_start as warm_start_lib)
from components.trainer.inputs import TrainInputs
from components.trainer.restore import IncompatibleCheckpoint
from components.trainer.train_record import RECORD_FILE, TrainRecord


@dataclasses.dataclass(frozen=True)
class Launch:
  """What the step knows beyond the loop's inputs: where run directories live and
  how replicas, if any, are launched."""
  checkpoint_root: str  # run directories are <root>/<pipeline>/<key>
  transform_graph: str = ""  # the Transform step's artifact, which replicas read
  tfjob: Optional[dict] = None  # launch the replicas as a TFJob (Kubeflow)
  production_model: Optional[str] = None  # the ProductionModel artifact, for a warm start
  on_start: Callable = lambda _: None  # sees the local replica processes (tests)


def with_step_budget(config: PipelineConfig, train_steps) -> PipelineConfig:
  """The Trainer's train_args.num_steps (a Kubeflow run parameter) is the budget."""
  if not train_steps or train_steps == config.trainer.train_steps:
    return config
  trainer = config.trainer.model_validate(
      {**config.trainer.model_dump(), "train_steps": int(train_steps)})
  return config.model_copy(update={"trainer": trainer})


def train(inputs: TrainInputs, launch: Launch) -> TrainRecord:
  """Trains `inputs` (whose checkpoint directory and warm start are chosen here)
  from a cold start, its own checkpoints, or production's."""
  examples = data.examples_of(inputs.train_pattern)
  start = warm_start_lib.choose(inputs.config, launch.production_model, examples,
                                inputs.progress)
  try:
    record = _train(dataclasses.replace(inputs, config=start.config), launch, start.checkpoint)
  except IncompatibleCheckpoint as e:
    if start.checkpoint is None:  # an explicit trainer.resume_from: the user must know
      raise
    # The model changed since production was trained: retraining goes on, cold.
    inputs.progress(f"WARNING: cannot warm-start from {start.description}: {e}; starting cold")
    start = warm_start_lib.Start(
        inputs.config, None, f"cold ({start.description}: the checkpoint does not fit this model)")
    record = _train(inputs, launch, None)
  return dataclasses.replace(record, started_from=start.description)


def _train(inputs: TrainInputs, launch: Launch, production_checkpoint: Optional[str]
           ) -> TrainRecord:
  inputs = checkpoint_dirs.choose(inputs, launch.checkpoint_root, production_checkpoint)
  inputs.progress(f"checkpoints: {inputs.checkpoint_dir}")
  if launch.tfjob:
    return cluster.train_on_tfjob(inputs, launch.tfjob, launch.transform_graph)
  if cluster.is_distributed(inputs.config):
    return cluster.train_locally(inputs, launch.transform_graph, launch.on_start)
  return loop.train(inputs)


def run_fn(fn_args: FnArgs) -> None:
  config = with_step_budget(PipelineConfig.from_json(fn_args.custom_config["config"]),
                            fn_args.train_steps)
  hp = hyperparameters.from_trainer_args(fn_args.hyperparameters,
                                         config.trainer.hyperparameters)
  inputs = TrainInputs(config, hp, tft.TFTransformOutput(fn_args.transform_output),
                       fn_args.train_files[0], fn_args.eval_files[0], checkpoint_dir="",
                       log_dir=fn_args.model_run_dir, progress=progress.speaker("trainer"))
  record = train(inputs, Launch(
      fn_args.custom_config["checkpoint_root"], transform_graph=fn_args.transform_output,
      tfjob=fn_args.custom_config.get("tfjob"),
      # The ProductionModel artifact: Format-Serving's parent.
      production_model=os.path.dirname(fn_args.base_model) if fn_args.base_model else None))
  train_record.write(record, os.path.join(fn_args.serving_model_dir, RECORD_FILE))
