"""A search's values as model hyperparameters: what KerasTuner hands back
(learning_rate, num_layers with units or units_<i>, ...) -> HyperParameters.

In the config package because the loader needs it too: a Tuner's
best_hyperparameters.txt may be given as tuner.hyperparameters_file. The tuner's
side (declaring the space on KerasTuner) is components/hyperparameters.py, which
imports this, never the other way round. No TensorFlow here.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

from components.config.trainer import HyperParameters
from components.config.tuner import UNITS_OF_LAYER


def from_values(values: Mapping[str, Any], base: HyperParameters) -> HyperParameters:
  """Search values (inactive conditionals absent or None) -> HyperParameters."""
  values = {k: v for k, v in values.items() if v is not None and not k.startswith("tuner/")}
  update: dict = {}
  for name, cast in (("learning_rate", float), ("dropout", float), ("l2", float),
                     ("embedding_dim", int), ("batch_size", int)):
    if name in values:
      update[name] = cast(values[name])
  layers = _layers(values, base)
  if layers is not None:
    update["hidden_units"] = layers
  return HyperParameters.model_validate({**base.model_dump(), **update})


def _layers(values: Mapping[str, Any], base: HyperParameters) -> Optional[tuple[int, ...]]:
  """Layer sizes from num_layers with units (halved at each next layer) or units_<i>."""
  explicit = {int(m.group(1)): int(v) for k, v in values.items()
              if (m := UNITS_OF_LAYER.match(k)) and v is not None}
  if "num_layers" not in values and "units" not in values and not explicit:
    return None
  count = int(values.get("num_layers", len(base.hidden_units)))
  first = int(values["units"]) if "units" in values else None
  sizes = []
  for i in range(1, count + 1):
    if i in explicit:
      sizes.append(explicit[i])
    elif first is not None:
      sizes.append(max(4, first // 2 ** (i - 1)))
    elif i <= len(base.hidden_units):
      sizes.append(base.hidden_units[i - 1])
    else:
      sizes.append(max(4, sizes[-1] // 2))
  return tuple(sizes)
