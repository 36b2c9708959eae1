"""Typed CSV rows, shared by the ingest executor and the pre-flight check.

The column kinds come from the pipeline config (not from type inference), so a
stray "NA" cannot silently turn a numeric column into strings. Values are plain
Python lists here; the executor turns them into tf.Examples. No TensorFlow import.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Mapping, Optional, Sequence, Union

from components.errors import DataError

FLOAT = "float"
BYTES = "bytes"

Values = dict[str, Union[list[float], list[bytes]]]


@dataclasses.dataclass(frozen=True)
class ColumnSpec:
  """What the ingest needs to know: each column's kind and what means 'missing'."""
  kinds: Mapping[str, str]  # column (features and label) -> FLOAT | BYTES
  label: str
  null_values: Sequence[str] = ("NA",)

  def to_dict(self) -> dict:
    return {"kinds": dict(self.kinds), "label": self.label,
            "null_values": list(self.null_values)}

  @classmethod
  def from_dict(cls, d: Mapping) -> "ColumnSpec":
    return cls(kinds=dict(d["kinds"]), label=d["label"],
               null_values=tuple(d.get("null_values", ("NA",))))


def check_header(path: str, header: Sequence[str], spec: ColumnSpec,
                 split_key: Optional[str] = None) -> None:
  """Every configured column must be in the header."""
  hint = " (the header has tabs: is this a tab-separated file?)" if (
      len(header) == 1 and "\t" in header[0]) else ""
  if spec.label not in header:
    raise DataError(f"{path}: label column {spec.label!r} not found in header{hint}")
  missing = [c for c in spec.kinds if c not in header]
  if missing:
    raise DataError(f"{path}: column {missing[0]!r} not found in header{hint}")
  if split_key and split_key not in header:
    raise DataError(f"{path}: split key column {split_key!r} (data.split_key) "
                    f"not found in header")


def check_same_columns(first_path: str, first: Sequence[str], path: str,
                       header: Sequence[str]) -> None:
  """Files of one data directory must have the same columns (in any order)."""
  only_here = [c for c in header if c not in first]
  only_there = [c for c in first if c not in header]
  if only_here or only_there:
    parts = [f"only in {path}: {', '.join(only_here)}" if only_here else "",
             f"only in {first_path}: {', '.join(only_there)}" if only_there else ""]
    raise DataError(f"{path}: header differs from {first_path} "
                    f"({'; '.join(p for p in parts if p)})")


class RowParser:
  """Turns the cells of one CSV record into typed values by column name."""

  def __init__(self, path: str, header: Sequence[str], spec: ColumnSpec):
    self._path = path
    self._null = set(spec.null_values) | {""}
    self._columns = [(i, name, spec.kinds[name]) for i, name in enumerate(header)
                     if name in spec.kinds]
    self._label_index = list(header).index(spec.label)
    self._width = len(header)

  def label_of(self, cells: Sequence[str]) -> Optional[str]:
    """The label as written, or None where it is missing."""
    value = cells[self._label_index].strip()
    return None if value in self._null else value

  def parse(self, cells: Sequence[str], where: str) -> Optional[Values]:
    """Typed values; None for a row without a label. `where` is 'file:line'."""
    if len(cells) != self._width:
      raise DataError(f"{where}: expected {self._width} fields, found {len(cells)}")
    if self.label_of(cells) is None:
      return None
    values: Values = {}
    for i, name, kind in self._columns:
      value = cells[i].strip()
      if value in self._null:
        values[name] = []
      elif kind == FLOAT:
        try:
          number = float(value)
        except ValueError:
          number = math.nan
        if not math.isfinite(number):  # 'nan' and 'inf' parse, but poison z-scores
          raise DataError(f"{where}: column {name!r}: value {value!r} is not a number")
        values[name] = [number]
      else:
        values[name] = [value.encode()]
    return values
