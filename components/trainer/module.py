"""TFX Trainer entry point (`run_fn`).

The Trainer's Model artifact holds a training record, not a servable model: the
checkpoint evaluator picks the best checkpoint and exports that one.
"""
from __future__ import annotations

import hashlib
import json
import os

import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs

from components import hyperparameters
from components.trainer import loop
from pipelines.config import PipelineConfig

RECORD_FILE = "training_record.json"


def _tree_digest(root: str) -> str:
  """Content hash of a directory (the transform output), independent of its path."""
  h = hashlib.sha256()
  for dirpath, dirnames, filenames in sorted(tf.io.gfile.walk(root)):
    dirnames.sort()
    for name in sorted(filenames):
      path = os.path.join(dirpath, name)
      h.update(os.path.relpath(path, root).encode())
      with tf.io.gfile.GFile(path, "rb") as f:
        h.update(f.read())
  return h.hexdigest()


def checkpoint_dir_for(config: PipelineConfig, hp_json: str, transform_output: str,
                       checkpoint_root: str) -> str:
  """A stable directory keyed by pipeline, training config and data, not by the
  per-execution artifact URI (which changes on every retry and rerun)."""
  key = hashlib.sha256("\n".join([
      config.training_fingerprint(), hp_json,
      _tree_digest(os.path.join(transform_output, "transformed_metadata")),
      _tree_digest(os.path.join(transform_output, "transform_fn")),
  ]).encode()).hexdigest()[:16]
  return os.path.join(checkpoint_root, config.pipeline_name, key)


def run_fn(fn_args: FnArgs) -> None:
  config = PipelineConfig.from_json(fn_args.custom_config["config"])
  checkpoint_root = fn_args.custom_config["checkpoint_root"]
  hp = hyperparameters.from_trainer_args(fn_args.hyperparameters,
                                         config.trainer.hyperparameters)
  hp_json = hp.model_dump_json()
  tft_output = tft.TFTransformOutput(fn_args.transform_output)
  ckpt_dir = checkpoint_dir_for(config, hp_json, fn_args.transform_output, checkpoint_root)
  print(f"[trainer] checkpoints: {ckpt_dir}", flush=True)
  record = loop.train(config, hp, tft_output, fn_args.train_files[0], ckpt_dir,
                      log_dir=fn_args.model_run_dir,
                      progress=lambda msg: print(f"[trainer] {msg}", flush=True))
  tf.io.gfile.makedirs(fn_args.serving_model_dir)
  with tf.io.gfile.GFile(os.path.join(fn_args.serving_model_dir, RECORD_FILE), "w") as f:
    json.dump(record.__dict__, f, indent=2)
