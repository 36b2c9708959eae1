"""End to end: one real `tpctl run` (LocalDagRunner, Beam DirectRunner, MLMD in
SQLite) on a small slice, then what a user would check afterwards."""
from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
import tensorflow as tf

pytestmark = pytest.mark.e2e

COMPONENTS = ["Ingest", "ProductionModel", "DriftGate", "StatisticsGen", "SchemaGen",
              "Transform", "Tuner", "Trainer", "CheckpointEvaluator", "Evaluator", "Pusher"]
DATA_STEPS = {"Ingest", "StatisticsGen", "SchemaGen", "Transform", "Tuner"}


def _versions(config) -> list[int]:
  from components.registry import store
  return store.Registry(config.serving_path).versions()


def test_progress_and_summary_are_printed(small_run):
  _, proc = small_run
  for i, name in enumerate(COMPONENTS, start=1):
    assert f"{name} done in" in proc.stdout, name
  assert "[trainer] step 300/300" in proc.stdout
  assert "== summary ==" in proc.stdout
  assert "selected checkpoint: step" in proc.stdout
  assert "pushed: " in proc.stdout


def _summary_labels(output: str) -> list[str]:
  """What each line of a run's summary reports ("run", "selected checkpoint", ...)."""
  summary = output.split("== summary ==", 1)[1]
  return [re.match(r"[A-Za-z][A-Za-z ]*", line).group(0).strip()
          for line in summary.strip().splitlines()]


def test_the_docs_sample_run_summarizes_as_a_run_does_now(small_run):
  """docs/samples/run.txt (a real run, shown in Getting started) reports the lines a
  run prints today: a summary line added, dropped or renamed makes the sample stale
  (regenerate it with python -m pipelines.docs.samples run)."""
  from pipelines.docs import samples
  _, proc = small_run
  run = next(s for s in samples.SAMPLES if s.name == "run")
  sample = samples.path(run).read_text()
  assert _summary_labels(sample) == _summary_labels(proc.stdout)


def test_run_directory_holds_everything(small_run):
  config, _ = small_run
  run = config.run_path
  assert (run / "metadata.sqlite").is_file()
  assert (run / "pipeline_root").is_dir()
  [log] = glob.glob(str(run / "logs" / "run-*.log"))
  # The Beam runner is named: Beam's DirectRunner would try to download Prism.
  assert "prism" not in open(log).read().lower()
  # TensorBoard event files from the Trainer's ModelRun.
  assert glob.glob(str(run / "pipeline_root" / "Trainer" / "model_run" / "*" / "events.out.tfevents.*"))


def test_the_tuner_trains_quietly_and_the_trainer_uses_its_best_values(small_run):
  """The default search (4 random trials) runs the Trainer's loop: one line per
  trial and no KerasTuner banner on the console; trials.csv and trials.png in the
  Tuner's tuner_results; the Trainer trains with the best trial's values."""
  import csv
  from components import hyperparameters
  config, proc = small_run
  assert len(re.findall(r"^\[tuner\] trial \d+: .* -> eval loss [\d.]+ \(300 steps",
                        proc.stdout, re.M)) == 4
  assert "Search: Running Trial" not in proc.stdout
  assert "Results summary" not in proc.stdout
  tuner_outputs = config.run_path / "pipeline_root" / "Tuner"
  [best_dir] = glob.glob(str(tuner_outputs / "best_hyperparameters" / "*"))
  [results_dir] = glob.glob(str(tuner_outputs / "tuner_results" / "*"))
  with open(os.path.join(results_dir, "trials.csv")) as f:
    trials = list(csv.DictReader(f))
  assert [t["status"] for t in trials] == ["COMPLETED"] * 4
  assert os.path.getsize(os.path.join(results_dir, "trials.png")) > 1000
  with open(os.path.join(best_dir, "best_hyperparameters.txt")) as f:
    best = json.load(f)["values"]
  best_trial = min(trials, key=lambda t: float(t["objective"]))
  assert json.loads(best_trial["values"]) == best
  [record] = glob.glob(str(config.run_path / "pipeline_root" / "Trainer" / "model" / "*" /
                           "Format-Serving" / "training_record.json"))
  with open(record) as f:
    used = json.load(f)["hyperparameters"]
  expected = hyperparameters.from_values(best, config.trainer.hyperparameters)
  assert used == expected.model_dump(mode="json")


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
  assert _versions(config) == [1]
  model = tf.saved_model.load(os.path.join(config.serving_path, "1"))
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
def run_in_place(small_run):
  """The end-to-end run's own directory, to rerun in place, restored afterwards
  (the tests run one at a time). In place, because TFX's cache keys a step on its
  properties, which hold absolute paths: a copy elsewhere would never hit it."""
  config, _ = small_run
  workdir = config.run_path.parent
  saved = workdir.with_name(workdir.name + "-saved")
  shutil.copytree(workdir, saved, symlinks=True)
  try:
    yield workdir
  finally:
    shutil.rmtree(workdir)
    saved.rename(workdir)


def _run_until(cwd, marker: str, env_path: str = "") -> str:
  """`tpctl run` in `cwd`, SIGKILLed as soon as a console line matches the regex
  `marker` (a crash at that moment); returns what it printed."""
  from tests.conftest import REPO, TPCTL
  proc = subprocess.Popen(
      [*TPCTL, "run", "--config", "config.yaml"], cwd=cwd, stdout=subprocess.PIPE,
      stderr=subprocess.DEVNULL, text=True,
      env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [env_path, str(REPO)]))})
  lines = []
  for line in proc.stdout:
    lines.append(line)
    if re.search(marker, line):
      proc.kill()
      break
  proc.wait(timeout=600)
  out = "".join(lines)
  assert re.search(marker, out), out[-3000:]
  return out


def _cached(out: str) -> set[str]:
  return {name for name in COMPONENTS if f"] {name} cached" in out}


def test_an_unchanged_rerun_reuses_the_data_steps_and_pushes_nothing_new(run_in_place,
                                                                          small_run):
  """The first run pushed version 1, so the model steps now have a production model
  to compare with: they rerun, find their own finished checkpoints (no training)
  and the same checkpoint selected again, and push nothing. A second unchanged
  rerun then finds every step unchanged."""
  from tests.conftest import run_tpctl
  config, _ = small_run
  proc = run_tpctl("run", "--config", "config.yaml", cwd=run_in_place)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert _cached(proc.stdout) == DATA_STEPS
  assert "[trainer] resumed from " in proc.stdout and "[trainer] step " not in proc.stdout
  assert "NOT pushed: the candidate is production version 1 (same checkpoint)" in proc.stdout
  assert _versions(config) == [1]
  again = run_tpctl("run", "--config", "config.yaml", cwd=run_in_place)
  assert _cached(again.stdout) == set(COMPONENTS), again.stdout[-3000:]


def test_a_crash_in_training_loses_at_most_one_interval(run_in_place, small_run):
  """Only the step budget changes: the steps before the Trainer are reused (the
  tuner's default search included), and after a kill the rerun resumes from the
  last checkpoint rather than step 0."""
  from tests.conftest import run_tpctl
  config, _ = small_run
  text = (run_in_place / "config.yaml").read_text()
  (run_in_place / "config.yaml").write_text(text.replace("train_steps: 300", "train_steps: 600")
                                          .replace("num_checkpoints: 3", "num_checkpoints: 6"))
  crashed = _run_until(run_in_place, r"\[trainer\] step 200/600")
  assert _cached(crashed) == DATA_STEPS

  proc = run_tpctl("run", "--config", "config.yaml", cwd=run_in_place)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert _cached(proc.stdout) >= DATA_STEPS
  resumed = re.search(r"\[trainer\] resumed from \S+/ckpt-(\d+) ", proc.stdout)
  assert resumed and int(resumed.group(1)) >= 200, proc.stdout
  assert "[trainer] step 100/600" not in proc.stdout
  assert "[trainer] step 600/600" in proc.stdout
  # Pushed only if it beat the first run's model, and the registry agrees.
  assert "against production: auc candidate " in proc.stdout
  if "pushed: version 2: " in proc.stdout:
    assert _versions(config) == [1, 2]
  else:
    assert "NOT pushed: candidate auc " in proc.stdout and _versions(config) == [1]


def test_changed_data_reruns_every_step_from_ingest(run_in_place):
  data = run_in_place / "data"
  rows = (data / "data.csv").read_text().splitlines(keepends=True)
  data.unlink()  # a symlink to the shared slice
  data.mkdir()
  (data / "data.csv").write_text("".join(rows[:-20]))
  out = _run_until(run_in_place, r"\] Transform (done|cached)")
  assert _cached(out) == set()
  assert "] Ingest done in" in out and "] StatisticsGen done in" in out


def test_changed_transform_code_reruns_transform_not_ingest(run_in_place, tmp_path):
  from tests.conftest import REPO
  shutil.copytree(REPO / "components", tmp_path / "code" / "components",
                  ignore=shutil.ignore_patterns("__pycache__"))
  module = tmp_path / "code" / "components" / "transform" / "executor.py"
  module.write_text(module.read_text() + "\n# an edit\n")
  out = _run_until(run_in_place, r"\] Transform (done|cached)", env_path=str(tmp_path / "code"))
  assert _cached(out) == {"Ingest", "StatisticsGen", "SchemaGen"}


def test_resume_from_a_step_with_a_new_learning_rate(run_in_place):
  from tests.conftest import run_tpctl
  proc = run_tpctl("run", "--config", "config.yaml", "--resume-from", "100",
                   "--learning-rate", "0.0005", cwd=run_in_place)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "/ckpt-100 at step 100, learning rate 0.0005" in proc.stdout
  assert "[trainer] step 200/300" in proc.stdout and "[trainer] step 300/300" in proc.stdout
  assert "[trainer] step 100/300" not in proc.stdout


def test_the_pushed_model_is_the_checkpoint_the_report_selected(small_run):
  """What ships is what the checkpoint evaluator says it selected."""
  import tensorflow_transform as tft
  from components.checkpoint_evaluator import scoring
  from components.trainer import train_record
  config, _ = small_run
  root = config.run_path / "pipeline_root"
  [report_path] = glob.glob(str(root / "CheckpointEvaluator" / "evaluation" / "*"
                                / "checkpoints.json"))
  report = json.loads(open(report_path).read())
  [record_path] = glob.glob(str(root / "Trainer" / "model" / "*" / "Format-Serving"
                                / "training_record.json"))
  record = train_record.read(record_path)
  [transform_dir] = glob.glob(str(root / "Transform" / "transform_graph" / "*"))
  tft_output = tft.TFTransformOutput(transform_dir)

  serialized, _ = _raw_examples(config.data.dir, config.task.label, 300)
  [version] = _versions(config)
  served = tf.saved_model.load(os.path.join(config.serving_path, str(version)))
  pushed = served.signatures["serving_default"](examples=tf.constant(serialized))["scores"]
  raw = tf.io.parse_example(tf.constant(serialized), {
      k: v for k, v in tft_output.raw_feature_spec().items() if k != config.task.label})
  transformed = tft_output.transform_features_layer()(raw)
  model = scoring.restore_model(config, record, tft_output, report["selected_checkpoint"])
  selected = tf.sigmoid(model(transformed, training=False))
  np.testing.assert_allclose(pushed.numpy(), selected.numpy(), rtol=1e-5, atol=1e-6)
