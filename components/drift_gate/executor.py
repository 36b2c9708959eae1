"""The DriftGate step's work: each span production has not seen, against
production's training data. Only such spans are checked; with no production
model, or a flat data directory, there is nothing to compare and the gate passes.
The report (drift.json) is written either way; a problem fails the step.
"""
from __future__ import annotations

import json
import os

import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2
from google.protobuf import text_format

from components import features, progress
from components.config import PipelineConfig
from components.errors import DataError
from components.csv_ingest.executor import read_spans_file
from components.drift_gate import check
from components.registry import production as production_lib

REPORT_FILE = "drift.json"
_say = progress.speaker("drift-gate")


def _read_production_data(model_uri: str):
  served = production_lib.serving_dir(model_uri)
  schema = schema_pb2.Schema()
  with tf.io.gfile.GFile(os.path.join(served, production_lib.SCHEMA_FILE)) as f:
    text_format.Parse(f.read(), schema)
  stats = statistics_pb2.DatasetFeatureStatisticsList()
  with tf.io.gfile.GFile(os.path.join(served, production_lib.STATISTICS_FILE), "rb") as f:
    stats.ParseFromString(f.read())
  return schema, stats


def run(examples_uri: str, production_uri: str, report_uri: str, cfg: PipelineConfig) -> None:
  read = read_spans_file(examples_uri)
  entry = production_lib.read(production_uri)
  new = [s for s in read["spans"] if s not in set(entry.get("spans", []))]
  result = {"production_version": entry.get("version"), "checked": [], "problems": []}
  if not entry or not new:
    _say("nothing to check: " + ("no production model yet" if not entry else
                                 "no span that production has not seen"))
  else:
    schema, stats = _read_production_data(production_uri)
    columns = features.column_spec(cfg)
    r = cfg.retrain
    for span in new:
      files = [f for f in read["files"] if os.path.basename(os.path.dirname(f)) == span]
      found = check.problems(span, check.span_statistics(files, columns), schema, stats,
                             columns, r.drift_threshold, exempt=r.drift_exempt)
      _say(f"span {span}: " + ("; ".join(found) if found else "no drift"))
      result["checked"].append(span)
      result["problems"] += found
  os.makedirs(report_uri, exist_ok=True)
  with open(os.path.join(report_uri, REPORT_FILE), "w") as f:
    json.dump(result, f, indent=2)
  if result["problems"]:
    more = len(result["problems"]) - 1
    raise DataError(result["problems"][0] + (f" (and {more} more: {report_uri})" if more else "")
                    + " -- compared with production version "
                    f"{entry['version']}'s training data; see retrain.drift_threshold")
