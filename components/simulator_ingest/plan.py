"""Which points a simulator run solves, and which split each one lands in.

A full grid (the useful-overfitting case): memorize puts every point in both
train and eval (the model is judged on the complete input space); generalize
holds out a hash-chosen share for eval, as a usual run would. A Monte Carlo
sample (a grid too large to tabulate): train on the sample, evaluate on an
independent check sample, which estimates the worst error but bounds nothing.
"""
from __future__ import annotations

import dataclasses
import hashlib
from typing import Iterator

import numpy as np

from components import simulators
from components.config import PipelineConfig

# Enough chunks to spread over workers and report progress; not so many that
# per-element overhead shows.
_TARGET_CHUNKS = 20
_MIN_CHUNK = 64


@dataclasses.dataclass(frozen=True)
class Plan:
  simulator: str
  output: str
  axes: tuple[simulators.Axis, ...]
  mode: str  # memorize | generalize
  sample: int | None
  check_sample: int
  seed: int
  train_buckets: int
  eval_buckets: int

  @classmethod
  def from_config(cls, config: PipelineConfig) -> "Plan":
    sim = config.data.simulator
    built_in = simulators.BUILT_IN.get(sim.name)
    axes = (tuple(simulators.Axis(n, a.start, a.stop, a.step) for n, a in sim.axes.items())
            if sim.axes else built_in.default_axes)
    return cls(sim.name, sim.output_name(), axes, config.task.mode, sim.sample,
               sim.check_sample, sim.seed, config.data.train_buckets, config.data.eval_buckets)

  def to_dict(self) -> dict:
    d = dataclasses.asdict(self)
    d["axes"] = [dataclasses.asdict(a) for a in self.axes]
    return d

  @classmethod
  def from_dict(cls, d: dict) -> "Plan":
    sample = d.get("sample")
    return cls(**{**d, "axes": tuple(simulators.Axis(**a) for a in d["axes"]),
                  "sample": int(sample) if sample else None,
                  **{k: int(d[k]) for k in ("check_sample", "seed", "train_buckets",
                                            "eval_buckets")}})

  def check(self) -> int:
    """Raises SimulatorError / ValueError (one line) for a bad grid; the points to solve."""
    simulators.get(self.simulator, self.output)
    grid = simulators.grid_size(self.axes)  # checks every axis
    return self.sample + self.check_sample if self.sample else grid

  def describe(self) -> str:
    axes = " x ".join(f"{a.name} {a.start:g}..{a.stop:g} step {a.step:g} ({a.size():,})"
                      for a in self.axes)
    if self.sample:
      return (f"simulator {self.simulator}: Monte Carlo, {self.sample:,} random training "
              f"points and {self.check_sample:,} independent check points in {axes}")
    how = ("every point trains and evaluates" if self.mode == "memorize" else
           f"{self.train_buckets}:{self.eval_buckets} train:eval hash split")
    return (f"simulator {self.simulator}: {simulators.grid_size(self.axes):,} grid points "
            f"({axes}); {how}")

  def chunks(self) -> Iterator[tuple[str, int, int]]:
    """(part, start, stop): part is "grid", or "train"/"check" for a sample."""
    parts = ([("train", self.sample), ("check", self.check_sample)] if self.sample
             else [("grid", simulators.grid_size(self.axes))])
    for part, n in parts:
      size = max(_MIN_CHUNK, -(-n // _TARGET_CHUNKS))
      for start in range(0, n, size):
        yield part, start, min(start + size, n)

  def points(self, part: str, start: int, stop: int) -> dict[str, np.ndarray]:
    if part == "grid":
      return simulators.grid_points(self.axes, start, stop)
    # Regenerated from the seed in each worker: a sample is small enough to redraw.
    n, seed = ((self.sample, self.seed) if part == "train"
               else (self.check_sample, self.seed + 1))
    drawn = simulators.sample_points(self.axes, n, seed)
    return {k: v[start:stop] for k, v in drawn.items()}

  def splits_of(self, part: str, index: int) -> tuple[str, ...]:
    """The output splits a point goes to."""
    if part == "train":
      return ("train",)
    if part == "check":
      return ("eval",)
    if self.mode == "memorize":
      return ("train", "eval")
    buckets = self.train_buckets + self.eval_buckets
    bucket = int.from_bytes(hashlib.sha256(str(index).encode()).digest()[:8], "big") % buckets
    return ("train",) if bucket < self.train_buckets else ("eval",)
