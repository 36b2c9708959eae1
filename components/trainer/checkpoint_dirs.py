"""Where a training run's checkpoints live.

A run's directory is keyed by what it trains (pipeline, training config,
hyperparameters, the data, the checkpoint a retraining starts from), not by the
per-execution artifact URI, which changes on every retry and rerun: the same
inputs find the same directory, and a rerun resumes there. `trainer.resume_from`
names another run's checkpoint, found here too.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
from typing import Optional

import tensorflow as tf

from components.config import ConfigError, PipelineConfig
from components.trainer import checkpoints, data
from components.trainer.inputs import TrainInputs


def checkpoint_dir_for(config: PipelineConfig, hp_json: str, data_digests: list[str],
                       checkpoint_root: str, warm_start: str | None = None) -> str:
  """A stable directory keyed by pipeline, training config (resume_from included,
  as written), hyperparameters, the data itself and the production checkpoint a
  retraining starts from, not by the per-execution artifact URI (which changes on
  every retry and rerun). Same inputs: same directory, so a rerun resumes."""
  parts = [config.training_fingerprint(), hp_json, *data_digests]
  if warm_start:
    parts.append(warm_start)
  key = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
  return os.path.join(checkpoint_root, config.pipeline_name, key)


def resolve_resume_from(spec: str, pipeline_root: str, exclude: str) -> str:
  """`latest`, a step number or a checkpoint path -> a checkpoint path.

  Steps and `latest` refer to the most recently updated earlier training run of
  this pipeline (under <checkpoint_root>/<pipeline>/).
  """
  if "/" in spec:
    if not tf.io.gfile.exists(spec + ".index"):
      raise ConfigError(f"resume_from: {spec} is not a checkpoint (no {spec}.index)")
    return spec
  runs = [os.path.join(pipeline_root, d.rstrip("/"))
          for d in (tf.io.gfile.listdir(pipeline_root) if tf.io.gfile.isdir(pipeline_root) else [])]
  runs = [r for r in runs if r != exclude and checkpoints.list_steps(r)]
  if not runs:
    raise ConfigError(f"resume_from {spec!r}: no earlier training run under {pipeline_root}")
  latest_run = max(runs, key=lambda r: max(
      tf.io.gfile.stat(f).mtime_nsec for f in tf.io.gfile.glob(os.path.join(r, "*.index"))))
  steps = checkpoints.list_steps(latest_run)
  if spec == "latest":
    return os.path.join(latest_run, f"ckpt-{steps[-1]}")
  if not spec.isdigit() or int(spec) not in steps:
    raise ConfigError(f"resume_from {spec!r}: the latest run ({latest_run}) has "
                      f"checkpoints at steps {steps}")
  return os.path.join(latest_run, f"ckpt-{spec}")


def choose(inputs: TrainInputs, checkpoint_root: str,
           production_checkpoint: Optional[str] = None) -> TrainInputs:
  """`inputs` in the stable checkpoint directory for them, with the checkpoint to
  fine-tune from when that directory is empty. production_checkpoint: where a
  retraining on fresh spans starts (see warm_start.py)."""
  config = inputs.config
  digests = [data.content_digest(inputs.train_pattern), data.content_digest(inputs.eval_pattern)]
  ckpt_dir = checkpoint_dir_for(config, inputs.hp.model_dump_json(), digests, checkpoint_root,
                                production_checkpoint)
  warm_start = production_checkpoint
  if config.trainer.resume_from:
    # Another run than this one: a rerun of this fine-tuning resumes its own
    # checkpoints and resolves `latest` to the same source as before.
    warm_start = resolve_resume_from(config.trainer.resume_from,
                                     os.path.join(checkpoint_root, config.pipeline_name),
                                     ckpt_dir)
  return dataclasses.replace(inputs, checkpoint_dir=ckpt_dir, warm_start=warm_start)
