"""The CheckpointEvaluator step's work: score every checkpoint the Trainer kept on
the eval split, record the curve (JSON and PNG), select the best by a named metric,
and export that checkpoint as the servable model that the Evaluator and Pusher
see. When memorizing, also map the served model's error over the whole grid
(grid_report.py).
"""
from __future__ import annotations

import tensorflow_transform as tft
from tfx.utils import path_utils

from components import progress
from components.checkpoint_evaluator import grid_report, selection
from components.config import PipelineConfig
from components.trainer import data, train_record

_say = progress.speaker("checkpoint-evaluator")


def run(training, examples, transform_graph, model, evaluation, cfg: PipelineConfig) -> None:
  """`training`: the Trainer's Model artifact; `examples`: the raw examples (eval
  split); `model`, `evaluation`: the step's outputs."""
  record = train_record.read(train_record.path_in(path_utils.serving_model_path(training.uri)))
  serving_dir = path_utils.serving_model_dir(model.uri)
  result = selection.select_and_export(
      cfg, record, tft.TFTransformOutput(transform_graph.uri),
      data.split_pattern(examples.uri, "eval"), serving_dir, evaluation.uri, _say)
  if cfg.task.mode == "memorize":  # the claim is about every point: check it
    report = grid_report.write(cfg, examples.uri, serving_dir, evaluation.uri, _say)
    model.set_float_custom_property("grid_max_abs_error", report["max_abs_error"])
    model.set_float_custom_property("grid_max_rel_error", report["max_rel_error"])

  model.set_int_custom_property("checkpoint_bytes", result.checkpoint_bytes)
  model.set_int_custom_property("serving_model_bytes", result.serving_model_bytes)
  model.set_int_custom_property("checkpoint_step", result.best.step)
  model.set_string_custom_property("checkpoint_path", result.best.path)
  model.set_string_custom_property("started_from", record.started_from)
  for name, value in result.best.metrics.items():
    model.set_float_custom_property(f"eval_{name}", value)
