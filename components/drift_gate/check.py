"""The drift gate: before a retraining run trains, every new span is compared with
the data the production model was trained on, and the run stops on a real change.

Inputs are what the production run left behind: its Schema (SchemaGen) and the
statistics of its train split (StatisticsGen), both computed on the tf.Examples
Ingest wrote. A span is read by the same code as Ingest (header check, then
`examples_in_file`), so the gate sees the typed values the next run would train on.
Its statistics are computed in memory, without Beam: ~400 rows take ~0.15 s.

What reaches the gate:
- A configured column missing from a span's header, and text in a numeric column,
  are refused by the reader with a DataError naming the file (and line) and the
  column, before any statistics exist. (`examples_in_file` alone does not check
  the header: it silently drops a missing feature and fails with a bare ValueError
  on a missing label, so `span_statistics` runs Ingest's header check first.)
- A missing column or a type change still reaches TFDV when the config changed
  since the production model was trained (a column dropped, or a kind switched
  between numeric and categorical), since the reader types values by the config.
- So the gate's own job is drift: an L-infinity comparator on every categorical
  column and on a categorical label. Numeric columns (coordinates included: the
  config declares them FLOAT) and a regression label get no comparator: L-infinity
  needs categories, and TFDV's Jensen-Shannon divergence on numeric histograms was
  too noisy on clean months (up to 0.75 on trip_miles, 0.40 on fare).

Columns whose value is fixed by the span itself (trip_start_month in a monthly
span: distance 0.93 on every clean month) must be passed as `exempt`.
"""
from __future__ import annotations

from typing import Iterable

import tensorflow_data_validation as tfdv
from absl import logging
from tensorflow_data_validation.statistics import stats_impl
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2
from tfx_bsl.coders import example_coder

from components.csv_ingest import rows, survey
from components.errors import DataError
from components.csv_ingest.executor import examples_in_file

_T = anomalies_pb2.AnomalyInfo.Type

# L-infinity distance of clean monthly spans of the embedded data against all of
# 2014 (measured, per categorical column, trip_start_month exempt): at most 0.121
# for the ~400-row months of 2015, but 0.282 (company, 2016-11, 57 rows) for the
# ~70-row months of 2016. 0.35 passes all 24 with a margin of 0.07 and catches a
# collapse to a minority value (payment_type all 'Credit Card': 0.678), a flipped
# label (0.558) or an all-'1' label (0.779). It misses a collapse to the majority
# value (payment_type all 'Cash': 0.329; label all '0': 0.221): the distance can
# be no larger than 1 - p(majority). With spans of >= ~400 rows, 0.2 catches those too.
DEFAULT_THRESHOLD = 0.35

# TFDV anomaly types that stop a run. Every other type (new categorical values,
# blank cells, value ranges of a checked-in schema...) is logged, not fatal.
MISSING = frozenset({_T.SCHEMA_MISSING_COLUMN, _T.FEATURE_TYPE_NOT_PRESENT,
                     _T.FEATURE_TYPE_LOW_NUMBER_PRESENT})
TYPE_CHANGED = frozenset({
    _T.UNEXPECTED_DATA_TYPE,  # what TFDV 1.21 reports for a FLOAT <-> BYTES switch
    _T.BOOL_TYPE_BYTES_NOT_INT, _T.BOOL_TYPE_BYTES_NOT_STRING, _T.BOOL_TYPE_FLOAT_NOT_INT,
    _T.BOOL_TYPE_FLOAT_NOT_STRING, _T.BOOL_TYPE_INT_NOT_STRING, _T.BOOL_TYPE_STRING_NOT_INT,
    _T.ENUM_TYPE_BYTES_NOT_STRING, _T.ENUM_TYPE_FLOAT_NOT_STRING, _T.ENUM_TYPE_INT_NOT_STRING,
    _T.FLOAT_TYPE_NOT_FLOAT, _T.FLOAT_TYPE_STRING_NOT_FLOAT, _T.FLOAT_TYPE_NON_STRING,
    _T.FLOAT_TYPE_UNKNOWN_TYPE_NUMBER, _T.INT_TYPE_INT_EXPECTED, _T.INT_TYPE_NOT_STRING,
    _T.INT_TYPE_STRING_EXPECTED, _T.INT_TYPE_UNKNOWN_TYPE_NUMBER,
    _T.STRING_TYPE_NOW_FLOAT, _T.STRING_TYPE_NOW_INT})
DRIFTED = frozenset({_T.COMPARATOR_L_INFTY_HIGH})


def span_statistics(files: list[str],
                    columns: rows.ColumnSpec) -> statistics_pb2.DatasetFeatureStatisticsList:
  """Statistics of one span's labelled rows, as StatisticsGen would compute them."""
  if not files:
    raise DataError("span has no CSV files")
  survey.common_header(files, columns, split_key=None)  # as Ingest does, see above
  serialized = []
  for path in files:
    examples = examples_in_file(path, columns)
    if not examples:
      raise DataError(f"{path}: no data rows with a label")
    serialized.extend(e.SerializeToString() for e in examples)
  batch = example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(serialized)
  # StatisticsGen's default options: the same rank histograms L-infinity reads.
  return stats_impl.generate_statistics_in_memory(batch, tfdv.StatsOptions())


def gate_schema(schema: schema_pb2.Schema, columns: rows.ColumnSpec, threshold: float,
                *, exempt: Iterable[str] = ()) -> schema_pb2.Schema:
  """A copy of the production schema with an L-infinity comparator on every
  categorical column (the label too), minus what a fresh span may legitimately
  break:
  - domains of categorical columns (string, int and bool domains): a new company
    or community area is expected, and the model has OOV buckets for it;
  - shapes, value counts and presence fractions: SchemaGen infers "exactly one
    value in every row" from data without blanks, and one blank cell in a span
    would break it. `presence.min_count` stays (at least 1), so a column that is
    absent from every row is still reported as missing.
  Features the config no longer uses are dropped: the next run does not read them."""
  gate = schema_pb2.Schema()
  gate.CopyFrom(schema)
  exempt = set(exempt)
  keep = [f for f in gate.feature if f.name in columns.kinds]
  del gate.feature[:]
  gate.feature.extend(keep)
  for feature in gate.feature:
    if feature.presence.min_fraction:
      feature.presence.min_fraction = 0.0
    feature.ClearField("shape")
    feature.ClearField("value_count")
    if columns.kinds[feature.name] == rows.BYTES:
      feature.ClearField("domain_info")
      feature.ClearField("distribution_constraints")
      if feature.name not in exempt:
        feature.drift_comparator.infinity_norm.threshold = threshold
  return gate


def problems(span: str, span_stats: statistics_pb2.DatasetFeatureStatisticsList,
             production_schema: schema_pb2.Schema,
             production_stats: statistics_pb2.DatasetFeatureStatisticsList,
             columns: rows.ColumnSpec, threshold: float,
             *, exempt: Iterable[str] = ()) -> list[str]:
  """One line per column that stops the run, in config order; empty if the span
  may be used. TFDV anomaly types map to: MISSING -> "is missing", TYPE_CHANGED
  -> "changed type", DRIFTED (COMPARATOR_L_INFTY_HIGH) -> "distribution drifted";
  all others are logged and ignored."""
  anomalies = tfdv.validate_statistics(
      span_stats, gate_schema(production_schema, columns, threshold, exempt=exempt),
      previous_statistics=production_stats)
  distance = {"/".join(d.path.step): m.value for d in anomalies.drift_skew_info
              for m in d.drift_measurements}
  lines = {}
  for name, info in anomalies.anomaly_info.items():
    what = f"column {name!r}" + (" (the label)" if name == columns.label else "")
    for reason in info.reason:
      if reason.type in MISSING:
        line = f"{what} is missing"
      elif reason.type in TYPE_CHANGED:
        line = f"{what} changed type: {reason.description}"
      elif reason.type in DRIFTED:
        line = (f"{what}: distribution drifted from the production model's training data "
                f"(L-infinity distance {distance[name]:.3f} > threshold {threshold:.2f})")
      else:
        logging.info("drift gate, span %s, column %r: ignored: %s", span, name,
                     reason.description)
        continue
      lines.setdefault(name, f"span {span}: {line}")  # the first stopping reason
  order = {name: i for i, name in enumerate(columns.kinds)}
  return [lines[n] for n in sorted(lines, key=lambda n: (order.get(n, len(order)), n))]
