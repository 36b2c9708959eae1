"""Headers as spreadsheets write them, end to end: spaces, parentheses, currency
signs, dots, slashes, non-ASCII letters and a leading digit, as the label, numeric,
categorical and split-key columns, and two headers that differ only in such
characters. The config is the user's file read back through `tpctl config` (the
round trip the README promises), `tpctl run` pushes a model, and the pushed model
answers requests keyed by the user's own column names."""
from __future__ import annotations

import csv
import io
import os

import numpy as np
import pytest
import tensorflow as tf
import yaml

from components import features
from components.config import load_config
from tests.conftest import run_tpctl, write_config

pytestmark = pytest.mark.e2e

# penguins.csv's columns, renamed as a spreadsheet user might have typed them.
RENAMED = {
    "species": "Espèce / Species",
    "island": "Island (Insel)",
    "bill_length_mm": "Bill (mm)",      # these two differ only in characters that are
    "bill_depth_mm": "Bill [mm]",       # not allowed in a layer name
    "flipper_length_mm": "flipper.length_mm",
    "body_mass_g": "2nd Body Mass (€/g)",
    "sex": "Sexe ♀/♂",
}
KEY = "Sample № #"  # a row id: the split key

CONFIG = {
    "run_dir": "run",
    "data": {"dir": "data", "split_key": KEY},
    "task": {"type": "multiclass", "label": RENAMED["species"]},
    "evaluator": {"lower_bound": 0.8},
    "features": {"numeric": [RENAMED[c] for c in ("bill_length_mm", "bill_depth_mm",
                                                  "flipper_length_mm", "body_mass_g")],
                 "categorical": [RENAMED["island"], RENAMED["sex"]], "coordinates": []},
    "tuner": {"enabled": False},
    "trainer": {"train_steps": 300, "num_checkpoints": 3, "per_replica_batch_size": 32,
                "base_batch_size": 32, "hyperparameters": {"learning_rate": 0.01}},
}


def _renamed_csv(penguins_csv) -> str:
  rows = list(csv.reader(io.StringIO(penguins_csv.read_text())))
  out = io.StringIO()
  writer = csv.writer(out)
  writer.writerow([KEY] + [RENAMED.get(c, c) for c in rows[0]])
  for i, row in enumerate(rows[1:]):
    writer.writerow([f"P-{i:04d}"] + row)
  return out.getvalue()


@pytest.fixture(scope="module")
def headers_run(tmp_path_factory, penguins_csv):
  work = tmp_path_factory.mktemp("headers")
  (work / "data").mkdir()
  (work / "data" / "penguins.csv").write_text(_renamed_csv(penguins_csv), encoding="utf-8")
  user = write_config(work, yaml.safe_dump(CONFIG, allow_unicode=True))
  # The round trip: `tpctl config > my.yaml`, then a run from my.yaml.
  printed = run_tpctl("config", "--config", str(user), cwd=work)
  assert printed.returncode == 0, printed.stderr[-2000:]
  mine = work / "my.yaml"
  mine.write_text(printed.stdout, encoding="utf-8")
  proc = run_tpctl("run", "--config", str(mine), cwd=work)
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
  return load_config(mine), proc, work


def test_the_printed_config_reads_back_as_the_same_config(headers_run):
  config, _, work = headers_run
  assert config == load_config(work / "config.yaml")
  again = run_tpctl("config", "--config", str(work / "my.yaml"), cwd=work)
  assert again.stdout == (work / "my.yaml").read_text(encoding="utf-8")


def test_every_column_reaches_the_model_under_its_own_key(headers_run):
  import tensorflow_transform as tft
  config, proc, _ = headers_run
  assert "pushed: version 1" in proc.stdout
  [graph] = (config.run_path / "pipeline_root" / "Transform" / "transform_graph").iterdir()
  transformed = set(tft.TFTransformOutput(str(graph)).transformed_feature_spec())
  wanted = {features.transformed_name(c) for c in config.features.all()}
  # Two "Bill" columns stay two inputs: the keys are distinct, none is lost.
  assert len(wanted) == 6 and transformed == wanted | {features.LABEL_KEY}


def test_the_pushed_model_answers_requests_keyed_by_the_users_column_names(
    headers_run, penguins_csv, tmp_path):
  from components.csv_ingest import executor
  from components.registry import store
  config, _, _ = headers_run
  [version] = store.Registry(config.serving_path).versions()
  model = tf.saved_model.load(os.path.join(config.serving_path, str(version)))
  data = tmp_path / "penguins.csv"
  data.write_text(_renamed_csv(penguins_csv), encoding="utf-8")
  serialized, labels = [], []
  for example in executor.examples_in_file(str(data), features.column_spec(config)):
    feature = example.features.feature
    assert set(feature) <= set(RENAMED.values())  # the raw names, as the user wrote them
    labels.append(feature[RENAMED["species"]].bytes_list.value[0])
    del feature[RENAMED["species"]]
    serialized.append(example.SerializeToString())
  out = model.signatures["serving_default"](examples=tf.constant(serialized))
  predicted = out["classes"].numpy()
  assert set(predicted) == {b"Adelie", b"Chinstrap", b"Gentoo"}
  # Bill and flipper sizes separate the species: a model that lost a column to a
  # name clash, or read empty inputs, would not reach this.
  assert np.mean(predicted == np.array(labels)) > 0.9
