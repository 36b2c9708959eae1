"""ExampleGen executor that tabulates a simulator: every point solved in parallel
with Beam, written as gzip TFRecords in TFX's Examples layout, like any ingest.

Beside the splits it writes grid.json (what was solved, and how long the solver
took per point, which the speed-up of the model is measured against) and an
empty spans.json, so that steps reading spans treat it as one fixed dataset.
"""
from __future__ import annotations

import json
import os
import time
from typing import Any, Dict, List

import apache_beam as beam
import tensorflow as tf
from tfx import types
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs

from components import example_gen_config, progress, simulators
from components.csv_ingest.executor import SPANS_FILE
from components.simulator_ingest.plan import Plan

GRID_FILE = "grid.json"
_TIMES = "solve_times.json"
_say = progress.speaker("ingest")


def make_custom_config(plan: Plan, code: str = "") -> example_gen_pb2.CustomConfig:
  return example_gen_config.pack({"plan": plan.to_dict(), "code": code})


def plan_from_exec_properties(exec_properties: Dict[str, Any]) -> Plan:
  return Plan.from_dict(example_gen_config.unpack(exec_properties)["plan"])


def read_grid_file(examples_uri: str) -> dict:
  with fileio.open(os.path.join(examples_uri, GRID_FILE), "r") as f:
    return json.loads(f.read())


class _SolveChunk(beam.DoFn):
  """(part, start, stop) -> (split, tf.Example) for every point, plus its timing."""

  def __init__(self, plan: Plan, chunks: int):
    self._plan, self._chunks = plan, chunks

  def setup(self):
    self._simulator = simulators.get(self._plan.simulator, self._plan.output)

  def process(self, chunk):
    part, start, stop = chunk
    points = self._plan.points(part, start, stop)
    began = time.perf_counter()
    values = self._simulator.solve_points(points)
    seconds = time.perf_counter() - began
    # Progress inside the longest part of the step (stdout reaches the console).
    _say(f"{self._plan.simulator}: solved {part} points {start:,}-{stop - 1:,} "
         f"({1e3 * seconds / (stop - start):.2f} ms per point; {self._chunks} chunks in all)")
    names = list(points)
    for i in range(stop - start):
      feature = {n: tf.train.Feature(float_list=tf.train.FloatList(value=[points[n][i]]))
                 for n in names}
      feature[self._plan.output] = tf.train.Feature(
          float_list=tf.train.FloatList(value=[values[i]]))
      example = tf.train.Example(features=tf.train.Features(feature=feature))
      for split in self._plan.splits_of(part, start + i):
        yield split, example
    yield beam.pvalue.TaggedOutput("times", (stop - start, seconds))


class Executor(BaseExampleGenExecutor):

  def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
    raise NotImplementedError("GenerateExamplesByBeam solves the points itself")

  def GenerateExamplesByBeam(self, pipeline: beam.Pipeline,
                             exec_properties: Dict[str, Any]) -> Dict[str, beam.PCollection]:
    plan = plan_from_exec_properties(exec_properties)
    plan.check()
    chunks = list(plan.chunks())
    solved = (pipeline
              | "Chunks" >> beam.Create(chunks)
              | "Spread" >> beam.Reshuffle()
              | "Solve" >> beam.ParDo(_SolveChunk(plan, len(chunks))).with_outputs(
                  "times", main="examples"))
    _ = (solved.times
         | "SumTimes" >> beam.CombineGlobally(lambda ts: [sum(c) for c in zip(*ts)] or [0, 0])
         | "TimesJson" >> beam.Map(json.dumps)
         | "WriteTimes" >> beam.io.WriteToText(self._times_path, shard_name_template=""))
    names = ("train", "eval")
    parts = solved.examples | "Split" >> beam.Partition(lambda r, n: names.index(r[0]), 2)
    return {name: parts[i] | f"Examples[{name}]" >> beam.Map(lambda r: r[1])
            for i, name in enumerate(names)}

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    examples = artifact_utils.get_single_instance(
        output_dict[standard_component_specs.EXAMPLES_KEY])
    self._times_path = os.path.join(examples.uri, _TIMES)
    super().Do(input_dict, output_dict, exec_properties)
    plan = plan_from_exec_properties(exec_properties)
    with fileio.open(self._times_path, "r") as f:
      points, seconds = json.loads(f.read())
    fileio.remove(self._times_path)
    grid = {**plan.to_dict(), "points": int(points), "solve_seconds": seconds,
            "ms_per_point": 1e3 * seconds / max(points, 1), "description": plan.describe()}
    with fileio.open(os.path.join(examples.uri, GRID_FILE), "w") as f:
      f.write(json.dumps(grid, indent=2))
    with fileio.open(os.path.join(examples.uri, SPANS_FILE), "w") as f:
      f.write(json.dumps({"data_dir": f"simulator:{plan.simulator}", "spans": [],
                          "files": []}, indent=2))
    examples.set_json_value_custom_property("spans", [])
    examples.set_json_value_custom_property("grid", grid)
