"""The data pre-flight: read every row of a CSV directory the way Ingest will, and
report what a run would see (files, encodings, columns, split sizes, class
balance), or the first problem as one line. No TensorFlow, TFX or Beam import:
`tpctl check` and the start of `tpctl run` answer in about a second.
"""
from __future__ import annotations

import dataclasses
import glob
import os
from typing import Optional, Sequence

from components.csv_ingest import reader, rows, spans, splits
from components.errors import DataError

PATTERN = "*.csv"


def csv_files(data_dir: str, pattern: str = PATTERN) -> list[str]:
  """The CSV files of a local data directory, or a DataError saying why there are none."""
  if not os.path.isdir(data_dir):
    raise DataError(f"{data_dir}: data directory does not exist")
  files = sorted(glob.glob(os.path.join(data_dir, pattern)))
  if not files:
    raise DataError(f"{data_dir}: no files matching {pattern!r}")
  return files


def files_to_read(data_dir: str, window: spans.Window = spans.Window()
                  ) -> tuple[list[str], list[str]]:
  """(the spans in the window, oldest first, or [] for a flat directory; their CSV files)."""
  if not os.path.isdir(data_dir):
    raise DataError(f"{data_dir}: data directory does not exist")
  found = spans.spans_in(data_dir, os.listdir(data_dir),
                         lambda name: os.path.isdir(os.path.join(data_dir, name)))
  if not found:
    return [], csv_files(data_dir)
  chosen = spans.select(data_dir, found, window)
  return chosen, [f for span in chosen for f in csv_files(os.path.join(data_dir, span))]


def common_header(files: Sequence[str], columns: rows.ColumnSpec, split_key: Optional[str],
                  opener: Optional[reader.Opener] = None) -> list[str]:
  """The header of the first file, after checking every file's header against the
  config and against the first file."""
  first: Optional[list[str]] = None
  for path in files:
    with reader.CsvFile(path, opener) as f:
      if first is None:
        rows.check_header(path, f.header, columns, split_key)
        first = f.header
      else:  # the same columns as the first file, hence the configured ones too
        rows.check_same_columns(files[0], first, path, f.header)
  assert first is not None, "no files"
  return first


@dataclasses.dataclass
class FileSummary:
  path: str
  encoding: str = ""
  rows: int = 0  # labelled rows, the ones Ingest keeps
  unlabelled: int = 0  # rows skipped because the label is missing


@dataclasses.dataclass
class DataSummary:
  data_dir: str
  header: list[str]
  files: list[FileSummary]
  counts: splits.SplitCounts
  warnings: list[str]
  spans: list[str] = dataclasses.field(default_factory=list)  # [] for a flat directory

  @property
  def rows(self) -> int:
    return sum(f.rows for f in self.files)


def scan_file(summary: FileSummary, columns: rows.ColumnSpec, split_spec: splits.SplitSpec,
              counts: splits.SplitCounts, opener: Optional[reader.Opener] = None):
  """Parses every record of one file into `counts` and `summary`; yields
  (split index, label, typed values) for each labelled row."""
  path = summary.path
  with reader.CsvFile(path, opener) as f:
    summary.encoding = f.encoding
    parser = rows.RowParser(path, f.header, columns)
    splitter = splits.Splitter(split_spec, f.header, columns.null_values)
    for line, cells in f.records():
      values = parser.parse(cells, f.where(line))
      if values is None:
        summary.unlabelled += 1
        continue
      split, label = splitter.split_of(cells), parser.label_of(cells)
      counts.add(split, label, splitter.key_of(cells))
      summary.rows += 1
      yield split, label, values


def survey(data_dir: str, columns: rows.ColumnSpec, split_spec: splits.SplitSpec,
           window: spans.Window = spans.Window()) -> DataSummary:
  """Reads every row (of the spans in the window), raising DataError at the first
  bad one or for a split that is too small; returns what was found."""
  chosen, files = files_to_read(data_dir, window)
  header = common_header(files, columns, split_spec.key)
  counts = splits.SplitCounts(split_spec)
  summaries = []
  for path in files:
    summary = FileSummary(path)
    for _ in scan_file(summary, columns, split_spec, counts):
      pass
    if summary.rows == 0:
      raise DataError(f"{path}: no data rows with a label")
    summaries.append(summary)
  counts.check_learnable(columns.label, files[0] if len(files) == 1 else data_dir)
  warnings = counts.check()
  return DataSummary(data_dir, header, summaries, counts, warnings, chosen)
