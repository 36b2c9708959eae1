"""The drift gate on real TFDV statistics: monthly spans of the embedded taxi data,
checked against all of 2014 as the production model's training data."""
from __future__ import annotations

import collections
import csv
import dataclasses
import datetime
from pathlib import Path

import pytest
import tensorflow_data_validation as tfdv

from components import features
from components.config import PipelineConfig
from components.csv_ingest import embedded_data, rows
from components.errors import DataError
from components.drift_gate import check

COLUMNS = features.column_spec(PipelineConfig())
# Fixed by a monthly span itself (L-infinity 0.93 on every clean month).
EXEMPT = ("trip_start_month",)


def month_of(row: dict) -> str:
  stamp = datetime.datetime.fromtimestamp(int(row["trip_start_timestamp"]),
                                          datetime.timezone.utc)
  return stamp.strftime("%Y-%m")


def write_csv(path: Path, fields: list[str], records: list[dict]) -> str:
  path.parent.mkdir(parents=True, exist_ok=True)
  with open(path, "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=fields)
    writer.writeheader()
    writer.writerows(records)
  return str(path)


@dataclasses.dataclass
class Spans:
  root: Path
  fields: list[str]
  by_month: dict[str, list[dict]]

  def files(self, prefix: str) -> list[str]:
    return sorted(str(self.root / m / "data.csv") for m in self.by_month if m.startswith(prefix))

  def variant(self, month: str, name: str, change) -> str:
    """A copy of one month's span with `change(row)` applied to every row."""
    records = [dict(r) for r in self.by_month[month]]
    for r in records:
      change(r)
    return write_csv(self.root / f"{month}-{name}" / "data.csv", list(records[0]), records)


@pytest.fixture(scope="module")
def spans(tmp_path_factory) -> Spans:
  """<root>/<YYYY-MM>/data.csv for every month of the embedded data."""
  root = tmp_path_factory.mktemp("spans")
  data = Path(embedded_data.materialize(root / "all")) / "data.csv"
  with open(data, newline="") as f:
    reader = csv.DictReader(f)
    fields, by_month = list(reader.fieldnames), collections.defaultdict(list)
    for row in reader:
      by_month[month_of(row)].append(row)
  for month, records in by_month.items():
    write_csv(root / month / "data.csv", fields, records)
  return Spans(root, fields, dict(by_month))


@pytest.fixture(scope="module")
def production(spans):
  """(schema, statistics) of 2014, as SchemaGen and StatisticsGen would make them."""
  stats = check.span_statistics(spans.files("2014-"), COLUMNS)
  return tfdv.infer_schema(stats), stats


def gate(span: str, files: list[str], production, threshold=check.DEFAULT_THRESHOLD,
         columns=COLUMNS) -> list[str]:
  schema, stats = production
  return check.problems(span, check.span_statistics(files, columns), schema, stats, COLUMNS,
                        threshold, exempt=EXEMPT)


def test_clean_months_of_2015_pass(spans, production):
  months = [m for m in spans.by_month if m.startswith("2015-")]
  assert len(months) == 12
  for month in months:
    assert gate(month, spans.files(month), production) == []


def test_the_span_column_itself_would_always_drift(spans, production):
  schema, stats = production
  span_stats = check.span_statistics(spans.files("2015-06"), COLUMNS)
  found = check.problems("2015-06", span_stats, schema, stats, COLUMNS, check.DEFAULT_THRESHOLD)
  assert len(found) == 1 and "'trip_start_month'" in found[0], found


def test_a_collapsed_categorical_column_is_reported_alone(spans, production):
  def collapse(row):
    row["payment_type"] = "Credit Card"
  found = gate("2015-03", [spans.variant("2015-03", "collapsed", collapse)], production)
  assert len(found) == 1, found
  assert found[0].startswith("span 2015-03: column 'payment_type': distribution drifted "
                             "from the production model's training data (L-infinity distance 0.")
  distance = float(found[0].split("distance ")[1].split(" ")[0])
  assert distance > check.DEFAULT_THRESHOLD
  assert found[0].endswith(f"> threshold {check.DEFAULT_THRESHOLD:.2f})")


def test_a_flipped_label_is_reported(spans, production):
  def flip(row):
    row["big_tipper"] = "0" if row["big_tipper"] == "1" else "1"
  found = gate("2015-07", [spans.variant("2015-07", "flipped", flip)], production)
  assert len(found) == 1, found
  assert found[0].startswith("span 2015-07: column 'big_tipper' (the label): distribution drifted")


def test_collapse_to_the_majority_needs_a_lower_threshold(spans, production):
  """L-infinity of a collapse to the majority value is 1 - p(majority) (0.33 for
  payment_type 'Cash', 0.22 for label '0'): below the default, which has to pass
  the noisy 70-row months of 2016, but caught at 0.2 on 400-row months."""
  def cash(row):
    row["payment_type"] = "Cash"

  def no_tippers(row):
    row["big_tipper"] = "0"
  for name, change, column in (("cash", cash, "payment_type"), ("none", no_tippers, "big_tipper")):
    files = [spans.variant("2015-05", name, change)]
    assert gate("2015-05", files, production) == []
    found = gate("2015-05", files, production, threshold=0.2)
    assert len(found) == 1 and f"column {column!r}" in found[0], found


def test_statistics_come_from_the_values_ingest_writes(spans, tmp_path):
  records = [dict(r) for r in spans.by_month["2015-02"]]
  records[0]["fare"] = ""  # blank: no value
  records[1]["fare"] = "NA"  # a configured null value
  records[2]["big_tipper"] = ""  # no label: Ingest skips the row
  path = write_csv(tmp_path / "data.csv", spans.fields, records)
  stats = check.span_statistics([path], COLUMNS)
  by_name = {f.path.step[0]: f for f in stats.datasets[0].features}

  labelled = [r for r in records if r["big_tipper"]]
  fares = [float(r["fare"]) for r in labelled if r["fare"] not in ("", "NA")]
  assert stats.datasets[0].num_examples == len(labelled) == len(records) - 1
  fare = by_name["fare"]
  assert fare.num_stats.common_stats.tot_num_values == len(fares)
  # Ingest writes float32, so the mean matches to float32 precision.
  assert fare.num_stats.mean == pytest.approx(sum(fares) / len(fares), rel=1e-6)
  # A blank cell is an empty list, which TFDV counts as present.
  assert fare.num_stats.common_stats.num_non_missing == len(labelled)

  histogram = by_name["payment_type"].string_stats.rank_histogram
  payment = {b.label: b.sample_count for b in histogram.buckets}
  assert payment == collections.Counter(r["payment_type"] for r in labelled)


@pytest.mark.parametrize("column, renamed, message", [
    ("fare", "fare_usd", "column 'fare' not found in header"),
    ("big_tipper", "tipper", "label column 'big_tipper' not found in header"),
])
def test_a_renamed_column_or_label_is_refused_by_the_reader(spans, column, renamed, message):
  def rename(row):
    row[renamed] = row.pop(column)
  path = spans.variant("2015-08", f"renamed-{column}", rename)
  with pytest.raises(DataError) as e:
    check.span_statistics([path], COLUMNS)
  assert str(e.value) == f"{path}: {message}"


def test_text_in_a_numeric_column_is_refused_by_the_reader(spans):
  records = [dict(r) for r in spans.by_month["2015-09"]]
  records[4]["trip_miles"] = "3.2 mi"
  path = write_csv(spans.root / "2015-09-text" / "data.csv", spans.fields, records)
  with pytest.raises(DataError) as e:
    check.span_statistics([path], COLUMNS)
  # Line 6: the header, then the fifth record.
  assert str(e.value) == f"{path}:6: column 'trip_miles': value '3.2 mi' is not a number"


def test_a_config_change_since_production_reaches_the_gate(spans, production):
  """The reader types by today's config, so a column dropped from it, or switched
  between numeric and categorical, is caught by TFDV instead."""
  kinds = dict(COLUMNS.kinds)
  del kinds["fare"]
  kinds["trip_start_hour"] = rows.FLOAT
  changed = dataclasses.replace(COLUMNS, kinds=kinds)
  found = gate("2015-10", spans.files("2015-10"), production, columns=changed)
  assert found == ["span 2015-10: column 'fare' is missing",
                   "span 2015-10: column 'trip_start_hour' changed type: "
                   "Expected data of type: BYTES but got FLOAT"]
