"""The tuner's search space declared on KerasTuner, and a trial's values read back
as model hyperparameters.

The mapping itself (from_values) lives in the config package, which needs it to
read a hyperparameters file; this module imports it from there (re-exported here
for the tuner and the Trainer), and config never imports this module. No
TensorFlow here: the Katib/TFJob entry point uses it.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

from components.config import HyperParameters, SearchParameter
from components.config.search_values import from_values

__all__ = ["declare", "from_trainer_args", "from_values"]


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


def from_trainer_args(tuned: Optional[Mapping[str, Any]],
                      base: HyperParameters) -> HyperParameters:
  """fn_args.hyperparameters holds KerasTuner's config: {'space': ..., 'values': ...}."""
  if not tuned:
    return base
  return from_values(tuned.get("values", tuned), base)
