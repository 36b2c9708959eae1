"""The `retrain` section: periodic retraining on fresh spans (`tpctl retrain`)."""
from __future__ import annotations

import re
from typing import Optional

import pydantic

from components.config._strict import Strict

_WARM_START = re.compile(r"^(cold|production|production-minus-([1-9][0-9]*))$")


class RetrainConfig(Strict):
  """Periodic retraining on fresh spans (`tpctl retrain`)."""
  warm_start: str = pydantic.Field(
      "production",
      description="Where training starts: production (the production model's own "
                  "checkpoint, its full training state), production-minus-K (K checkpoints "
                  "before it) or cold (from scratch). Without a production model, or with "
                  "its checkpoint gone, it starts cold and says so.")
  warm_start_steps: int = pydantic.Field(
      500, ge=1, description="A warm start trains this many steps past the production "
                             "checkpoint, instead of trainer.train_steps.")
  warm_start_learning_rate: Optional[float] = pydantic.Field(
      None, gt=0, description="A warm start's learning rate; null: the trainer's.")
  keep_versions: int = pydantic.Field(
      5, ge=2, description="Versions kept in the serving directory (the model registry), "
                           "newest first.")
  drift_threshold: float = pydantic.Field(
      0.35, gt=0, le=1,
      description="Drift gate: a new span whose categorical (or label) distribution is "
                  "farther than this from production's training data (L-infinity distance) "
                  "stops the run. On the monthly taxi spans, clean months reach 0.28 and a "
                  "collapse to one payment type is 0.68.")
  drift_exempt: tuple[str, ...] = pydantic.Field(
      (), description="Columns the drift gate skips: ones a span itself fixes (a month "
                      "column in monthly spans) always \"drift\".")

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
