"""The `task` section: what is predicted (the label), and how the model is judged."""
from __future__ import annotations

import enum
from typing import Literal

from components.config._strict import Strict


class TaskType(str, enum.Enum):
  BINARY = "binary"
  MULTICLASS = "multiclass"
  REGRESSION = "regression"


class TaskConfig(Strict):
  type: TaskType = TaskType.BINARY
  label: str = "big_tipper"
  # Binary tasks: the label value that counts as positive.
  positive_class: str = "1"
  # generalize: learn from a sample to predict unseen rows (splits, held-out eval).
  # memorize ("useful overfitting"): a simulator's complete grid is the whole
  # input space, so there is no unseen row: every point trains, the model is judged
  # on every point, by its worst error, and nothing may hold it back from fitting.
  mode: Literal["generalize", "memorize"] = "generalize"
