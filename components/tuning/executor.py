"""The Tuner step's executor: TFX's own (which calls tuner_fn), plus the trials
table and plot written into its tuner_results output, beside TFX's
tuner_results.json. (Not into best_hyperparameters: the Trainer reads that
directory's one and only file.)"""
from __future__ import annotations

import os

import tensorflow as tf
from tfx.components.tuner import executor as tfx_tuner
from tfx.types import artifact_utils, standard_component_specs

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
