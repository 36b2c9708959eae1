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
  type: Literal["float", "int", "choice"] = pydantic.Field(
      description="float or int: a range from min to max; choice: one of values.")
  min: Optional[float] = pydantic.Field(
      None, description="float / int: the smallest value (inclusive).")
  max: Optional[float] = pydantic.Field(
      None, description="float / int: the largest value (inclusive); above min.")
  sampling: Literal["linear", "log"] = pydantic.Field(
      "linear", description="float / int: how the range is sampled; log (for a learning "
                            "rate, say) needs min > 0.")
  values: Optional[tuple[Union[int, float, str], ...]] = pydantic.Field(
      None, description="choice: the values to choose from.")
  when: Optional[dict[str, tuple[Union[int, float, str], ...]]] = pydantic.Field(
      None, description="Makes the parameter conditional: it exists only in trials whose "
                        "parent parameter has one of the listed values, e.g. units_3 with "
                        "{num_layers: [3]}.")

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
  """The hyperparameter search that runs before training (KerasTuner)."""
  enabled: bool = pydantic.Field(
      True, description="Search before training; false trains with trainer.hyperparameters "
                        "(or hyperparameters_file).")
  algorithm: Literal["random", "bayesian", "hyperband"] = pydantic.Field(
      "random", description="random, bayesian (Gaussian-process Bayesian optimization) or "
                            "hyperband (many short trials, the best continued longer).")
  objective: str = pydantic.Field(
      "loss", description="The eval metric trials are compared on (e.g. loss, auc, "
                          "accuracy).")
  direction: Literal["min", "max"] = pydantic.Field(
      "min", description="Whether the objective is better smaller (min) or larger (max).")
  search_space: dict[str, SearchParameter] = pydantic.Field(
      default_factory=_default_space,
      description="What the search varies, by name: learning_rate, embedding_dim, dropout, "
                  "l2, batch_size (per replica), and the model's shape: num_layers, with "
                  "units for the first layer (each next one halved) or units_<i> per layer.")
  max_trials: int = pydantic.Field(
      4, ge=1, description="Trials a random or bayesian search runs at most (hyperband's "
                           "count follows from hyperband_factor instead).")
  steps_per_trial: int = pydantic.Field(
      300, ge=1, description="A trial's training steps; with hyperband, the budget of its "
                             "longest (last-round) trials.")
  hyperband_factor: int = pydantic.Field(
      3, ge=2, description="hyperband: each round keeps 1 in this many trials, and trains "
                           "them this many times longer.")
  parallel_trials: int = pydantic.Field(
      1, ge=1, description="Trials run at once, each in its own process with a share of the "
                           "cores.")
  hyperparameters_file: Optional[str] = pydantic.Field(
      None, description="With the tuner off: a JSON file of hyperparameters (trainer."
                        "hyperparameters fields, or a Tuner's best_hyperparameters.txt) "
                        "that overrides trainer.hyperparameters.")

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
