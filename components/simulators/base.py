"""What a simulator is: a deterministic function of named floats, and its grid."""
from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np

from components.errors import UserError
from components.simulators.grid import Axis


class SimulatorError(UserError):
  """A simulator that cannot be found or gives no usable result; one line naming it."""


@dataclasses.dataclass(frozen=True)
class Simulator:
  """A named simulator: `solve(**{axis_name: float}) -> float` at one point."""
  name: str
  output: str
  default_axes: tuple[Axis, ...]
  solve: Callable[..., float]
  description: str

  def solve_points(self, points: dict[str, np.ndarray]) -> np.ndarray:
    """`solve` at every point; a non-finite result is an error naming the point."""
    names = list(points)
    # Python floats: the solvers do scalar arithmetic, which is slower on numpy scalars.
    columns = [np.asarray(points[name], dtype=np.float64).ravel().tolist() for name in names]
    lengths = {len(column) for column in columns}
    if len(lengths) > 1:
      sizes = ", ".join(f"{name}={len(c)}" for name, c in zip(names, columns))
      raise SimulatorError(f"{self.name}: point columns differ in length ({sizes})")
    out = np.empty(lengths.pop() if lengths else 0, dtype=np.float64)
    for i, values in enumerate(zip(*columns)):
      point = dict(zip(names, values))
      result = self.solve(**point)
      try:
        out[i] = float(result)
      except (TypeError, ValueError):
        raise SimulatorError(
            f"{self.name}: result {result!r} at {_describe(point)} is not a number") from None
      if not math.isfinite(out[i]):
        raise SimulatorError(f"{self.name}: no finite result at {_describe(point)}")
    return out


def _describe(point: dict[str, float]) -> str:
  return ", ".join(f"{name}={value!r}" for name, value in point.items())
