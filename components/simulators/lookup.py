"""Finding a simulator by name: a built-in, or a user's `package.module:function`."""
from __future__ import annotations

import dataclasses
import importlib

from components.simulators import heated_rod, projectile
from components.simulators.base import Simulator, SimulatorError

BUILT_IN: dict[str, Simulator] = {s.name: s for s in (projectile.SIMULATOR, heated_rod.SIMULATOR)}


def get(name: str, output: str | None = None) -> Simulator:
  """A built-in simulator, or a user function `package.module:function`.

  A user function takes keyword arguments named after the axes and returns a
  float; it has no default axes, and `output` names its column (required). For a
  built-in, `output` renames the column.
  """
  if ":" not in name:
    if name not in BUILT_IN:
      raise SimulatorError(f"unknown simulator {name!r}: the built-ins are "
                           f"{', '.join(sorted(BUILT_IN))}, or give package.module:function")
    simulator = BUILT_IN[name]
    return simulator if output is None else dataclasses.replace(simulator, output=output)

  module_name, _, attribute = name.partition(":")
  if not module_name or not attribute or ":" in attribute:
    raise SimulatorError(f"simulator {name!r} is not of the form package.module:function")
  if not output:
    raise SimulatorError(f"simulator {name!r}: a user function needs an output column name")
  try:
    module = importlib.import_module(module_name)
  except Exception as e:  # user code: a syntax error is as much "not importable" as a typo
    raise SimulatorError(f"simulator {name!r}: cannot import module {module_name!r} "
                         f"({type(e).__name__}: {_first_line(e)})") from e
  if not hasattr(module, attribute):
    raise SimulatorError(f"simulator {name!r}: module {module_name!r} has no {attribute!r}")
  function = getattr(module, attribute)
  if not callable(function):
    raise SimulatorError(f"simulator {name!r}: {attribute!r} is not callable "
                         f"(a {type(function).__name__})")
  doc = (function.__doc__ or "").strip()
  return Simulator(name=name, output=output, default_axes=(), solve=function,
                   description=doc.splitlines()[0] if doc else f"user function {name}")


def _first_line(error: Exception) -> str:
  lines = str(error).strip().splitlines()
  return lines[0] if lines else "no message"
