"""Factory for the ingest step when the data is a simulator's grid: TFX's
QueryBasedExampleGen (no input files to fingerprint) with our executor."""
from __future__ import annotations

from tfx.components.example_gen.component import QueryBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

from components.simulator_ingest import executor
from components.simulator_ingest.plan import Plan


def build(plan: Plan, code: str = "") -> QueryBasedExampleGen:
  """`code`: a digest of the executor's code, which keys TFX's cache. The plan's
  description stands in for the query, so it shows in MLMD and the compiled spec."""
  return QueryBasedExampleGen(
      input_config=example_gen_pb2.Input(splits=[
          example_gen_pb2.Input.Split(name="single_split", pattern=plan.describe())]),
      output_config=example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(
          splits=[example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=1),
                  example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1)])),
      custom_config=executor.make_custom_config(plan, code),
      custom_executor_spec=executor_spec.BeamExecutorSpec(executor.Executor))
