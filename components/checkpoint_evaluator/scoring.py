"""Scoring checkpoints on the eval split, and choosing one."""
from __future__ import annotations

import dataclasses
import os
from typing import Optional

import keras
import tensorflow as tf

from components.trainer import checkpoints, data, evaluation, model as model_lib
from components.trainer.train_record import TrainRecord
from components.config import HyperParameters, PipelineConfig


@dataclasses.dataclass
class CheckpointScore:
  step: int
  path: str
  metrics: dict
  # Transfer learning in stages: the stage the checkpoint ends, and how many
  # layers of the base were training in it.
  stage: Optional[int] = None
  unfrozen: Optional[int] = None


def list_checkpoints(checkpoint_dir: str) -> list[tuple[int, str]]:
  """(step, prefix) of every complete checkpoint, oldest first."""
  steps = checkpoints.list_steps(checkpoint_dir)
  if not steps:
    raise FileNotFoundError(f"{checkpoint_dir}: no checkpoints found")
  return [(s, os.path.join(checkpoint_dir, f"ckpt-{s}")) for s in steps]


def restore_model(config: PipelineConfig, record: TrainRecord, tft_output,
                  checkpoint_path: str | None = None) -> keras.Model:
  """The trained model, weights from a checkpoint (optimizer state is not needed)."""
  hp = HyperParameters.model_validate(record.hyperparameters)
  model = model_lib.build_model(config, hp, model_lib.vocab_sizes_of(config, tft_output),
                                model_lib.num_classes_of(config, tft_output))
  if checkpoint_path:
    tf.train.Checkpoint(model=model).read(checkpoint_path).expect_partial()
  return model


def score(config: PipelineConfig, record: TrainRecord, tft_output,
          eval_pattern: str, progress=print) -> list[CheckpointScore]:
  """Every kept checkpoint, scored on the same eval rows."""
  model = restore_model(config, record, tft_output)
  weights = tf.train.Checkpoint(model=model)
  evaluate = evaluation.EvalScorer(
      config, model, data.eval_batches(eval_pattern, tft_output, evaluation.eval_rows(config)))
  stages = {h["step"]: (h["stage"], h["unfrozen"]) for h in record.history if "stage" in h}
  scores = []
  for step, path in list_checkpoints(record.checkpoint_dir):
    weights.read(path).expect_partial()
    metrics = evaluate()
    stage, unfrozen = stages.get(step, (None, None))
    scores.append(CheckpointScore(step, path, metrics, stage, unfrozen))
    where = f" (stage {stage}, {unfrozen} base layers training)" if stage else ""
    progress(f"checkpoint {step}{where}: "
             + "  ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
  return scores


def select(scores: list[CheckpointScore], metric: str, mode: str) -> CheckpointScore:
  if metric not in scores[0].metrics:
    raise ValueError(f"checkpoint_selection.metric {metric!r} is not one of "
                     f"{sorted(scores[0].metrics)}")
  # Ties go to the earlier checkpoint: the same quality with less training.
  key = (lambda s: s.metrics[metric]) if mode == "min" else (lambda s: -s.metrics[metric])
  return min(scores, key=lambda s: (key(s), s.step))
