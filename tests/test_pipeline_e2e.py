"""End to end: one real `tpctl run` (LocalDagRunner, Beam DirectRunner, MLMD in
SQLite) on a small slice, then what a user would check afterwards."""
from __future__ import annotations

import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf

pytestmark = pytest.mark.e2e

COMPONENTS = ["Ingest", "StatisticsGen", "SchemaGen", "Transform", "Tuner", "Trainer",
              "CheckpointEvaluator", "Evaluator", "Pusher"]


def test_progress_and_summary_are_printed(small_run):
  _, proc = small_run
  for i, name in enumerate(COMPONENTS, start=1):
    assert f"{name} done in" in proc.stdout, name
  assert "[trainer] step 300/300" in proc.stdout
  assert "== summary ==" in proc.stdout
  assert "selected checkpoint: step" in proc.stdout
  assert "pushed: " in proc.stdout


def test_run_directory_holds_everything(small_run):
  config, _ = small_run
  run = config.run_path
  assert (run / "metadata.sqlite").is_file()
  assert (run / "pipeline_root").is_dir()
  assert glob.glob(str(run / "logs" / "run-*.log"))
  # TensorBoard event files from the Trainer's ModelRun.
  assert glob.glob(str(run / "pipeline_root" / "Trainer" / "model_run" / "*" / "events.out.tfevents.*"))


def _raw_examples(data_dir: str, label: str, limit: int):
  """Serialized tf.Examples of raw CSV rows, without the label, as a client sends."""
  from components.csv_ingest import executor
  from components import features
  from components.config import PipelineConfig
  spec = features.column_spec(PipelineConfig())
  serialized, labels = [], []
  for example in executor.examples_in_file(os.path.join(data_dir, "data.csv"), spec)[:limit]:
    labels.append(int(example.features.feature[label].bytes_list.value[0]))
    del example.features.feature[label]
    serialized.append(example.SerializeToString())
  return serialized, np.array(labels)


def test_pushed_model_scores_raw_examples(small_run):
  config, _ = small_run
  versions = os.listdir(config.serving_path)
  assert len(versions) == 1 and versions[0].isdigit()
  model = tf.saved_model.load(os.path.join(config.serving_path, versions[0]))
  serialized, labels = _raw_examples(config.data.dir, config.task.label, 1000)
  scores = model.signatures["serving_default"](examples=tf.constant(serialized))["scores"]
  scores = scores.numpy().reshape(-1)
  assert scores.shape == (1000,)
  assert np.all((scores >= 0) & (scores <= 1))
  auc = tf.keras.metrics.AUC()
  auc.update_state(labels, scores)
  # Payment type alone separates most big tippers; a working model beats 0.8 easily.
  assert float(auc.result()) > 0.8


def test_selected_checkpoint_is_the_best_on_eval(small_run):
  config, _ = small_run
  [report_path] = glob.glob(str(config.run_path / "pipeline_root" / "CheckpointEvaluator"
                                / "evaluation" / "*" / "checkpoints.json"))
  report = json.loads(open(report_path).read())
  steps = [c["step"] for c in report["checkpoints"]]
  assert steps == [100, 200, 300]
  best = min(report["checkpoints"], key=lambda c: c["loss"])
  assert report["selected_step"] == best["step"]
  png = os.path.join(os.path.dirname(report_path), "curves.png")
  assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
  # The checkpoints live in the stable directory, outside the pipeline root.
  ckpt_dir = os.path.dirname(best["path"])
  assert ckpt_dir.startswith(config.checkpoint_root)
  assert tf.train.latest_checkpoint(ckpt_dir).endswith("-300")


@pytest.fixture()
def copied_run(small_run, tmp_path):
  """A copy of the end-to-end run's directory, to rerun without disturbing it."""
  import shutil
  config, _ = small_run
  workdir = config.run_path.parent
  shutil.copytree(workdir, tmp_path / "copy", symlinks=True)
  return tmp_path / "copy"


def test_rerunning_the_pipeline_resumes_the_finished_training(copied_run):
  from tests.conftest import run_tpctl
  proc = run_tpctl("run", "--config", "config.yaml", cwd=copied_run)
  assert proc.returncode == 0, proc.stderr[-3000:]
  # Ingest and Transform ran again, yet the data digest finds the same directory.
  assert "[trainer] resumed from" in proc.stdout and "(step 300," in proc.stdout
  assert "[trainer] step " not in proc.stdout  # nothing left to train
  assert "pushed: " in proc.stdout


def test_resume_from_a_step_with_a_new_learning_rate(copied_run):
  from tests.conftest import run_tpctl
  proc = run_tpctl("run", "--config", "config.yaml", "--resume-from", "100",
                   "--learning-rate", "0.0005", cwd=copied_run)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "/ckpt-100 at step 100, learning rate 0.0005" in proc.stdout
  assert "[trainer] step 200/300" in proc.stdout and "[trainer] step 300/300" in proc.stdout
  assert "[trainer] step 100/300" not in proc.stdout


def test_the_pushed_model_is_the_checkpoint_the_report_selected(small_run):
  """What ships is what the checkpoint evaluator says it selected."""
  import tensorflow_transform as tft
  from components.checkpoint_evaluator import scoring
  from components.trainer import loop
  config, _ = small_run
  root = config.run_path / "pipeline_root"
  [report_path] = glob.glob(str(root / "CheckpointEvaluator" / "evaluation" / "*"
                                / "checkpoints.json"))
  report = json.loads(open(report_path).read())
  [record_path] = glob.glob(str(root / "Trainer" / "model" / "*" / "Format-Serving"
                                / "training_record.json"))
  record = loop.TrainRecord(**json.loads(open(record_path).read()))
  [transform_dir] = glob.glob(str(root / "Transform" / "transform_graph" / "*"))
  tft_output = tft.TFTransformOutput(transform_dir)

  serialized, _ = _raw_examples(config.data.dir, config.task.label, 300)
  [version] = os.listdir(config.serving_path)
  served = tf.saved_model.load(os.path.join(config.serving_path, version))
  pushed = served.signatures["serving_default"](examples=tf.constant(serialized))["scores"]
  raw = tf.io.parse_example(tf.constant(serialized), {
      k: v for k, v in tft_output.raw_feature_spec().items() if k != config.task.label})
  transformed = tft_output.transform_features_layer()(raw)
  model = scoring.restore_model(config, record, tft_output, report["selected_checkpoint"])
  selected = tf.sigmoid(model(transformed, training=False))
  np.testing.assert_allclose(pushed.numpy(), selected.numpy(), rtol=1e-5, atol=1e-6)
