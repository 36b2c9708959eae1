"""The CheckpointEvaluator TFX component (no `from __future__ import annotations`:
TFX reads the real annotation objects).

It scores every checkpoint the Trainer kept on the eval split, records the curve
(JSON and PNG), selects the best by a named metric, and exports that checkpoint
as the servable model that the Evaluator and Pusher see.
"""

import json
import os

import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components.checkpoint_evaluator import plot, scoring
from components.trainer import checkpoints, data, export, loop
from components.trainer.module import RECORD_FILE
from components.config import PipelineConfig

REPORT_FILE = "checkpoints.json"
PLOT_FILE = "curves.png"

InputArtifact = tfx.dsl.components.InputArtifact
OutputArtifact = tfx.dsl.components.OutputArtifact
Parameter = tfx.dsl.components.Parameter


def _tree_bytes(root: str) -> int:
  return sum(tf.io.gfile.stat(os.path.join(d, f)).length
             for d, _, files in tf.io.gfile.walk(root) for f in files)


@tfx.dsl.components.component
def CheckpointEvaluator(
    training: InputArtifact[standard_artifacts.Model],
    examples: InputArtifact[standard_artifacts.Examples],
    transform_graph: InputArtifact[standard_artifacts.TransformGraph],
    model: OutputArtifact[standard_artifacts.Model],
    evaluation: OutputArtifact[standard_artifacts.ModelEvaluation],
    config: Parameter[str],
) -> None:
  """training: the Trainer's output; examples: the raw examples (eval split)."""
  cfg = PipelineConfig.from_json(config)
  with tf.io.gfile.GFile(os.path.join(path_utils.serving_model_path(training.uri),
                                      RECORD_FILE)) as f:
    record = loop.TrainRecord(**json.load(f))
  tft_output = tft.TFTransformOutput(transform_graph.uri)
  say = lambda msg: print(f"[checkpoint-evaluator] {msg}", flush=True)  # noqa: E731
  scores = scoring.score(cfg, record, tft_output, data.split_pattern(examples.uri, "eval"),
                         progress=say)
  sel = cfg.checkpoint_selection
  best = scoring.select(scores, sel.metric, sel.mode)
  say(f"selected checkpoint {best.step} ({sel.metric} {best.metrics[sel.metric]:.4f}, "
      f"{sel.mode}) out of {len(scores)}")

  best_model = scoring.restore_model(cfg, record, tft_output, best.path)
  serving_dir = path_utils.serving_model_dir(model.uri)
  export.export_serving_model(cfg, best_model, tft_output, serving_dir)
  sizes = {"checkpoint_bytes": checkpoints.size_bytes(best.path),
           "serving_model_bytes": _tree_bytes(serving_dir)}

  tf.io.gfile.makedirs(evaluation.uri)
  report = {"metric": sel.metric, "mode": sel.mode, "selected_step": best.step,
            "selected_checkpoint": best.path, "stopped_early": record.stopped_early,
            "train_loss": record.train_loss, **sizes,
            "checkpoints": [{"step": s.step, "path": s.path, **s.metrics} for s in scores]}
  with tf.io.gfile.GFile(os.path.join(evaluation.uri, REPORT_FILE), "w") as f:
    json.dump(report, f, indent=2)
  with tf.io.gfile.GFile(os.path.join(evaluation.uri, PLOT_FILE), "wb") as f:
    f.write(plot.plot_curves(record.train_loss, scores, best, sel.metric))

  for name, value in sizes.items():
    model.set_int_custom_property(name, value)
  model.set_int_custom_property("checkpoint_step", best.step)
  model.set_string_custom_property("checkpoint_path", best.path)
  for name, value in best.metrics.items():
    model.set_float_custom_property(f"eval_{name}", value)
