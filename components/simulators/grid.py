"""The discretized input space of a simulator: named axes and their full grid.

A grid can be large (millions of points), so `grid_points` computes any flat
range of it from the index alone: chunks never hold the whole grid in memory.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np

# Tolerance on (stop - start) / step being a whole number: decimal steps such as
# 0.01 are not exact in binary, so 20 / 0.01 is 2000.0000000000002.
_WHOLE = 1e-6


@dataclasses.dataclass(frozen=True)
class Axis:
  """One input of a simulator: `start`, `start + step`, ... up to `stop` inclusive."""
  name: str
  start: float
  stop: float
  step: float

  def size(self) -> int:
    where = f"axis {self.name!r}"
    if not all(math.isfinite(v) for v in (self.start, self.stop, self.step)):
      raise ValueError(f"{where}: start, stop and step must be finite numbers")
    if self.step <= 0:
      raise ValueError(f"{where}: step must be positive, got {self.step}")
    if self.stop < self.start:
      raise ValueError(f"{where}: stop {self.stop} is below start {self.start}")
    steps = (self.stop - self.start) / self.step
    if abs(steps - round(steps)) > _WHOLE:
      raise ValueError(f"{where}: step {self.step} does not divide {self.start}..{self.stop} "
                       f"({steps:.6g} steps)")
    return round(steps) + 1

  def values(self) -> np.ndarray:
    # Rounded so that 60 + 0.01 * 1 is 60.01 in the table, not 60.010000000000005.
    return np.round(self.start + self.step * np.arange(self.size(), dtype=np.float64), 10)


def _shape(axes: Sequence[Axis]) -> tuple[int, ...]:
  # Points are dicts keyed by axis name: a repeated name would silently drop a column.
  seen = set()
  for axis in axes:
    if axis.name in seen:
      raise ValueError(f"axis {axis.name!r} appears more than once")
    seen.add(axis.name)
  return tuple(axis.size() for axis in axes)


def grid_size(axes: Sequence[Axis]) -> int:
  """The number of points in the full grid."""
  return math.prod(_shape(axes))


def grid_points(axes: Sequence[Axis], start: int = 0,
                stop: int | None = None) -> dict[str, np.ndarray]:
  """The grid points with flat index in [start, stop), first axis slowest (C order).

  A `stop` past the end is cut to the end, so the last chunk may be short.
  """
  shape = _shape(axes)
  total = math.prod(shape)
  if start < 0 or (stop is not None and stop < start):
    raise ValueError(f"grid range [{start}, {stop}) is not a range of 0..{total}")
  stop = total if stop is None else min(stop, total)
  start = min(start, stop)
  if not axes:
    return {}
  indices = np.unravel_index(np.arange(start, stop, dtype=np.int64), shape)
  return {axis.name: axis.values()[index] for axis, index in zip(axes, indices)}


def sample_points(axes: Sequence[Axis], n: int, seed: int) -> dict[str, np.ndarray]:
  """`n` points drawn uniformly from the box spanned by the axes (steps ignored).

  Axes are drawn in order, one after the other, so a seed always gives the same points.
  """
  _shape(axes)  # the same checks as a grid: a bad axis is an error here too
  if n < 0:
    raise ValueError(f"number of samples must be >= 0, got {n}")
  rng = np.random.default_rng(seed)
  return {axis.name: rng.uniform(axis.start, axis.stop, n) for axis in axes}
