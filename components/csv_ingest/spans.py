"""Spans: fresh data arrives as <data_root>/<span>/*.csv, and a run reads a window.

A span is named by an integer (`7`) or a date (`2014-03`, `2014-03-31`); all spans
of one directory use one kind, and they are ordered by value, not by text (span
10 comes after span 9). A directory with CSV files directly in it is flat and has
no spans, as before. The pre-flight and Ingest both select through here, so the
run reads exactly the files the pre-flight checked. No TensorFlow import: the
callers list directories with their own file system (local, or TFX's fileio).
"""
from __future__ import annotations

import dataclasses
import datetime
import re
from typing import Optional, Sequence

from components.errors import DataError

_INTEGER = re.compile(r"^\d+$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclasses.dataclass(frozen=True)
class Window:
  """The newest N spans, or the spans from `first` to `last` (inclusive; either
  may be open); all spans when nothing is set."""
  newest: Optional[int] = None
  first: Optional[str] = None
  last: Optional[str] = None

  def to_dict(self) -> dict:
    return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

  @classmethod
  def from_dict(cls, d: Optional[dict]) -> "Window":
    d = dict(d or {})
    if d.get("newest") is not None:
      d["newest"] = int(d["newest"])  # JSON structs carry numbers as floats
    return cls(**d)

  def describe(self) -> str:
    if self.newest:
      return f"the newest {self.newest} span(s)"
    if self.first or self.last:
      return f"spans {self.first or '(first)'} to {self.last or '(last)'}"
    return "every span"


def _kind(name: str) -> Optional[str]:
  if _INTEGER.match(name):
    return "integer"
  if _MONTH.match(name) or _DAY.match(name):
    return "date"
  return None


def sort_key(name: str):
  """Integer spans by value; dates by day, a month counting as its first day."""
  if _INTEGER.match(name):
    return int(name)
  try:
    if _MONTH.match(name):
      year, month = map(int, _MONTH.match(name).groups())
      return datetime.date(year, month, 1)
    return datetime.date.fromisoformat(name)
  except ValueError:
    raise DataError(f"span {name!r} is not a valid date (YYYY-MM or YYYY-MM-DD)") from None


def spans_in(data_dir: str, entries: Sequence[str], is_span_dir) -> list[str]:
  """The spans of a data directory, oldest first; [] for a flat directory.

  entries: the names in data_dir; is_span_dir(name): whether that entry is a
  directory holding CSV files."""
  names = [e.rstrip("/") for e in entries]
  has_csv = any(n.lower().endswith(".csv") for n in names)
  spans = [n for n in names if _kind(n) and is_span_dir(n)]
  if has_csv and spans:
    raise DataError(f"{data_dir}: has both CSV files and span directories ({spans[0]}/); "
                    f"put every file in a span directory, or none")
  kinds = {_kind(s) for s in spans}
  if len(kinds) > 1:
    raise DataError(f"{data_dir}: spans mix integers and dates; use one kind of name")
  return sorted(spans, key=sort_key)


def select(data_dir: str, spans: Sequence[str], window: Window) -> list[str]:
  """The spans a run reads, oldest first (DataError when the window is empty)."""
  if window.newest:
    chosen = list(spans[-window.newest:])
  else:
    for bound in (window.first, window.last):
      if bound is not None and _kind(bound) != _kind(spans[0] if spans else bound):
        raise DataError(f"{data_dir}: span bound {bound!r} is not the same kind of name as "
                        f"the spans ({spans[0]}...)")
    low = sort_key(window.first) if window.first else None
    high = sort_key(window.last) if window.last else None
    chosen = [s for s in spans if (low is None or sort_key(s) >= low)
              and (high is None or sort_key(s) <= high)]
  if not chosen:
    found = f"{spans[0]} to {spans[-1]}" if spans else "none"
    raise DataError(f"{data_dir}: no span in {window.describe()} (spans found: {found})")
  return chosen


def describe(spans: Sequence[str]) -> str:
  if not spans:
    return "no spans (a flat directory)"
  if len(spans) == 1:
    return f"span {spans[0]}"
  return f"{len(spans)} spans, {spans[0]} to {spans[-1]}"
