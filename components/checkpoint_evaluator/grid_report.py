"""When memorizing: the selected model's error at every point of the grid, from
the exported SavedModel itself, as JSON and as a plot with the worst point marked."""
from __future__ import annotations

import json
import os
from typing import Callable

import tensorflow as tf

from components.config import PipelineConfig
from components.grid_errors import plot, serving, worst_case
from components.simulator_ingest.executor import read_grid_file
from components.trainer import data

REPORT_FILE = "grid_errors.json"
PLOT_FILE = "grid_errors.png"


def write(cfg: PipelineConfig, examples_uri: str, serving_dir: str, report_dir: str,
          say: Callable[[str], None]) -> dict:
  grid = read_grid_file(examples_uri)
  inputs, labels, serialized = serving.read_points(
      data.split_pattern(examples_uri, "eval"), list(cfg.features.numeric), cfg.task.label)
  predictions = serving.predict(serving.load(serving_dir), serialized)
  result = worst_case.grid_errors(inputs, labels, predictions)
  # A Monte Carlo run's eval split is an independent sample: its worst point is an
  # estimate of the worst error, not a bound on it.
  estimate = bool(grid.get("sample"))
  over = (f"{result.points:,} independent random check points (an estimate, not a bound)"
          if estimate else f"every one of the {result.points:,} grid points")
  tolerance = cfg.evaluator.upper_bound
  report = {**result.to_dict(), "over": over, "estimate": estimate, "tolerance": tolerance,
            "within_tolerance": (None if tolerance is None
                                 else bool(result.max_abs_error <= tolerance)),
            "solver_ms_per_point": grid.get("ms_per_point")}
  tf.io.gfile.makedirs(report_dir)
  with tf.io.gfile.GFile(os.path.join(report_dir, REPORT_FILE), "w") as f:
    json.dump(report, f, indent=2)
  with tf.io.gfile.GFile(os.path.join(report_dir, PLOT_FILE), "wb") as f:
    f.write(plot.plot_errors(inputs, labels, predictions, tolerance=tolerance,
                             title=f"{cfg.task.label}: error of the served model"))
  at = ", ".join(f"{k}={v:g}" for k, v in result.worst_point.items())
  say(f"worst error over {over}: {result.max_abs_error:.4g} "
      f"({100 * result.max_rel_error:.3f}% of the output range) at {at}")
  return report
