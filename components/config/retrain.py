"""The `retrain` section: periodic retraining on fresh spans (`tpctl retrain`)."""
from __future__ import annotations

import re
from typing import Optional

import pydantic

from components.config._strict import Strict

_WARM_START = re.compile(r"^(cold|production|production-minus-([1-9][0-9]*))$")


class RetrainConfig(Strict):
  """Periodic retraining on fresh spans (`tpctl retrain`)."""
  # Where training starts: the production model's own checkpoint (its full
  # training state), K checkpoints before it, or from scratch. Without a production
  # model (or with its checkpoint gone) it starts cold, and says so.
  warm_start: str = "production"
  # A warm start trains this many steps past the production checkpoint (instead
  # of trainer.train_steps), at this learning rate (default: the trainer's).
  warm_start_steps: int = pydantic.Field(500, ge=1)
  warm_start_learning_rate: Optional[float] = pydantic.Field(None, gt=0)
  # Versions kept in the serving directory (the model registry), newest first.
  keep_versions: int = pydantic.Field(5, ge=2)
  # Drift gate: a new span whose categorical (or label) distribution is farther
  # than this from production's training data (L-infinity distance) stops the run.
  # Measured on the monthly taxi spans against a year of production data: clean
  # months reach 0.28 (a 57-row month), a collapse to one payment type is 0.68.
  drift_threshold: float = pydantic.Field(0.35, gt=0, le=1)
  # Columns a span itself fixes (a month column in monthly spans) always "drift".
  drift_exempt: tuple[str, ...] = ()

  @pydantic.field_validator("warm_start")
  @classmethod
  def _known_source(cls, value: str) -> str:
    if not _WARM_START.match(value):
      raise ValueError(f"{value!r} is not production, production-minus-K (K >= 1) or cold")
    return value

  def checkpoints_back(self) -> Optional[int]:
    """None for a cold start, else how many checkpoints before production's."""
    match = _WARM_START.match(self.warm_start)
    if match.group(1) == "cold":
      return None
    return int(match.group(2) or 0)
