"""The `task` section: what is predicted (the label), and how the model is judged."""
from __future__ import annotations

import enum
from typing import Literal

import pydantic

from components.config._strict import Strict


class TaskType(str, enum.Enum):
  BINARY = "binary"
  MULTICLASS = "multiclass"
  REGRESSION = "regression"


class TaskConfig(Strict):
  """What the model predicts: the label column, and the kind of prediction."""
  type: TaskType = pydantic.Field(
      TaskType.BINARY,
      description="binary (one class against the rest, judged by AUC), multiclass "
                  "(judged by accuracy) or regression (a number, judged by mean squared "
                  "error).")
  label: str = pydantic.Field(
      "big_tipper", description="The column the model predicts; it may not also be a feature.")
  positive_class: str = pydantic.Field(
      "1", description="Binary tasks: the label value (as text) that counts as positive; "
                       "every other value is negative.")
  mode: Literal["generalize", "memorize"] = pydantic.Field(
      "generalize",
      description="generalize: learn from a sample to predict unseen rows (splits, held-out "
                  "eval). memorize (\"useful overfitting\"): a simulator's complete grid is "
                  "the whole input space, so every point trains, the model is judged on "
                  "every point by its worst error, and nothing may hold it back from fitting.")
