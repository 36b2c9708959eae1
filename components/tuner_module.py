"""TFX Tuner entry point (`tuner_fn`): a KerasTuner search whose trials run the
Trainer's own training loop (components/tuning/search.py).

The best values feed the Trainer through the step's best_hyperparameters.
"""
from __future__ import annotations

import hashlib
import os

from tfx.components.trainer.fn_args_utils import FnArgs
from tfx.components.tuner.component import TunerFnResult

from components import progress
from components.config import PipelineConfig
from components.trainer import data
from components.tuning import search


def search_dir(config: PipelineConfig, data_digests: list[str], root: str) -> str:
  """Stable across reruns of the same search on the same data, so that a killed
  search continues; any other settings or data start a new one."""
  key = hashlib.sha256("\n".join([config.to_json(), *data_digests]).encode()).hexdigest()[:16]
  return os.path.join(root, config.pipeline_name, "tuner", key)


def tuner_fn(fn_args: FnArgs) -> TunerFnResult:
  config = PipelineConfig.from_json(fn_args.custom_config["config"])
  train, evaluation = fn_args.train_files[0], fn_args.eval_files[0]
  root = fn_args.custom_config.get("checkpoint_root") or fn_args.working_dir
  directory = search_dir(config, [data.content_digest(train), data.content_digest(evaluation)],
                         root)
  say = progress.speaker(search.STEP)
  say(f"search ({config.tuner.algorithm}): {directory}")
  if fn_args.custom_config.get("katib"):
    from components.tuning import katib_search
    examples = os.path.dirname(os.path.dirname(train))  # <examples>/Split-train/*
    return TunerFnResult(tuner=katib_search.KatibSearch(
        config, fn_args.custom_config["katib"], examples, fn_args.transform_graph_path,
        directory, say), fit_kwargs={})
  tuner = search.LoopTuner(search.oracle(config), config=config,
                           transform_graph=fn_args.transform_graph_path,
                           train_pattern=train, eval_pattern=evaluation,
                           directory=directory, say=say)
  return TunerFnResult(tuner=tuner, fit_kwargs={"verbose": 0})
