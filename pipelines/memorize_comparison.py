"""`tpctl demo-memorize`: useful overfitting against the usual way, on one grid.

Runs the pipeline twice on the same simulator grid: as configured (task.mode
memorize: every point trains and evaluates, nothing regularizes, the budget runs
out), and the usual way (an 80/20 split, L2, early stopping on the held-out loss).
Both exported models are then scored on every point of the grid, which is the
question that matters when the grid is the whole input space.
"""
from __future__ import annotations

import json
import os
from typing import Callable, Optional

from components.config import ConfigError, PipelineConfig, load_config
from pipelines.run_summary import RunSummary

DEFAULT_CONFIG = os.path.join(os.path.dirname(__file__), "configs", "memorize_projectile.yaml")
COMPARISON_FILE = "comparison.json"

# What "the usual way" changes, and nothing else: the same model, step budget and
# polish. L2 and patience are common defaults, not tuned to lose.
USUAL_WAY = {
    "task.mode": "generalize",
    "data.train_buckets": 8,
    "data.eval_buckets": 2,
    "trainer.hyperparameters.l2": 1e-4,
    "trainer.early_stopping.enabled": True,
    "trainer.early_stopping.patience": 2,
    "checkpoint_selection.metric": "loss",
}


def configs(config_path: Optional[str], run_dir: Optional[str]
            ) -> tuple[PipelineConfig, PipelineConfig]:
  """(memorizing, usual-way) configs, in <run_dir>/memorize and <run_dir>/usual."""
  path = config_path or DEFAULT_CONFIG
  base = load_config(path, {"run_dir": os.path.abspath(run_dir)} if run_dir else None)
  if base.task.mode != "memorize":
    raise ConfigError(f"{path}: demo-memorize compares a task.mode memorize config "
                      f"with the usual way; this one is {base.task.mode}")
  root = str(base.run_path)
  memorize = load_config(path, {"run_dir": os.path.join(root, "memorize")})
  usual = load_config(path, {**USUAL_WAY, "run_dir": os.path.join(root, "usual"),
                             "pipeline_name": f"{base.pipeline_name}-usual"})
  return memorize, usual


def score_on_grid(served_model_dir: str, grid_examples: str, config: PipelineConfig,
                  png_path: Optional[str] = None) -> dict:
  """Worst error of the usual way's exported model over every point of the grid
  (the memorizing run's eval split holds the whole grid)."""
  from components.grid_errors import plot, serving, worst_case
  from components.trainer.data import split_pattern
  inputs, labels, serialized = serving.read_points(
      split_pattern(grid_examples, "eval"), list(config.features.numeric), config.task.label)
  predictions = serving.predict(serving.load(served_model_dir), serialized)
  if png_path:
    with open(png_path, "wb") as f:
      f.write(plot.plot_errors(inputs, labels, predictions,
                               tolerance=config.evaluator.upper_bound,
                               title=f"{config.task.label}: the usual way, on the whole grid"))
  return worst_case.grid_errors(inputs, labels, predictions).to_dict()


def table(rows: dict, points: int, tolerance: float) -> list[str]:
  lines = [f"== memorize vs the usual way, on all {points:,} grid points "
           f"(tolerance {tolerance:g}) ==",
           f"{'':34} {'worst |error|':>14} {'% of range':>11} {'mean |error|':>13}  pushed"]
  for name, r in rows.items():
    lines.append(f"{name:34} {r['max_abs_error']:>14.4g} {100 * r['max_rel_error']:>10.3f}% "
                 f"{r['mean_abs_error']:>13.4g}  {r['pushed'] or 'no'}")
  mem, usual = rows.values()
  lines.append(f"the usual way's worst error is {usual['max_abs_error'] / mem['max_abs_error']:.1f}x "
               f"the memorized model's")
  return lines


def _summarised(run: Callable[[PipelineConfig], RunSummary], config: PipelineConfig,
                say: Callable[[str], None]) -> RunSummary:
  from components.blessing import policy  # TFX: after the pre-flight
  summary = run(config)
  for line in ["", "== summary =="] + summary.lines(policy.metric_key(config),
                                                   policy.threshold(config)):
    say(line)
  return summary


def compare(memorize: PipelineConfig, usual: PipelineConfig,
            run: Callable[[PipelineConfig], RunSummary], say: Callable[[str], None] = print
            ) -> dict:
  say(f"== 1/2: memorize ({memorize.run_path}) ==")
  mem_summary = _summarised(run, memorize, say)
  say(f"== 2/2: the usual way: 80/20 split, L2, early stopping ({usual.run_path}) ==")
  usual_summary = _summarised(run, usual, say)
  grid = mem_summary.examples_uri
  rows = {
      # The checkpoint evaluator already scored this exported model on the whole grid.
      "memorize (every point, no reg.)": {
          **mem_summary.grid_errors,
          "pushed": mem_summary.pushed_version and f"version {mem_summary.pushed_version}",
          "selected_step": mem_summary.selected_step},
      "usual way (80/20, L2, early stop)": {
          **score_on_grid(usual_summary.served_model_dir, grid, memorize,
                          png_path=str(usual.run_path / "usual_grid_errors.png")),
          "pushed": usual_summary.pushed_version and f"version {usual_summary.pushed_version}",
          "selected_step": usual_summary.selected_step,
          "stopped_early": usual_summary.stopped_early},
  }
  points = next(iter(rows.values()))["points"]
  result = {"points": points, "tolerance": memorize.evaluator.upper_bound, "rows": rows,
            "memorize_plot": mem_summary.grid_png,
            "usual_plot": str(usual.run_path / "usual_grid_errors.png")}
  root = memorize.run_path.parent
  with open(root / COMPARISON_FILE, "w") as f:
    json.dump(result, f, indent=2)
  say("")
  for line in table(rows, points, memorize.evaluator.upper_bound):
    say(line)
  say(f"error maps: {result['memorize_plot']} and {result['usual_plot']}")
  say(f"written: {root / COMPARISON_FILE}")
  return result


def main(config_path: Optional[str], run_dir: Optional[str]) -> dict:
  from pipelines import local_runner
  memorize, usual = configs(config_path, run_dir)
  return compare(memorize, usual, run=lambda c: local_runner.run(c))
