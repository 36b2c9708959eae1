"""A user's own CSV, end to end: Palmer penguins (string label with three classes,
NA values, no natural key) saved the way spreadsheet programs save it: a UTF-8
byte-order mark, CRLF line ends, quoted fields with commas and a newline, and no
split key (`split_key: null` hashes whole rows). It trains and pushes a model that
classifies raw rows."""
from __future__ import annotations

import codecs
import csv
import glob
import io
import os

import numpy as np
import pytest
import tensorflow as tf

from components.config import load_config
from tests.conftest import PENGUINS_CONFIG, run_tpctl, write_config

pytestmark = pytest.mark.e2e

TRAINING = """\
tuner:
  enabled: false
trainer:
  train_steps: 300
  num_checkpoints: 3
  per_replica_batch_size: 32
  base_batch_size: 32
  hyperparameters:
    learning_rate: 0.01
"""


def _spreadsheet_export(penguins_csv, dest) -> None:
  """penguins.csv with a BOM, CRLF, 'Biscoe, Palmer Archipelago' as an island (a
  used categorical value with a comma) and an unused notes column whose quoted
  text holds a comma and a newline."""
  rows = list(csv.reader(io.StringIO(penguins_csv.read_text())))
  out = io.StringIO()
  writer = csv.writer(out, lineterminator="\r\n")
  writer.writerow(rows[0] + ["notes"])
  for i, row in enumerate(rows[1:]):
    row[1] = row[1].replace("Biscoe", "Biscoe, Palmer Archipelago")
    writer.writerow(row + ["nest 3,\r\nchecked twice" if i % 10 == 0 else ""])
  dest.write_bytes(codecs.BOM_UTF8 + out.getvalue().encode())


@pytest.fixture(scope="module")
def penguins_run(tmp_path_factory, penguins_csv):
  workdir = tmp_path_factory.mktemp("penguins")
  (workdir / "data").mkdir()
  _spreadsheet_export(penguins_csv, workdir / "data" / "penguins.csv")
  config_path = write_config(workdir, PENGUINS_CONFIG + TRAINING)
  proc = run_tpctl("run", "--config", str(config_path), cwd=workdir)
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
  return load_config(config_path), proc


def test_preflight_reports_rows_and_whole_row_splits(penguins_run):
  _, proc = penguins_run
  assert "data: 344 rows in 1 file(s)" in proc.stdout
  assert "splits: by a hash of the whole row" in proc.stdout
  assert "pushed: " in proc.stdout


def test_quoted_commas_reach_the_examples_intact(penguins_run):
  config, _ = penguins_run
  files = glob.glob(str(config.run_path / "pipeline_root" / "Ingest" / "examples" / "*"
                        / "Split-*" / "*.gz"))
  islands = set()
  for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
    example = tf.train.Example.FromString(record.numpy())
    islands.update(example.features.feature["island"].bytes_list.value)
    assert "notes" not in example.features.feature  # not a configured column
  assert islands == {b"Biscoe, Palmer Archipelago", b"Dream", b"Torgersen"}


def test_pushed_model_classifies_raw_rows(penguins_run, penguins_csv, tmp_path):
  from components import features
  from components.csv_ingest import executor
  config, _ = penguins_run
  from components.registry import store
  [version] = store.Registry(config.serving_path).versions()
  model = tf.saved_model.load(os.path.join(config.serving_path, str(version)))
  data = tmp_path / "penguins.csv"
  _spreadsheet_export(penguins_csv, data)
  serialized, labels = [], []
  for example in executor.examples_in_file(str(data), features.column_spec(config)):
    labels.append(example.features.feature["species"].bytes_list.value[0])
    del example.features.feature["species"]
    serialized.append(example.SerializeToString())
  out = model.signatures["serving_default"](examples=tf.constant(serialized))
  predicted = out["classes"].numpy()  # the most probable species, by name
  assert out["scores"].shape[0] == len(labels) == 344
  assert set(predicted) == {b"Adelie", b"Chinstrap", b"Gentoo"}
  # Bill and flipper sizes separate the three species almost perfectly.
  assert np.mean(predicted == np.array(labels)) > 0.9
