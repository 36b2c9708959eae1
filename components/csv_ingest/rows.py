"""Typed CSV parsing shared by the ingest executor and the CLI's pre-flight check.

The column kinds come from the pipeline config (not from type inference), so a
stray "NA" cannot silently turn a numeric column into strings.
"""
from __future__ import annotations

import csv
import dataclasses
import glob
import os
from typing import Iterator, Mapping, Optional, Sequence

import tensorflow as tf

from components.csv_ingest.errors import DataError

FLOAT = "float"
BYTES = "bytes"


@dataclasses.dataclass(frozen=True)
class ColumnSpec:
  """What the ingest needs to know: each column's kind and what means 'missing'."""
  kinds: Mapping[str, str]  # column (features, label, split key) -> FLOAT | BYTES
  label: str
  null_values: Sequence[str] = ("NA",)

  def to_dict(self) -> dict:
    return {"kinds": dict(self.kinds), "label": self.label,
            "null_values": list(self.null_values)}

  @classmethod
  def from_dict(cls, d: Mapping) -> "ColumnSpec":
    return cls(kinds=dict(d["kinds"]), label=d["label"],
               null_values=tuple(d.get("null_values", ("NA",))))


def csv_files(data_dir: str, pattern: str = "*.csv") -> list[str]:
  """The CSV files of a data directory, or a DataError saying why there are none."""
  if not os.path.isdir(data_dir):
    raise DataError(f"{data_dir}: data directory does not exist")
  files = sorted(glob.glob(os.path.join(data_dir, pattern)))
  if not files:
    raise DataError(f"{data_dir}: no files matching {pattern!r}")
  return files


def read_header(path: str, spec: ColumnSpec) -> list[str]:
  """The header of one CSV file, checked against the configured columns."""
  with tf.io.gfile.GFile(path, "r") as f:
    first = f.readline()
  if not first.strip():
    raise DataError(f"{path}: file is empty (no header row)")
  header = next(csv.reader([first]))
  if spec.label not in header:
    raise DataError(f"{path}: label column {spec.label!r} not found in header")
  missing = [c for c in spec.kinds if c not in header]
  if missing:
    raise DataError(f"{path}: column {missing[0]!r} not found in header")
  return header


class RowParser:
  """Turns one CSV row into a tf.Example with the configured kinds."""

  def __init__(self, path: str, header: Sequence[str], spec: ColumnSpec):
    self._path = path
    self._null = set(spec.null_values) | {""}
    self._label = spec.label
    self._columns = [(i, name, spec.kinds[name]) for i, name in enumerate(header)
                     if name in spec.kinds]
    self._width = len(header)

  def parse(self, line: str) -> Optional[tf.train.Example]:
    """Parses one line of text; None for a blank line or a row without a label."""
    if not line.strip():
      return None
    return self.parse_cells(next(csv.reader([line])))

  def parse_cells(self, cells: Sequence[str], where: str = "") -> Optional[tf.train.Example]:
    loc = f"{self._path}{where}"
    if len(cells) != self._width:
      raise DataError(f"{loc}: expected {self._width} fields, found {len(cells)}")
    feature = {}
    for i, name, kind in self._columns:
      value = cells[i].strip()
      if value in self._null:
        if name == self._label:
          return None
        values = []
      elif kind == FLOAT:
        try:
          values = [float(value)]
        except ValueError:
          raise DataError(
              f"{loc}: column {name!r}: value {value!r} is not a number") from None
      else:
        values = [value.encode()]
      if kind == FLOAT:
        feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
      else:
        feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
    return tf.train.Example(features=tf.train.Features(feature=feature))


def iter_file(path: str, spec: ColumnSpec) -> Iterator[tf.train.Example]:
  """Parses a whole file, with line numbers in any error."""
  parser = RowParser(path, read_header(path, spec), spec)
  with tf.io.gfile.GFile(path, "r") as f:
    reader = csv.reader(f)
    next(reader)
    for cells in reader:
      if not cells:
        continue
      example = parser.parse_cells(cells, f":{reader.line_num}")
      if example is not None:
        yield example


def check_data_dir(data_dir: str, spec: ColumnSpec) -> dict:
  """Pre-flight: parses every row, raising DataError at the first bad one.

  Returns counts per file so the caller can report what it found.
  """
  counts = {}
  for path in csv_files(data_dir):
    n = sum(1 for _ in iter_file(path, spec))
    if n == 0:
      raise DataError(f"{path}: no data rows with a label")
    counts[path] = n
  return counts
