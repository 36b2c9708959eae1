"""The `tuner` section: the hyperparameter search (algorithm, objective, space,
budget), or, with the tuner off, a file of hyperparameters found earlier."""
from __future__ import annotations

import re
from typing import Literal, Optional, Union

import pydantic

from components.config._strict import Strict

# What a search may vary: HyperParameters fields, plus the model's shape
# (num_layers, and units for the first layer with each next one halved, or
# units_<i> per layer) and the per-replica batch size.
SEARCHABLE = ("learning_rate", "embedding_dim", "dropout", "l2", "num_layers", "units",
              "batch_size")
UNITS_OF_LAYER = re.compile(r"^units_([1-9])$")


class SearchParameter(Strict):
  """One dimension of the search space.

  float / int: min and max (sampling linear or log); choice: values. `when`
  makes it conditional: it exists only in trials whose parent has one of the
  listed values, e.g. units_3 with when {num_layers: [3]}."""
  type: Literal["float", "int", "choice"]
  min: Optional[float] = None
  max: Optional[float] = None
  sampling: Literal["linear", "log"] = "linear"
  values: Optional[tuple[Union[int, float, str], ...]] = None
  when: Optional[dict[str, tuple[Union[int, float, str], ...]]] = None

  @pydantic.model_validator(mode="after")
  def _bounds_or_values(self):
    if self.type == "choice":
      if not self.values:
        raise ValueError("a choice needs values")
    elif self.min is None or self.max is None or not self.min < self.max:
      raise ValueError(f"{self.type} needs min < max")
    elif self.sampling == "log" and self.min <= 0:
      raise ValueError("log sampling needs min > 0")
    return self


def _default_space() -> dict[str, SearchParameter]:
  return {"learning_rate": SearchParameter(type="choice", values=(1e-3, 3e-3, 1e-2)),
          "units": SearchParameter(type="choice", values=(32, 64, 128)),
          "num_layers": SearchParameter(type="int", min=1, max=3)}


class TunerConfig(Strict):
  enabled: bool = True
  # random, bayesian (Gaussian-process Bayesian optimisation) or hyperband.
  algorithm: Literal["random", "bayesian", "hyperband"] = "random"
  # The eval metric trials are compared on, and its direction.
  objective: str = "loss"
  direction: Literal["min", "max"] = "min"
  search_space: dict[str, SearchParameter] = pydantic.Field(default_factory=_default_space)
  max_trials: int = pydantic.Field(4, ge=1)
  # A trial's budget; with hyperband, the budget of its longest (last-round) trials.
  steps_per_trial: int = pydantic.Field(300, ge=1)
  hyperband_factor: int = pydantic.Field(3, ge=2)
  # Trials run at once, each in its own process with a share of the cores.
  parallel_trials: int = pydantic.Field(1, ge=1)
  # A JSON file of hyperparameters to use when the tuner is off.
  hyperparameters_file: Optional[str] = None

  @pydantic.model_validator(mode="after")
  def _known_names(self):
    for name, param in self.search_space.items():
      if name not in SEARCHABLE and not UNITS_OF_LAYER.match(name):
        raise ValueError(f"search_space.{name}: not a searchable hyperparameter "
                         f"(one of {', '.join(SEARCHABLE)}, units_<layer>)")
      for parent in (param.when or {}):
        if parent not in self.search_space:
          raise ValueError(f"search_space.{name}.when: {parent!r} is not in the search space")
    return self
