"""Score every kept checkpoint, select the best, and export that one (not the last)
as the servable model; write the report and curves beside it."""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Callable

import tensorflow as tf

from components.checkpoint_evaluator import plot, scoring
from components.config import PipelineConfig
from components.trainer import checkpoints, export
from components.trainer.train_record import TrainRecord

REPORT_FILE = "checkpoints.json"
PLOT_FILE = "curves.png"


@dataclasses.dataclass
class Selection:
  best: scoring.CheckpointScore
  scores: list
  checkpoint_bytes: int
  serving_model_bytes: int


def _tree_bytes(root: str) -> int:
  return sum(tf.io.gfile.stat(os.path.join(d, f)).length
             for d, _, files in tf.io.gfile.walk(root) for f in files)


def select_and_export(cfg: PipelineConfig, record: TrainRecord, tft_output,
                      eval_pattern: str, serving_dir: str, report_dir: str,
                      say: Callable[[str], None]) -> Selection:
  scores = scoring.score(cfg, record, tft_output, eval_pattern, progress=say)
  sel = cfg.checkpoint_selection
  best = scoring.select(scores, sel.metric, sel.mode)
  say(f"selected checkpoint {best.step} ({sel.metric} {best.metrics[sel.metric]:.4g}, "
      f"{sel.mode}) out of {len(scores)}"
      + (f": stage {best.stage}, {best.unfrozen} base layers trained" if best.stage else ""))

  best_model = scoring.restore_model(cfg, record, tft_output, best.path)
  export.export_serving_model(cfg, best_model, tft_output, serving_dir)
  result = Selection(best, scores, checkpoints.size_bytes(best.path), _tree_bytes(serving_dir))

  tf.io.gfile.makedirs(report_dir)
  report = {"metric": sel.metric, "mode": sel.mode, "selected_step": best.step,
            "selected_checkpoint": best.path, "stopped_early": record.stopped_early,
            "train_loss": record.train_loss, "checkpoint_bytes": result.checkpoint_bytes,
            "serving_model_bytes": result.serving_model_bytes,
            "selected_stage": best.stage,
            "checkpoints": [{"step": s.step, "path": s.path, **s.metrics,
                             **({"stage": s.stage, "unfrozen": s.unfrozen} if s.stage else {})}
                            for s in scores]}
  with tf.io.gfile.GFile(os.path.join(report_dir, REPORT_FILE), "w") as f:
    json.dump(report, f, indent=2)
  with tf.io.gfile.GFile(os.path.join(report_dir, PLOT_FILE), "wb") as f:
    f.write(plot.plot_curves(record.train_loss, scores, best, sel.metric))
  return result
