"""Factory for the ingest step: FileBasedExampleGen with our CSV executor."""
from __future__ import annotations

from typing import Optional

from tfx.components import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

from components.csv_ingest import executor, rows


def csv_ingest(input_base: str, spec: rows.ColumnSpec, *, split_key: Optional[str],
               train_buckets: int, eval_buckets: int,
               test_buckets: int = 0) -> FileBasedExampleGen:
  splits = [example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=train_buckets),
            example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=eval_buckets)]
  if test_buckets:
    splits.append(example_gen_pb2.SplitConfig.Split(name="test", hash_buckets=test_buckets))
  output_config = example_gen_pb2.Output(
      split_config=example_gen_pb2.SplitConfig(
          splits=splits, partition_feature_name=split_key or ""))
  return FileBasedExampleGen(
      input_base=input_base,
      input_config=example_gen_pb2.Input(
          splits=[example_gen_pb2.Input.Split(name="single_split", pattern="*.csv")]),
      output_config=output_config,
      custom_config=executor.make_custom_config(spec),
      custom_executor_spec=executor_spec.BeamExecutorSpec(executor.Executor))
