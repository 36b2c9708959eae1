"""The DriftGate TFX component: new spans against production's training data.

It runs after Ingest and before Transform (so before the Tuner and Trainer), and
fails the run with one line naming the span and the column. Only spans that the
production model has not seen are checked; with no production model, or a flat
data directory, there is nothing to compare and the gate passes.

(No `from __future__ import annotations`: TFX reads the real annotations.)
"""

import json
import os

import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2
from google.protobuf import text_format
from tfx import v1 as tfx
from tfx.types import standard_artifacts

from components import features
from components.config import PipelineConfig
from components.errors import DataError
from components.csv_ingest.executor import read_spans_file
from components.drift_gate import check
from components.registry import production as production_lib

REPORT_FILE = "drift.json"


def _read_production_data(model_uri: str):
  served = production_lib.serving_dir(model_uri)
  schema = schema_pb2.Schema()
  with tf.io.gfile.GFile(os.path.join(served, production_lib.SCHEMA_FILE)) as f:
    text_format.Parse(f.read(), schema)
  stats = statistics_pb2.DatasetFeatureStatisticsList()
  with tf.io.gfile.GFile(os.path.join(served, production_lib.STATISTICS_FILE), "rb") as f:
    stats.ParseFromString(f.read())
  return schema, stats


@tfx.dsl.components.component
def DriftGate(
    examples: tfx.dsl.components.InputArtifact[standard_artifacts.Examples],
    production: tfx.dsl.components.InputArtifact[standard_artifacts.Model],
    report: tfx.dsl.components.OutputArtifact[standard_artifacts.ExampleAnomalies],
    config: tfx.dsl.components.Parameter[str],
) -> None:
  cfg = PipelineConfig.from_json(config)
  say = lambda msg: print(f"[drift-gate] {msg}", flush=True)  # noqa: E731
  read = read_spans_file(examples.uri)
  entry = production_lib.read(production.uri)
  new = [s for s in read["spans"] if s not in set(entry.get("spans", []))]
  result = {"production_version": entry.get("version"), "checked": [], "problems": []}
  if not entry or not new:
    say("nothing to check: " + ("no production model yet" if not entry else
                                "no span that production has not seen"))
  else:
    schema, stats = _read_production_data(production.uri)
    columns = features.column_spec(cfg)
    r = cfg.retrain
    for span in new:
      files = [f for f in read["files"] if os.path.basename(os.path.dirname(f)) == span]
      found = check.problems(span, check.span_statistics(files, columns), schema, stats,
                             columns, r.drift_threshold, exempt=r.drift_exempt)
      say(f"span {span}: " + ("; ".join(found) if found else "no drift"))
      result["checked"].append(span)
      result["problems"] += found
  os.makedirs(report.uri, exist_ok=True)
  with open(os.path.join(report.uri, REPORT_FILE), "w") as f:
    json.dump(result, f, indent=2)
  if result["problems"]:
    more = len(result["problems"]) - 1
    raise DataError(result["problems"][0] + (f" (and {more} more: {report.uri})" if more else "")
                    + " -- compared with production version "
                    f"{entry['version']}'s training data; see retrain.drift_threshold")
