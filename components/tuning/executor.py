"""The Tuner step's work: TFX's Tuner executor, which calls `tuner_fn` below, plus
the trials table and plot written into its tuner_results output, beside TFX's
tuner_results.json. (Not into best_hyperparameters: the Trainer reads that
directory's one and only file.)

`tuner_fn` sets up a KerasTuner search whose trials run the Trainer's own
training loop (search.py), or a Katib Experiment (katib_search.py). The best
values feed the Trainer through the step's best_hyperparameters.
"""
from __future__ import annotations

import hashlib
import os

import tensorflow as tf
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx.components.tuner import executor as tfx_tuner
from tfx.components.tuner.component import TunerFnResult
from tfx.types import artifact_utils, standard_component_specs

from components import progress
from components.config import PipelineConfig
from components.trainer import data
from components.tuning import search

TRIALS_FILES = ("trials.csv", "trials.png")


class Executor(tfx_tuner.Executor):

  def Do(self, input_dict, output_dict, exec_properties) -> None:
    if tfx_tuner.get_tune_args(exec_properties):
      raise ValueError("TuneArgs is not supported by this Tuner's Executor.")
    tuner = tfx_tuner.search(input_dict, exec_properties, self._get_tmp_dir())
    tfx_tuner.write_best_hyperparameters(tuner, output_dict)
    destination = artifact_utils.get_single_uri(
        output_dict[standard_component_specs.TUNER_RESULTS_KEY])
    for name in TRIALS_FILES:
      source = os.path.join(tuner.project_dir, name)
      if tf.io.gfile.exists(source):
        tf.io.gfile.copy(source, os.path.join(destination, name), overwrite=True)


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
