"""ExampleGen executor that reads CSV files with config-declared column kinds.

It plugs into TFX's FileBasedExampleGen, so the output layout, split names and
gzip TFRecords come from TFX. Reading and splitting are ours: every file goes
through the same reader, row parser and split function as the pre-flight check
(`survey.scan_file`), so Ingest writes exactly the splits the pre-flight printed,
and its errors name the file and line too. After writing, it checks the split
sizes and that the label gives the model two classes or more (on Kubeflow there is
no pre-flight), and records the sizes on the artifact.
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Dict, List

import apache_beam as beam
import tensorflow as tf
from absl import logging
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from tfx import types
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs

from components import example_gen_config
from components.csv_ingest import embedded_data, rows, spans, splits, survey
from components.errors import DataError

COUNTS_FILE = "split_counts.json"  # beside the Split-* directories
SPANS_FILE = "spans.json"  # which spans (and files) the examples were read from


def make_custom_config(columns: rows.ColumnSpec, split_spec: splits.SplitSpec,
                       code: str = "", window: spans.Window = spans.Window()
                       ) -> example_gen_pb2.CustomConfig:
  return example_gen_config.pack({"columns": columns.to_dict(), "splits": split_spec.to_dict(),
                                  "code": code, "spans": window.to_dict()})


def specs_from_exec_properties(
    exec_properties: Dict[str, Any]) -> tuple[rows.ColumnSpec, splits.SplitSpec]:
  d = example_gen_config.unpack(exec_properties)
  return rows.ColumnSpec.from_dict(d["columns"]), splits.SplitSpec.from_dict(d["splits"])


def to_example(values: rows.Values, kinds: Dict[str, str]) -> tf.train.Example:
  feature = {}
  for name, vals in values.items():
    if kinds[name] == rows.FLOAT:
      feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=vals))
    else:
      feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=vals))
  return tf.train.Example(features=tf.train.Features(feature=feature))


def examples_in_file(path: str, columns: rows.ColumnSpec) -> List[tf.train.Example]:
  """Every labelled row of one file as a tf.Example, in file order (all splits)."""
  spec = splits.SplitSpec(buckets=(("all", 1),))
  return [to_example(values, columns.kinds) for _, _, values in survey.scan_file(
      survey.FileSummary(path), columns, spec, splits.SplitCounts(spec))]


def read_spans_file(examples_uri: str) -> dict:
  """{"data_dir", "spans" (oldest first; [] for a flat directory), "files"}."""
  with fileio.open(os.path.join(examples_uri, SPANS_FILE), "r") as f:
    return json.loads(f.read())


def files_to_read(input_base: str, window: spans.Window) -> tuple[list[str], list[str]]:
  """survey.files_to_read through TFX's file system, so a gs:// data root works too."""
  if not fileio.isdir(input_base):
    raise DataError(f"{input_base}: data directory does not exist")
  found = spans.spans_in(input_base, fileio.listdir(input_base),
                         lambda name: fileio.isdir(os.path.join(input_base, name)))
  chosen = spans.select(input_base, found, window) if found else []
  files = []
  for directory in [os.path.join(input_base, s) for s in chosen] or [input_base]:
    found_files = sorted(fileio.glob(os.path.join(directory, survey.PATTERN)))
    if not found_files:
      raise DataError(f"{directory}: no files matching {survey.PATTERN!r}")
    files += found_files
  return chosen, files


def _open(path: str):
  return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


class _ReadCsvFile(beam.DoFn):
  """One file -> (split index, tf.Example) rows, plus the file's split counts."""

  def __init__(self, columns: rows.ColumnSpec, split_spec: splits.SplitSpec):
    self._columns, self._split_spec = columns, split_spec

  def process(self, path: str):
    counts = splits.SplitCounts(self._split_spec)
    summary = survey.FileSummary(path)
    for split, _, values in survey.scan_file(summary, self._columns, self._split_spec,
                                             counts, opener=_open):
      yield split, to_example(values, self._columns.kinds)
    if summary.rows == 0:
      raise DataError(f"{path}: no data rows with a label")
    yield beam.pvalue.TaggedOutput("counts", counts.to_dict())


class _MergeCounts:
  """Combines the files' split counts (a CombineGlobally function)."""

  def __init__(self, split_spec: splits.SplitSpec):
    self._spec = split_spec

  def __call__(self, dicts) -> dict:
    total = splits.SplitCounts(self._spec)
    for d in dicts:
      total.merge(splits.SplitCounts.from_dict(self._spec, d))
    return total.to_dict()


class Executor(BaseExampleGenExecutor):

  def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
    raise NotImplementedError("GenerateExamplesByBeam reads and splits the rows itself")

  def GenerateExamplesByBeam(self, pipeline: beam.Pipeline,
                             exec_properties: Dict[str, Any]) -> Dict[str, beam.PCollection]:
    columns, split_spec = specs_from_exec_properties(exec_properties)
    input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
    if not input_base:
      # A compiled pipeline run without a `data_dir` parameter: the embedded demo data.
      input_base = embedded_data.materialize(tempfile.mkdtemp(prefix="embedded-data-"))
    window = spans.Window.from_dict(example_gen_config.unpack(exec_properties).get("spans"))
    chosen, files = files_to_read(input_base, window)
    if chosen:
      logging.info("Ingest reads %s (%s)", spans.describe(chosen), window.describe())
    self._spans = {"data_dir": input_base, "spans": chosen, "files": files}
    # Header problems are found here, before any Beam work starts.
    survey.common_header(files, columns, split_spec.key, opener=_open)

    read = (pipeline
            | "Files" >> beam.Create(files)
            | "Spread" >> beam.Reshuffle()
            | "Read" >> beam.ParDo(_ReadCsvFile(columns, split_spec)).with_outputs(
                "counts", main="rows"))
    _ = (read.counts
         | "MergeCounts" >> beam.CombineGlobally(_MergeCounts(split_spec))
         | "CountsJson" >> beam.Map(json.dumps, sort_keys=True)
         | "WriteCounts" >> beam.io.WriteToText(self._counts_path, shard_name_template=""))
    parts = read.rows | "Split" >> beam.Partition(lambda r, n: r[0], len(split_spec.names))
    return {name: parts[i] | f"Examples[{name}]" >> beam.Map(lambda r: r[1])
            for i, name in enumerate(split_spec.names)}

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    examples = artifact_utils.get_single_instance(
        output_dict[standard_component_specs.EXAMPLES_KEY])
    self._counts_path = os.path.join(examples.uri, COUNTS_FILE)
    super().Do(input_dict, output_dict, exec_properties)
    with fileio.open(os.path.join(examples.uri, SPANS_FILE), "w") as f:
      f.write(json.dumps(self._spans, indent=2))
    # In MLMD too: which data a model saw is lineage.
    examples.set_json_value_custom_property("spans", self._spans["spans"])
    columns, split_spec = specs_from_exec_properties(exec_properties)
    with fileio.open(self._counts_path, "r") as f:
      counts = splits.SplitCounts.from_dict(split_spec, json.loads(f.read()))
    for split in split_spec.names:
      logging.info("Ingest split %s", counts.describe(split))
    files = self._spans["files"]
    counts.check_learnable(columns.label, files[0] if len(files) == 1
                           else self._spans["data_dir"])
    for warning in counts.check():  # raises for a split that is too small
      logging.warning("Ingest: %s", warning)
    examples.set_json_value_custom_property(
        "split_rows", {s: counts.total(s) for s in split_spec.names})
