"""The `checkpoint_selection` and `evaluator` sections: which checkpoint is
exported, and the bounds a model must meet to be blessed and pushed."""
from __future__ import annotations

from typing import Literal, Optional

import pydantic

from components.config._strict import Strict


class CheckpointSelectionConfig(Strict):
  """Which of a run's checkpoints the checkpoint evaluator picks for export."""
  metric: str = pydantic.Field(
      "loss", description="The eval metric checkpoints are compared on (e.g. loss, auc, "
                          "accuracy; max_abs_error or max_rel_error for a memorized grid).")
  mode: Literal["min", "max"] = pydantic.Field(
      "min", description="Whether the metric is better smaller (min) or larger (max).")


class EvaluatorConfig(Strict):
  """The blessing threshold (a TFMA value threshold on the eval split).

  The metric is AUC for binary tasks, accuracy for multiclass and mean squared
  error for regression. Binary tasks default to AUC >= 0.6 (0.5 is chance); the
  other tasks have no task-independent sensible bound, so one must be given.
  """
  lower_bound: Optional[float] = pydantic.Field(
      None, description="The blessing metric must be at least this (AUC, accuracy). "
                        "Binary tasks default to AUC >= 0.6; other tasks need a bound.")
  upper_bound: Optional[float] = pydantic.Field(
      None, description="The blessing metric must be at most this (mean squared error; in "
                        "memorize mode, the worst absolute error over the grid).")
  min_improvement: float = pydantic.Field(
      0.0, ge=0,
      description="Once a model is in the registry, a candidate is pushed only if it beats "
                  "that model, on the same eval data, by more than this much of the "
                  "blessing metric (the first push needs the bound only).")
