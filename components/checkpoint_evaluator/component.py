"""The CheckpointEvaluator TFX component (no `from __future__ import annotations`:
TFX reads the real annotation objects).

It scores every checkpoint the Trainer kept on the eval split, records the curve
(JSON and PNG), selects the best by a named metric, and exports that checkpoint
as the servable model that the Evaluator and Pusher see. When memorising, it also
maps the served model's error over the whole grid (grid_report.py).
"""

import json
import os

import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components.checkpoint_evaluator import grid_report, selection
from components.config import PipelineConfig
from components.trainer import data, loop
from components.trainer.executor import RECORD_FILE

InputArtifact = tfx.dsl.components.InputArtifact
OutputArtifact = tfx.dsl.components.OutputArtifact
Parameter = tfx.dsl.components.Parameter


@tfx.dsl.components.component
def CheckpointEvaluator(
    training: InputArtifact[standard_artifacts.Model],
    examples: InputArtifact[standard_artifacts.Examples],
    transform_graph: InputArtifact[standard_artifacts.TransformGraph],
    model: OutputArtifact[standard_artifacts.Model],
    evaluation: OutputArtifact[standard_artifacts.ModelEvaluation],
    config: Parameter[str],
    code: Parameter[str],
) -> None:
  """training: the Trainer's output; examples: the raw examples (eval split);
  code: a digest of this step's code, which only keys TFX's cache."""
  del code
  cfg = PipelineConfig.from_json(config)
  with tf.io.gfile.GFile(os.path.join(path_utils.serving_model_path(training.uri),
                                      RECORD_FILE)) as f:
    record = loop.TrainRecord(**json.load(f))
  say = lambda msg: print(f"[checkpoint-evaluator] {msg}", flush=True)  # noqa: E731
  serving_dir = path_utils.serving_model_dir(model.uri)
  result = selection.select_and_export(
      cfg, record, tft.TFTransformOutput(transform_graph.uri),
      data.split_pattern(examples.uri, "eval"), serving_dir, evaluation.uri, say)
  if cfg.task.mode == "memorize":  # the claim is about every point: check it
    report = grid_report.write(cfg, examples.uri, serving_dir, evaluation.uri, say)
    model.set_float_custom_property("grid_max_abs_error", report["max_abs_error"])
    model.set_float_custom_property("grid_max_rel_error", report["max_rel_error"])

  model.set_int_custom_property("checkpoint_bytes", result.checkpoint_bytes)
  model.set_int_custom_property("serving_model_bytes", result.serving_model_bytes)
  model.set_int_custom_property("checkpoint_step", result.best.step)
  model.set_string_custom_property("checkpoint_path", result.best.path)
  model.set_string_custom_property("started_from", record.started_from)
  for name, value in result.best.metrics.items():
    model.set_float_custom_property(f"eval_{name}", value)
