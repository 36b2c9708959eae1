"""Names and kinds of columns, shared by ingest, Transform, Trainer and serving.

Everything is derived from the pipeline config, so a user's CSV with its own label
and features needs no code change.
"""
from __future__ import annotations

import os

from components.column_keys import column_key
from components.config import PipelineConfig, TaskType
from components.csv_ingest.rows import BYTES, FLOAT, ColumnSpec
from components.csv_ingest.spans import Window
from components.csv_ingest.splits import SplitSpec
from components.image_ingest.listing import Source as ImageSource

# The transformed label, under a name no raw column is likely to have.
LABEL_KEY = "label_xf"


# Served as the class of the extra "not seen in training" label id.
UNKNOWN_CLASS = b"<unknown>"


def transformed_name(column: str) -> str:
  """The transformed feature of a raw column: the model's input and layer names.
  From the column's safe key (column_keys.py), so that any CSV header works."""
  return f"{column_key(column)}_xf"


def label_kind(config: PipelineConfig) -> str:
  return FLOAT if config.task.type == TaskType.REGRESSION else BYTES


def column_spec(config: PipelineConfig) -> ColumnSpec:
  """Kinds of every column the ingest keeps: the features and the label. (The split
  key is read from the CSV row itself and is not kept unless it is a feature.)"""
  kinds = {c: FLOAT for c in config.features.numeric + config.features.coordinates}
  kinds.update({c: BYTES for c in config.features.categorical})
  if config.features.image:
    kinds[config.features.image] = BYTES
  kinds[config.task.label] = label_kind(config)
  return ColumnSpec(kinds=kinds, label=config.task.label,
                    null_values=tuple(config.data.null_values))


def split_spec(config: PipelineConfig) -> SplitSpec:
  d = config.data
  buckets = [("train", d.train_buckets), ("eval", d.eval_buckets)]
  if d.test_buckets:
    buckets.append(("test", d.test_buckets))
  return SplitSpec(buckets=tuple(buckets), key=d.split_key, min_rows=d.min_split_rows,
                   min_class_rows=d.min_class_rows,
                   per_class=config.task.type != TaskType.REGRESSION,
                   positive_class=(config.task.positive_class
                                   if config.task.type == TaskType.BINARY else None))


def span_window(config: PipelineConfig) -> Window:
  s = config.data.spans
  return Window(newest=s.newest, first=s.first, last=s.last)


def image_source(config: PipelineConfig) -> ImageSource:
  """data.images, with absolute paths: executors may run in another directory."""
  images = config.data.images
  absolute = lambda p: os.path.abspath(p) if p else None  # noqa: E731
  return ImageSource(absolute(images.dir), absolute(images.csv), images.per_class)


def label_vocabulary_name(config: PipelineConfig) -> str:
  return f"{column_key(config.task.label)}_vocab"


def categorical_vocabulary_name(column: str) -> str:
  return f"{column_key(column)}_vocab"
