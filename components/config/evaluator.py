"""The `checkpoint_selection` and `evaluator` sections: which checkpoint is
exported, and the bounds a model must meet to be blessed and pushed."""
from __future__ import annotations

from typing import Literal, Optional

import pydantic

from components.config._strict import Strict


class CheckpointSelectionConfig(Strict):
  # Eval metric the checkpoint evaluator selects on, and its direction.
  metric: str = "loss"
  mode: Literal["min", "max"] = "min"


class EvaluatorConfig(Strict):
  """The blessing threshold (a TFMA value threshold on the eval split).

  The metric is AUC for binary tasks, accuracy for multiclass and mean squared
  error for regression. Binary tasks default to AUC >= 0.6 (0.5 is chance); the
  other tasks have no task-independent sensible bound, so one must be given.
  """
  lower_bound: Optional[float] = None
  upper_bound: Optional[float] = None
  # Against production: once a model is in the registry, a candidate is pushed
  # only if it beats that model, on the same eval data, by more than this much of
  # the blessing metric (TFMA change threshold; the first push needs the bound only).
  min_improvement: float = pydantic.Field(0.0, ge=0)
