"""The tuner's search space, and how its values map onto model hyperparameters."""
from __future__ import annotations

from typing import Any, Mapping, Optional

from components.config import HyperParameters


def sample(hp, base: HyperParameters) -> HyperParameters:
  """Draws model hyperparameters from a KerasTuner HyperParameters object."""
  values = {
      "learning_rate": hp.Choice("learning_rate", [1e-3, 3e-3, 1e-2]),
      "units": hp.Choice("units", [32, 64, 128]),
      "num_layers": hp.Int("num_layers", 1, 3),
  }
  return from_values(values, base)


def from_values(values: Mapping[str, Any], base: HyperParameters) -> HyperParameters:
  """Tuner values -> HyperParameters; each layer has half the units of the last."""
  update: dict = {}
  if "learning_rate" in values:
    update["learning_rate"] = float(values["learning_rate"])
  if "units" in values and "num_layers" in values:
    update["hidden_units"] = tuple(max(4, int(values["units"]) // 2**i)
                                   for i in range(int(values["num_layers"])))
  return base.model_copy(update=update)


def from_trainer_args(tuned: Optional[Mapping[str, Any]],
                      base: HyperParameters) -> HyperParameters:
  """fn_args.hyperparameters holds KerasTuner's config: {'space': ..., 'values': ...}."""
  if not tuned:
    return base
  return from_values(tuned.get("values", tuned), base)
