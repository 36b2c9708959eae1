"""Factory for the ingest step: FileBasedExampleGen with our CSV executor."""
from __future__ import annotations

from tfx.components import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

from components.csv_ingest import executor, rows, splits, survey


def csv_ingest(input_base: str, columns: rows.ColumnSpec, split_spec: splits.SplitSpec,
               code: str = "") -> FileBasedExampleGen:
  """`code`: a digest of the executor's code, so that TFX's cache (keyed on the
  step's properties) reruns Ingest when that code changes."""
  # The hash buckets name TFX's output splits; the executor splits rows itself
  # (no partition_feature_name), with the same function as the pre-flight check.
  output_config = example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(
      splits=[example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=n)
              for name, n in split_spec.buckets]))
  return FileBasedExampleGen(
      input_base=input_base,
      input_config=example_gen_pb2.Input(
          splits=[example_gen_pb2.Input.Split(name="single_split", pattern=survey.PATTERN)]),
      output_config=output_config,
      custom_config=executor.make_custom_config(columns, split_spec, code),
      custom_executor_spec=executor_spec.BeamExecutorSpec(executor.Executor))
