"""Factory for the ingest step when the data is labelled images: TFX's
QueryBasedExampleGen (the images are listed by the executor) with our executor."""
from __future__ import annotations

from tfx.components.example_gen.component import QueryBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

from components.csv_ingest.splits import SplitSpec
from components.image_ingest import executor
from components.image_ingest.listing import Source


def build(source: Source, split_spec: SplitSpec, image_column: str, label_column: str,
                 code: str = "") -> QueryBasedExampleGen:
  """`code`: a digest of the executor's code, which keys TFX's cache. The source's
  description stands in for the query, so it shows in MLMD and the compiled spec."""
  return QueryBasedExampleGen(
      input_config=example_gen_pb2.Input(splits=[
          example_gen_pb2.Input.Split(name="single_split", pattern=source.describe())]),
      output_config=example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(
          splits=[example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=buckets)
                  for name, buckets in split_spec.buckets])),
      custom_config=executor.make_custom_config(source, split_spec, image_column,
                                                label_column, code),
      custom_executor_spec=executor_spec.BeamExecutorSpec(executor.Executor))
