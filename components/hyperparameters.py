"""The tuner's search space, and how its values map onto model hyperparameters.

No TensorFlow here: the config loader and the Katib/TFJob entry point use it.
"""
from __future__ import annotations

import re
from typing import Any, Mapping, Optional

from components.config import HyperParameters, SearchParameter

_UNITS_OF_LAYER = re.compile(r"^units_([1-9])$")


def declare(hp, space: Mapping[str, SearchParameter]) -> None:
  """Declares `space` on a KerasTuner HyperParameters object, parents first, so
  that a conditional parameter exists only in trials where its condition holds."""
  declared: set[str] = set()
  pending = dict(space)
  while pending:
    ready = {n: p for n, p in pending.items() if set(p.when or {}) <= declared}
    if not ready:
      raise ValueError(f"search_space: conditions form a cycle among {sorted(pending)}")
    for name, param in ready.items():
      _declare_one(hp, name, param)
      declared.add(name)
      del pending[name]


def _declare_one(hp, name: str, param: SearchParameter) -> None:
  conditions = list((param.when or {}).items())
  if conditions:
    (parent, values), *rest = conditions
    with hp.conditional_scope(parent, list(values)):
      inner = param.model_copy(update={"when": dict(rest) or None})
      return _declare_one(hp, name, inner)
  if param.type == "choice":
    hp.Choice(name, list(param.values))
  elif param.type == "int":
    hp.Int(name, int(param.min), int(param.max), sampling=param.sampling)
  else:
    hp.Float(name, param.min, param.max, sampling=param.sampling)


def _layers(values: Mapping[str, Any], base: HyperParameters) -> Optional[tuple[int, ...]]:
  """Layer sizes from num_layers with units (halved at each next layer) or units_<i>."""
  explicit = {int(m.group(1)): int(v) for k, v in values.items()
              if (m := _UNITS_OF_LAYER.match(k)) and v is not None}
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


def from_trainer_args(tuned: Optional[Mapping[str, Any]],
                      base: HyperParameters) -> HyperParameters:
  """fn_args.hyperparameters holds KerasTuner's config: {'space': ..., 'values': ...}."""
  if not tuned:
    return base
  return from_values(tuned.get("values", tuned), base)
