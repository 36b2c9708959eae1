"""TFX Trainer entry point (`run_fn`).

The Trainer's Model artifact holds a training record, not a servable model: the
checkpoint evaluator picks the best checkpoint and exports that one.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs

from components import hyperparameters
from components.trainer import checkpoints, cluster, data, loop, warm_start as warm_start_lib
from components.config import PipelineConfig

RECORD_FILE = "training_record.json"


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
      raise ValueError(f"resume_from: {spec} is not a checkpoint (no {spec}.index)")
    return spec
  runs = [os.path.join(pipeline_root, d.rstrip("/"))
          for d in (tf.io.gfile.listdir(pipeline_root) if tf.io.gfile.isdir(pipeline_root) else [])]
  runs = [r for r in runs if r != exclude and checkpoints.list_steps(r)]
  if not runs:
    raise ValueError(f"resume_from {spec!r}: no earlier training run under {pipeline_root}")
  latest_run = max(runs, key=lambda r: max(
      tf.io.gfile.stat(f).mtime_nsec for f in tf.io.gfile.glob(os.path.join(r, "*.index"))))
  steps = checkpoints.list_steps(latest_run)
  if spec == "latest":
    return os.path.join(latest_run, f"ckpt-{steps[-1]}")
  if not spec.isdigit() or int(spec) not in steps:
    raise ValueError(f"resume_from {spec!r}: the latest run ({latest_run}) has "
                     f"checkpoints at steps {steps}")
  return os.path.join(latest_run, f"ckpt-{spec}")


def with_step_budget(config: PipelineConfig, train_steps) -> PipelineConfig:
  """The Trainer's train_args.num_steps (a Kubeflow run parameter) is the budget."""
  if not train_steps or train_steps == config.trainer.train_steps:
    return config
  trainer = config.trainer.model_validate(
      {**config.trainer.model_dump(), "train_steps": int(train_steps)})
  return config.model_copy(update={"trainer": trainer})


def prepare(config: PipelineConfig, hp, train_pattern: str, eval_pattern: str,
            checkpoint_root: str, production_checkpoint: str | None = None
            ) -> tuple[str, str | None]:
  """(the stable checkpoint directory for these inputs, the checkpoint to
  fine-tune from when that directory is empty). production_checkpoint: where a
  retraining on fresh spans starts (see warm_start.py)."""
  digests = [data.content_digest(train_pattern), data.content_digest(eval_pattern)]
  pipeline_root = os.path.join(checkpoint_root, config.pipeline_name)
  ckpt_dir = checkpoint_dir_for(config, hp.model_dump_json(), digests, checkpoint_root,
                                production_checkpoint)
  warm_start = production_checkpoint
  if config.trainer.resume_from:
    # Another run than this one: a rerun of this fine-tuning resumes its own
    # checkpoints and resolves `latest` to the same source as before.
    warm_start = resolve_resume_from(config.trainer.resume_from, pipeline_root, ckpt_dir)
  return ckpt_dir, warm_start


def train(config: PipelineConfig, hp, tft_output, train_pattern: str, eval_pattern: str,
          checkpoint_root: str, log_dir: str, say, transform_graph: str = "",
          tfjob: dict | None = None, on_start=lambda _: None,
          production_model: str | None = None) -> loop.TrainRecord:
  """Trains (or resumes) in the stable checkpoint directory for these inputs;
  with several workers, as processes or a TFJob that the step launches.
  production_model: the ProductionModel artifact, for a retraining's warm start."""
  examples = os.path.dirname(os.path.dirname(train_pattern))  # <examples>/Split-train/*
  start = warm_start_lib.choose(config, production_model, examples, say)
  args = (hp, tft_output, train_pattern, eval_pattern, checkpoint_root, log_dir, say,
          transform_graph, tfjob, on_start)
  try:
    record = _train(start.config, *args, start.checkpoint, examples)
  except loop.IncompatibleCheckpoint as e:
    if start.checkpoint is None:  # an explicit trainer.resume_from: the user must know
      raise
    # The model changed since production was trained: retraining goes on, cold.
    say(f"WARNING: cannot warm-start from {start.description}: {e}; starting cold")
    start = warm_start_lib.Start(
        config, None, f"cold ({start.description}: the checkpoint does not fit this model)")
    record = _train(config, *args, None, examples)
  return dataclasses.replace(record, started_from=start.description)


def _train(config, hp, tft_output, train_pattern, eval_pattern, checkpoint_root, log_dir, say,
           transform_graph, tfjob, on_start, production_checkpoint, examples):
  ckpt_dir, warm_start = prepare(config, hp, train_pattern, eval_pattern, checkpoint_root,
                                 production_checkpoint)
  say(f"checkpoints: {ckpt_dir}")
  if tfjob:
    return cluster.train_on_tfjob(config, tfjob, hp.model_dump_json(), examples,
                                  transform_graph, ckpt_dir, say, warm_start)
  if cluster.is_distributed(config):
    return cluster.train_locally(config, hp.model_dump_json(), examples, transform_graph,
                                 ckpt_dir, log_dir, say, warm_start, on_start)
  return loop.train(config, hp, tft_output, train_pattern, eval_pattern, ckpt_dir,
                    log_dir=log_dir, progress=say, warm_start=warm_start)


def run_fn(fn_args: FnArgs) -> None:
  config = with_step_budget(PipelineConfig.from_json(fn_args.custom_config["config"]),
                            fn_args.train_steps)
  say = lambda msg: print(f"[trainer] {msg}", flush=True)  # noqa: E731
  hp = hyperparameters.from_trainer_args(fn_args.hyperparameters,
                                         config.trainer.hyperparameters)
  record = train(config, hp, tft.TFTransformOutput(fn_args.transform_output),
                 fn_args.train_files[0], fn_args.eval_files[0],
                 fn_args.custom_config["checkpoint_root"], fn_args.model_run_dir, say,
                 transform_graph=fn_args.transform_output,
                 tfjob=fn_args.custom_config.get("tfjob"),
                 # The ProductionModel artifact: Format-Serving's parent.
                 production_model=(os.path.dirname(fn_args.base_model)
                                   if fn_args.base_model else None))
  tf.io.gfile.makedirs(fn_args.serving_model_dir)
  with tf.io.gfile.GFile(os.path.join(fn_args.serving_model_dir, RECORD_FILE), "w") as f:
    json.dump(dataclasses.asdict(record), f, indent=2)
