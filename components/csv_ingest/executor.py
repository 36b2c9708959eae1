"""ExampleGen executor that reads CSV files with config-declared column kinds.

It plugs into TFX's FileBasedExampleGen, so span/version handling, hash splits by
a key column and gzip TFRecord output all come from TFX itself.
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Dict

import apache_beam as beam
from google.protobuf import json_format
from google.protobuf import struct_pb2
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs

from components.csv_ingest import rows
from pipelines import default_data


def column_spec_from_exec_properties(exec_properties: Dict[str, Any]) -> rows.ColumnSpec:
  custom = example_gen_pb2.CustomConfig()
  json_format.Parse(exec_properties[standard_component_specs.CUSTOM_CONFIG_KEY], custom)
  struct = struct_pb2.Struct()
  custom.custom_config.Unpack(struct)
  return rows.ColumnSpec.from_dict(json_format.MessageToDict(struct))


class _ParseLines(beam.DoFn):

  def __init__(self, path, header, spec):
    self._args = (path, header, spec)
    self._parser = None

  def setup(self):
    self._parser = rows.RowParser(*self._args)

  def process(self, line):
    example = self._parser.parse(line)
    if example is not None:
      yield example


@beam.ptransform_fn
def _CsvToExample(pipeline: beam.Pipeline, exec_properties: Dict[str, Any],
                  split_pattern: str) -> beam.pvalue.PCollection:
  spec = column_spec_from_exec_properties(exec_properties)
  input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
  if not input_base:
    # A compiled pipeline run without a `data_dir` parameter: the embedded demo data.
    input_base = default_data.materialize(tempfile.mkdtemp(prefix="embedded-data-"))
  files = sorted(fileio.glob(os.path.join(input_base, split_pattern)))
  if not files:
    raise rows.DataError(f"{input_base}: no files matching {split_pattern!r}")
  per_file = []
  for i, path in enumerate(files):
    header = rows.read_header(path, spec)
    per_file.append(
        pipeline
        | f"Read[{i}]" >> beam.io.ReadFromText(path, skip_header_lines=1)
        | f"Parse[{i}]" >> beam.ParDo(_ParseLines(path, header, spec)))
  return per_file | "Flatten" >> beam.Flatten()


class Executor(BaseExampleGenExecutor):

  def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
    return _CsvToExample


def make_custom_config(spec: rows.ColumnSpec) -> example_gen_pb2.CustomConfig:
  struct = struct_pb2.Struct()
  struct.update(json.loads(json.dumps(spec.to_dict())))
  custom = example_gen_pb2.CustomConfig()
  custom.custom_config.Pack(struct)
  return custom
