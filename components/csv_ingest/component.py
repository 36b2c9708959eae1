"""Factory for the ingest step: FileBasedExampleGen with our CSV executor."""
from __future__ import annotations

import os

from tfx.components import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

from components.csv_ingest import executor, rows, spans, splits, survey
from components.errors import DataError


def _fingerprint_pattern(input_base) -> str:
  """The files TFX fingerprints to key its cache: with span directories, those in
  every span, so that a new span reruns Ingest. (A Kubeflow run parameter is not
  known here; Kubeflow runs are not cached.)"""
  if isinstance(input_base, str) and os.path.isdir(input_base):
    try:
      if survey.files_to_read(input_base)[0]:
        return "*/" + survey.PATTERN
    except DataError:  # reported, with its file, by the pre-flight and by Ingest
      return survey.PATTERN
  return survey.PATTERN


def build(input_base: str, columns: rows.ColumnSpec, split_spec: splits.SplitSpec,
               code: str = "", window: spans.Window = spans.Window()) -> FileBasedExampleGen:
  """`code`: a digest of the executor's code, so that TFX's cache (keyed on the
  step's properties) reruns Ingest when that code changes. `window`: which spans
  to read, when input_base holds span directories."""
  # The hash buckets name TFX's output splits; the executor splits rows itself
  # (no partition_feature_name), with the same function as the pre-flight check.
  output_config = example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(
      splits=[example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=n)
              for name, n in split_spec.buckets]))
  return FileBasedExampleGen(
      input_base=input_base,
      input_config=example_gen_pb2.Input(
          splits=[example_gen_pb2.Input.Split(name="single_split", pattern=_fingerprint_pattern(input_base))]),
      output_config=output_config,
      custom_config=executor.make_custom_config(columns, split_spec, code, window),
      custom_executor_spec=executor_spec.BeamExecutorSpec(executor.Executor))
