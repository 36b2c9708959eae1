"""Ingest: typed CSV parsing, and the real ExampleGen executor on Beam."""
from __future__ import annotations

import glob
import os

import pytest
import tensorflow as tf
from google.protobuf import message
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from components.csv_ingest import component, executor, rows
from components.csv_ingest.errors import DataError

SPEC = rows.ColumnSpec(kinds={"x": rows.FLOAT, "city": rows.BYTES, "y": rows.BYTES,
                              "key": rows.BYTES}, label="y", null_values=("NA",))
HEADER = "key,x,city,unused,y\n"


def _write(tmp_path, text, name="a.csv"):
  d = tmp_path / "data"
  d.mkdir(exist_ok=True)
  (d / name).write_text(text)
  return d


def test_blank_and_na_are_missing_and_kinds_come_from_config(tmp_path):
  d = _write(tmp_path, HEADER + "k1,1.5,Paris,zz,1\nk2,NA,,zz,0\nk3,2,NA,zz,\n")
  examples = list(rows.iter_file(str(d / "a.csv"), SPEC))
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
    rows.check_data_dir(str(d), SPEC)
  assert str(e.value) == f"{d / 'a.csv'}:3: column 'x': value 'abc' is not a number"


def test_short_row_is_reported(tmp_path):
  d = _write(tmp_path, HEADER + "k1,1.5,Paris\n")
  with pytest.raises(DataError, match=r"a.csv:2: expected 5 fields, found 3"):
    rows.check_data_dir(str(d), SPEC)


def test_file_with_header_only_has_no_data(tmp_path):
  d = _write(tmp_path, HEADER)
  with pytest.raises(DataError, match="a.csv: no data rows with a label"):
    rows.check_data_dir(str(d), SPEC)


def test_directory_without_csv_files(tmp_path):
  (tmp_path / "empty").mkdir()
  with pytest.raises(DataError, match="no files matching"):
    rows.check_data_dir(str(tmp_path / "empty"), SPEC)


def _run_executor(data_dir, out_dir, **split):
  ingest = component.csv_ingest(str(data_dir), SPEC, split_key="key", **split)
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


def test_executor_writes_gzip_splits_hashed_by_key(tmp_path):
  lines = [HEADER] + [f"k{i % 40},{i},c{i % 3},zz,{i % 2}\n" for i in range(400)]
  d = _write(tmp_path, "".join(lines[:201]), "a.csv")
  _write(tmp_path, HEADER + "".join(lines[201:]), "b.csv")  # two files, two headers
  examples = _run_executor(d, tmp_path / "out", train_buckets=3, eval_buckets=1,
                           test_buckets=1)
  splits = {s: _read_split(examples.uri, s) for s in ("train", "eval", "test")}
  assert sum(len(v) for v in splits.values()) == 400
  keys = {s: {e.features.feature["key"].bytes_list.value[0] for e in v}
          for s, v in splits.items()}
  # Rows sharing a key never straddle splits.
  assert not keys["train"] & keys["eval"] and not keys["train"] & keys["test"]
  assert not keys["eval"] & keys["test"]
  assert len(splits["train"]) > len(splits["eval"])


def test_executor_rejects_bad_values_without_a_preflight(tmp_path):
  """On Kubeflow there is no CLI pre-flight: the executor itself must say what is wrong."""
  d = _write(tmp_path, HEADER + "k1,1.5,Paris,zz,1\nk2,twelve,Rome,zz,0\n")
  with pytest.raises(Exception, match="column 'x': value 'twelve' is not a number"):
    _run_executor(d, tmp_path / "out", train_buckets=1, eval_buckets=1)
