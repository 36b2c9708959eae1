"""The `data` section: where the rows come from (CSV files, spans, a simulator's
grid or labelled images) and how they are split into train, eval and test."""
from __future__ import annotations

from typing import Optional

import pydantic

from components.config._strict import Strict


class SpanWindow(Strict):
  """Which spans a run reads when data.dir holds span directories (<dir>/<span>/*.csv,
  a span named by an integer, YYYY-MM or YYYY-MM-DD): the newest N (a rolling
  window), or first..last (inclusive; either may be left open). Default: all."""
  newest: Optional[int] = pydantic.Field(None, ge=1)
  first: Optional[str] = None
  last: Optional[str] = None

  @pydantic.model_validator(mode="after")
  def _one_kind_of_window(self):
    if self.newest and (self.first or self.last):
      raise ValueError("give newest, or first/last, not both")
    return self


class GridAxis(Strict):
  """One input of a simulator: start..stop (inclusive) in steps of `step`."""
  start: float
  stop: float
  step: float = pydantic.Field(gt=0)


class SimulatorConfig(Strict):
  """Tabulates a deterministic simulator instead of reading CSV files: every point
  of the grid (the product of the axes) is solved, in parallel with Beam."""
  # projectile, heated_rod, or a user's package.module:function (keyword arguments
  # named after the axes, returning a float).
  name: str
  # The output column (the label); default: the built-in simulator's.
  output: Optional[str] = None
  # The grid; default: the built-in simulator's complete grid. Order matters: the
  # first axis varies slowest.
  axes: dict[str, GridAxis] = {}
  # Monte Carlo, for a grid too large to tabulate: train on this many random
  # points of the box, and report the worst error on check_sample other random
  # points -- an estimate, not a bound.
  sample: Optional[int] = pydantic.Field(None, ge=1)
  check_sample: int = pydantic.Field(10_000, ge=1)
  seed: int = 0

  def axis_names(self) -> tuple[str, ...]:
    if self.axes:
      return tuple(self.axes)
    from components import simulators  # NumPy only
    built_in = simulators.BUILT_IN.get(self.name)
    return tuple(a.name for a in built_in.default_axes) if built_in else ()

  def output_name(self) -> Optional[str]:
    if self.output:
      return self.output
    from components import simulators
    built_in = simulators.BUILT_IN.get(self.name)
    return built_in.output if built_in else None


class ImageDataConfig(Strict):
  """Labelled images instead of CSV rows: a directory with one sub-folder per class
  (as keras.utils.image_dataset_from_directory reads it), or a CSV file of
  path,label rows (paths relative to the CSV). Neither: the built-in sample, the
  8x8 handwritten digits that ship with scikit-learn (1,797 images, 10 classes).
  Rows split by a hash of the image's path, like CSV rows by their split key."""
  dir: Optional[str] = None
  csv: Optional[str] = None
  # Keep at most this many training images per class (a fixed pseudo-random
  # sample, by a hash of the path): for a learning curve, or to see what a small
  # labelled set gives. Eval keeps all of its images.
  per_class: Optional[int] = pydantic.Field(None, ge=1)

  @pydantic.model_validator(mode="after")
  def _one_source(self):
    if self.dir and self.csv:
      raise ValueError("give images.dir (class sub-folders) or images.csv, not both")
    return self


class DataConfig(Strict):
  # Directory of CSV files, or of span directories of CSV files. None means the
  # embedded Chicago taxi data (unless a simulator or images are given).
  dir: Optional[str] = None
  simulator: Optional[SimulatorConfig] = None
  images: Optional[ImageDataConfig] = None
  spans: SpanWindow = SpanWindow()
  # Rows are split by a hash of this column's text (any kind of column), so that
  # rows sharing a key never straddle train and eval. None (null) hashes the whole
  # row, as do rows whose key is missing.
  split_key: Optional[str] = "trip_start_timestamp"
  # Hash buckets per split; test is optional (0 disables it).
  train_buckets: int = pydantic.Field(8, ge=1)
  eval_buckets: int = pydantic.Field(2, ge=1)
  test_buckets: int = pydantic.Field(0, ge=0)
  # A run stops before training when a split has fewer rows than this, or (for
  # classification) fewer rows of a training class: a model blessed on 11 eval
  # rows is not evidence of anything. 0 turns a check off.
  min_split_rows: int = pydantic.Field(50, ge=0)
  min_class_rows: int = pydantic.Field(5, ge=0)
  # A checked-in schema.pbtxt; inferred from statistics when absent.
  schema_file: Optional[str] = None
  # Strings that mean "missing", besides the empty string.
  null_values: tuple[str, ...] = ("NA",)
