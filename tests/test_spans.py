"""Span windows: which span directories a run reads, as the pre-flight and Ingest see them."""
from __future__ import annotations

import pytest

from components.csv_ingest import spans, survey
from components.errors import DataError
from components.config import ConfigError, load_config
from pipelines import preflight

HEADER = "a,b\n"


def _tree(root, names, rows="1,2\n"):
  for name in names:
    (root / name).mkdir(parents=True, exist_ok=True)
    (root / name / "part.csv").write_text(HEADER + rows)
  return root


def test_integer_spans_are_ordered_by_value_not_text(tmp_path):
  _tree(tmp_path, ["9", "10", "2"])
  chosen, files = survey.files_to_read(str(tmp_path), spans.Window(newest=2))
  assert chosen == ["9", "10"]
  assert [f.split("/")[-2] for f in files] == ["9", "10"]


def test_dates_by_month_or_day_and_an_inclusive_range(tmp_path):
  _tree(tmp_path, ["2014-01", "2014-02", "2014-03", "2014-04"])
  chosen, _ = survey.files_to_read(str(tmp_path), spans.Window(first="2014-02", last="2014-03"))
  assert chosen == ["2014-02", "2014-03"]
  assert survey.files_to_read(str(tmp_path), spans.Window(first="2014-03"))[0] == [
      "2014-03", "2014-04"]
  assert survey.files_to_read(str(tmp_path))[0] == ["2014-01", "2014-02", "2014-03", "2014-04"]


def test_a_flat_directory_has_no_spans_and_reads_as_before(tmp_path):
  (tmp_path / "data.csv").write_text(HEADER + "1,2\n")
  (tmp_path / "notes").mkdir()  # a directory that is not a span is not data
  chosen, files = survey.files_to_read(str(tmp_path), spans.Window(newest=3))
  assert chosen == [] and files == [str(tmp_path / "data.csv")]


@pytest.mark.parametrize("names, files, message", [
    (["2014-01", "7"], [], "spans mix integers and dates"),
    (["2014-13"], [], "'2014-13' is not a valid date"),
    (["2014-01"], ["data.csv"], "has both CSV files and span directories (2014-01/)"),
])
def test_ambiguous_layouts_are_refused_naming_the_directory(tmp_path, names, files, message):
  _tree(tmp_path, names)
  for name in files:
    (tmp_path / name).write_text(HEADER)
  with pytest.raises(DataError) as e:
    survey.files_to_read(str(tmp_path), spans.Window(newest=1))
  assert message in str(e.value)


def test_an_empty_window_says_which_spans_exist(tmp_path):
  _tree(tmp_path, ["2014-01", "2014-02"])
  with pytest.raises(DataError, match=r"no span in spans 2015-01 to \(last\) "
                                      r"\(spans found: 2014-01 to 2014-02\)"):
    survey.files_to_read(str(tmp_path), spans.Window(first="2015-01"))


def test_a_span_without_csv_files_is_named(tmp_path):
  _tree(tmp_path, ["1"])
  (tmp_path / "2").mkdir()
  with pytest.raises(DataError, match=r"/2: no files matching '\*.csv'"):
    survey.files_to_read(str(tmp_path), spans.Window(newest=2))


def test_config_refuses_two_kinds_of_window():
  with pytest.raises(ConfigError, match="data.spans: give newest, or first/last, not both"):
    load_config(overrides={"data.spans": {"newest": 2, "first": "2014-01"}})


def test_preflight_reads_only_the_window_and_says_so(tmp_path, taxi_slice):
  rows = (taxi_slice / "data.csv").read_text().splitlines(keepends=True)
  header, body = rows[0], rows[1:]
  for i, name in enumerate(["2014-01", "2014-02", "2014-03"]):
    (tmp_path / name).mkdir()
    (tmp_path / name / "data.csv").write_text(header + "".join(body[i * 600:(i + 1) * 600]))
  config = load_config(overrides={"data.dir": str(tmp_path), "data.spans": {"newest": 2}})
  summary = preflight.check(config, str(tmp_path))
  assert summary.spans == ["2014-02", "2014-03"]
  assert summary.rows == 1200
  assert preflight.split_lines(config, summary)[0] == (
      "spans: 2 spans, 2014-02 to 2014-03 (the newest 2 span(s))")
