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
  newest: Optional[int] = pydantic.Field(
      None, ge=1, description="Read only the newest N spans (a rolling window); not with "
                              "first/last.")
  first: Optional[str] = pydantic.Field(
      None, description="The oldest span to read (inclusive), named like the span "
                        "directories; open when null.")
  last: Optional[str] = pydantic.Field(
      None, description="The newest span to read (inclusive); open when null.")

  @pydantic.model_validator(mode="after")
  def _one_kind_of_window(self):
    if self.newest and (self.first or self.last):
      raise ValueError("give newest, or first/last, not both")
    return self


class GridAxis(Strict):
  """One input of a simulator: start..stop (inclusive) in steps of `step`."""
  start: float = pydantic.Field(description="The axis's first value.")
  stop: float = pydantic.Field(description="The axis's last value (inclusive).")
  step: float = pydantic.Field(gt=0, description="The distance between neighbouring values.")


class SimulatorConfig(Strict):
  """Tabulates a deterministic simulator instead of reading CSV files: every point
  of the grid (the product of the axes) is solved, in parallel with Beam."""
  name: str = pydantic.Field(
      description="projectile, heated_rod, or a user's package.module:function (called "
                  "with keyword arguments named after the axes, returning a float).")
  output: Optional[str] = pydantic.Field(
      None, description="The output column (the label); default: the built-in simulator's.")
  axes: dict[str, GridAxis] = pydantic.Field(
      {}, description="The grid, one axis per input; default: the built-in simulator's "
                      "complete grid. Order matters: the first axis varies slowest.")
  sample: Optional[int] = pydantic.Field(
      None, ge=1,
      description="Monte Carlo, for a grid too large to tabulate: train on this many random "
                  "points of the box instead of the whole grid.")
  check_sample: int = pydantic.Field(
      10_000, ge=1,
      description="With sample: the worst error is reported on this many other random "
                  "points -- an estimate, not a bound.")
  seed: int = pydantic.Field(0, description="Seeds the random points of sample and "
                                            "check_sample.")

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
  dir: Optional[str] = pydantic.Field(
      None, description="A directory with one sub-folder of images per class; not with "
                        "csv.")
  csv: Optional[str] = pydantic.Field(
      None, description="A CSV file of path,label rows, paths relative to the CSV; not "
                        "with dir.")
  per_class: Optional[int] = pydantic.Field(
      None, ge=1,
      description="Keep at most this many training images per class (a fixed pseudo-random "
                  "sample, by a hash of the path): for a learning curve, or to see what a "
                  "small labelled set gives. Eval keeps all of its images.")

  @pydantic.model_validator(mode="after")
  def _one_source(self):
    if self.dir and self.csv:
      raise ValueError("give images.dir (class sub-folders) or images.csv, not both")
    return self


class DataConfig(Strict):
  """Where the rows come from, and how they are split into train, eval and test."""
  dir: Optional[str] = pydantic.Field(
      None, description="A directory of CSV files, or of span directories of CSV files. "
                        "null: the embedded Chicago taxi data (unless a simulator or images "
                        "are given).")
  simulator: Optional[SimulatorConfig] = pydantic.Field(
      None, description="Tabulate a simulator instead of reading CSV files (not with dir).")
  images: Optional[ImageDataConfig] = pydantic.Field(
      None, description="Labelled images instead of CSV rows (not with dir or simulator).")
  spans: SpanWindow = pydantic.Field(
      SpanWindow(), description="Which spans a run reads, when dir holds span directories.")
  split_key: Optional[str] = pydantic.Field(
      "trip_start_timestamp",
      description="Rows are split by a hash of this column's text (any kind of column), so "
                  "that rows sharing a key never straddle train and eval. null hashes the "
                  "whole row, as do rows whose key is missing.")
  train_buckets: int = pydantic.Field(
      8, ge=1, description="Hash buckets of the train split: its share of the rows is "
                           "train / (train + eval + test) buckets.")
  eval_buckets: int = pydantic.Field(2, ge=1, description="Hash buckets of the eval split.")
  test_buckets: int = pydantic.Field(
      0, ge=0, description="Hash buckets of an optional test split; 0 disables it.")
  min_split_rows: int = pydantic.Field(
      50, ge=0,
      description="A run stops before training when a split has fewer rows than this: a "
                  "model blessed on 11 eval rows is not evidence of anything. 0 turns the "
                  "check off.")
  min_class_rows: int = pydantic.Field(
      5, ge=0, description="Classification: a run stops before training when a class has "
                           "fewer training rows than this. 0 turns the check off.")
  schema_file: Optional[str] = pydantic.Field(
      None, description="A checked-in schema.pbtxt (relative to the config file); inferred "
                        "from the statistics when absent.")
  null_values: tuple[str, ...] = pydantic.Field(
      ("NA",), description="Strings that mean \"missing\" in a CSV cell, besides the empty "
                           "string.")
