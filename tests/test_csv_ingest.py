"""Ingest: typed CSV parsing, and the real ExampleGen executor on Beam."""
from __future__ import annotations

import collections
import glob
import json
import os

import pytest
import tensorflow as tf
from google.protobuf import message
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from components.csv_ingest import component, executor, rows, splits, survey
from components.errors import DataError

SPEC = rows.ColumnSpec(kinds={"x": rows.FLOAT, "city": rows.BYTES, "y": rows.BYTES,
                              "key": rows.BYTES}, label="y", null_values=("NA",))
HEADER = "key,x,city,unused,y\n"
TWO_SPLITS = splits.SplitSpec(buckets=(("train", 4), ("eval", 1)), key="key")


def _check(d, split_spec=TWO_SPLITS):
  return survey.survey(str(d), SPEC, split_spec)


def _write(tmp_path, text, name="a.csv"):
  d = tmp_path / "data"
  d.mkdir(exist_ok=True)
  (d / name).write_text(text)
  return d


def test_blank_and_na_are_missing_and_kinds_come_from_config(tmp_path):
  d = _write(tmp_path, HEADER + "k1,1.5,Paris,zz,1\nk2,NA,,zz,0\nk3,2,NA,zz,\n")
  examples = executor.examples_in_file(str(d / "a.csv"), SPEC)
  assert len(examples) == 2  # the row without a label is dropped
  first, second = (e.features.feature for e in examples)
  assert list(first["x"].float_list.value) == [1.5]
  assert list(first["city"].bytes_list.value) == [b"Paris"]
  assert "unused" not in first
  assert list(second["x"].float_list.value) == []
  assert list(second["city"].bytes_list.value) == []


def test_bad_number_names_file_line_column_and_value(tmp_path):
  d = _write(tmp_path, HEADER + "k1,1.5,Paris,zz,1\nk2,abc,Rome,zz,0\n")
  with pytest.raises(DataError) as e:
    _check(d)
  assert str(e.value) == f"{d / 'a.csv'}:3: column 'x': value 'abc' is not a number"


def test_short_row_is_reported(tmp_path):
  d = _write(tmp_path, HEADER + "k1,1.5,Paris\n")
  with pytest.raises(DataError, match=r"a.csv:2: expected 5 fields, found 3"):
    _check(d)


def test_file_with_header_only_has_no_data(tmp_path):
  d = _write(tmp_path, HEADER)
  with pytest.raises(DataError, match="a.csv: no data rows with a label"):
    _check(d)


def test_directory_without_csv_files(tmp_path):
  (tmp_path / "empty").mkdir()
  with pytest.raises(DataError, match="no files matching"):
    _check(tmp_path / "empty")


def _run_executor(data_dir, out_dir, split_spec=TWO_SPLITS):
  ingest = component.build(str(data_dir), SPEC, split_spec)
  props = {k: proto_utils.proto_to_json(v) if isinstance(v, message.Message) else v
           for k, v in ingest.exec_properties.items()}
  examples = standard_artifacts.Examples()
  examples.uri = str(out_dir)
  executor.Executor().Do({}, {"examples": [examples]}, props)
  return examples


def _read_split(uri, split):
  files = glob.glob(os.path.join(uri, f"Split-{split}", "*.gz"))
  assert files, f"no gzip TFRecords in Split-{split}"
  return [tf.train.Example.FromString(r.numpy())
          for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def test_executor_writes_the_splits_the_preflight_reports(tmp_path):
  lines = [HEADER] + [f"k{i % 40},{i},c{i % 3},zz,{i % 2}\n" for i in range(400)]
  d = _write(tmp_path, "".join(lines[:201]), "a.csv")
  _write(tmp_path, HEADER + "".join(lines[201:]), "b.csv")  # two files, two headers
  spec = splits.SplitSpec(buckets=(("train", 3), ("eval", 1), ("test", 1)), key="key",
                          min_rows=10, min_class_rows=1, per_class=True)
  examples = _run_executor(d, tmp_path / "out", spec)
  written = {s: _read_split(examples.uri, s) for s in ("train", "eval", "test")}
  assert sum(len(v) for v in written.values()) == 400
  keys = {s: {e.features.feature["key"].bytes_list.value[0] for e in v}
          for s, v in written.items()}
  # Rows sharing a key never straddle splits.
  assert not keys["train"] & keys["eval"] and not keys["train"] & keys["test"]
  assert not keys["eval"] & keys["test"]
  # The pre-flight's counts are exactly what Ingest wrote, per split and class.
  preflight = _check(d, spec).counts
  for split, examples_in_split in written.items():
    labels = collections.Counter(
        e.features.feature["y"].bytes_list.value[0].decode() for e in examples_in_split)
    assert labels == preflight.rows[split], split
  # ...and they are recorded, on the artifact and beside the splits.
  recorded = examples.get_json_value_custom_property("split_rows")
  assert {s: int(n) for s, n in recorded.items()} == {s: len(v) for s, v in written.items()}
  with open(os.path.join(examples.uri, executor.COUNTS_FILE)) as f:
    assert json.load(f) == preflight.to_dict()


def test_executor_refuses_a_split_that_is_too_small(tmp_path):
  """On Kubeflow there is no pre-flight: Ingest itself stops a run whose eval split
  is too small to judge a model on."""
  d = _write(tmp_path, HEADER + "".join(f"k{i % 3},{i},c,zz,{i % 2}\n" for i in range(200)))
  spec = splits.SplitSpec(buckets=(("train", 4), ("eval", 1)), key="key", min_rows=80)
  with pytest.raises(DataError, match=r"split '(train|eval)' has \d+ rows, fewer than "
                     r"data.min_split_rows \(80\): the split key 'key' has only 3 distinct"):
    _run_executor(d, tmp_path / "out", spec)


def test_executor_rejects_bad_values_without_a_preflight(tmp_path):
  """On Kubeflow there is no CLI pre-flight: the executor itself must say what is wrong."""
  d = _write(tmp_path, HEADER + "k1,1.5,Paris,zz,1\nk2,twelve,Rome,zz,0\n")
  with pytest.raises(Exception, match="column 'x': value 'twelve' is not a number"):
    _run_executor(d, tmp_path / "out")


def test_executor_refuses_a_label_of_one_class_without_a_preflight(tmp_path):
  """On Kubeflow there is no pre-flight: Ingest itself refuses a label that gives
  the model one class, naming the file, the label and the value it found."""
  d = _write(tmp_path, HEADER + "".join(f"k{i},{i},c,zz,yes\n" for i in range(200)))
  spec = splits.SplitSpec(buckets=(("train", 4), ("eval", 1)), key="key", per_class=True,
                          positive_class="yes")
  with pytest.raises(DataError, match=r"a.csv: label 'y' has a single value, 'yes' "
                     r"\(200 rows\): a binary task needs rows of both classes"):
    _run_executor(d, tmp_path / "out", spec)
