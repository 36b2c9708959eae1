"""Useful overfitting, end to end: a small projectile grid memorized through the
whole pipeline, against the same model trained the usual way on the same grid.

One shared fixture runs `tpctl demo-memorize`'s comparison (two pipeline runs);
the tests then check the pushed model on every grid point against the simulator
itself, not against anything the pipeline wrote.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from components import simulators
from components.config import load_config
from components.registry import store
from tests.conftest import run_tpctl, write_config

pytestmark = pytest.mark.e2e

# 29 x 17 = 493 points; tolerance 0.1% of the range (2.9 m to 445.8 m).
SMALL_GRID = """\
pipeline_name: memorize-test
run_dir: run
data:
  simulator:
    name: projectile
    axes:
      angle: {start: 10, stop: 80, step: 2.5}
      speed: {start: 20, stop: 100, step: 5}
task: {type: regression, label: range_m, mode: memorize}
features: {numeric: [angle, speed], categorical: [], coordinates: []}
tuner: {enabled: false}
trainer:
  train_steps: 600
  num_checkpoints: 3
  # Far fewer than the grid's 493 points: memorizing must score every point anyway.
  eval_examples: 10
  polish_steps: 800
  precision: float64
  lr_schedule: cosine
  per_replica_batch_size: 128
  base_batch_size: 128
  hyperparameters: {learning_rate: 0.003, hidden_units: [32, 32], activation: tanh}
checkpoint_selection: {metric: max_abs_error, mode: min}
evaluator: {upper_bound: 0.44}
"""
TOLERANCE = 0.44
ANGLES = np.arange(10, 80.001, 2.5)
SPEEDS = np.arange(20, 100.001, 5)


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
  """(workdir, memorize config, comparison dict, tpctl output) of one demo-memorize."""
  workdir = tmp_path_factory.mktemp("memorize")
  config_path = write_config(workdir, SMALL_GRID)
  proc = run_tpctl("demo-memorize", "--config", str(config_path), cwd=workdir)
  assert proc.returncode == 0, proc.stderr[-3000:]
  result = json.loads((workdir / "run" / "comparison.json").read_text())
  memorize = load_config(config_path, {"run_dir": str(workdir / "run" / "memorize")})
  return workdir, memorize, result, proc.stdout


def _examples(angles: np.ndarray, speeds: np.ndarray) -> list[bytes]:
  return [tf.train.Example(features=tf.train.Features(feature={
      "angle": tf.train.Feature(float_list=tf.train.FloatList(value=[a])),
      "speed": tf.train.Feature(float_list=tf.train.FloatList(value=[v]))}))
      .SerializeToString() for a, v in zip(angles, speeds)]


def test_the_pushed_model_meets_the_tolerance_at_every_grid_point(comparison):
  _, memorize, _, _ = comparison
  registry = store.Registry(memorize.serving_path)
  current = registry.current()
  assert current is not None, "the memorized model was not pushed"
  # The truth, solved here by the simulator, at the float32 inputs a request carries.
  angle, speed = (g.ravel() for g in np.meshgrid(ANGLES, SPEEDS, indexing="ij"))
  angle32, speed32 = angle.astype(np.float32), speed.astype(np.float32)
  truth = np.array([simulators.get("projectile").solve(angle=float(a), speed=float(v))
                    for a, v in zip(angle32, speed32)])
  serve = tf.saved_model.load(registry.path(current.version)).signatures["serving_default"]
  predicted = serve(examples=tf.constant(_examples(angle32, speed32)))["scores"].numpy()
  errors = np.abs(predicted.reshape(-1) - truth)
  assert len(errors) == 29 * 17
  worst = int(np.argmax(errors))
  assert errors[worst] <= TOLERANCE, (
      f"worst error {errors[worst]:.3f} m at angle {angle[worst]}, speed {speed[worst]}")


def test_the_selected_checkpoints_score_is_its_worst_error_over_the_whole_grid(comparison):
  """trainer.eval_examples (10) is far below the grid's 493 points. In memorize mode
  the in-loop scoring that selects checkpoints must still see every point: the
  worst error recorded for the pushed checkpoint is the worst over the whole grid,
  measured here on the pushed model and every example of the eval split (scoring
  10 points, it would be the worst of those 10)."""
  import glob
  from components.trainer import checkpoints
  _, memorize, _, _ = comparison
  registry = store.Registry(memorize.serving_path)
  current = registry.current()
  state = checkpoints.read_state(str(Path(current.checkpoint_path).parent))
  [recorded] = [h["eval"]["max_abs_error"] for h in state["history"]
                if h["step"] == current.checkpoint_step]
  files = glob.glob(str(memorize.run_path / "pipeline_root" / "Ingest" / "examples" / "*"
                        / "Split-eval" / "*.gz"))
  records = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
  labels = np.array([tf.train.Example.FromString(r).features.feature["range_m"]
                     .float_list.value[0] for r in records])
  assert len(records) == 29 * 17
  serve = tf.saved_model.load(registry.path(current.version)).signatures["serving_default"]
  predicted = serve(examples=tf.constant(records))["scores"].numpy().reshape(-1)
  # (abs: the served model's float32 output rounds ranges of up to 446 m by ~3e-5.)
  assert recorded == pytest.approx(float(np.max(np.abs(predicted - labels))), abs=1e-4)


def test_the_usual_way_is_worse_over_the_whole_grid(comparison):
  _, _, result, stdout = comparison
  memorize, usual = result["rows"].values()
  assert memorize["points"] == usual["points"] == 29 * 17
  assert usual["max_abs_error"] > 2 * memorize["max_abs_error"], result["rows"]
  assert memorize["max_abs_error"] <= TOLERANCE
  assert "the usual way's worst error is" in stdout
  for plot in (result["memorize_plot"], result["usual_plot"]):
    assert Path(plot).read_bytes().startswith(b"\x89PNG")


def test_ingest_tabulates_every_grid_point_once_in_both_splits(comparison):
  workdir, _, _, _ = comparison
  from components.grid_errors import serving
  examples = sorted((workdir / "run" / "memorize" / "pipeline_root" / "Ingest" /
                     "examples").iterdir())[-1]
  grid = sorted(zip(*(g.ravel() for g in np.meshgrid(ANGLES, SPEEDS, indexing="ij"))))
  for split in ("train", "eval"):
    inputs, labels, _ = serving.read_points(str(examples / f"Split-{split}" / "*"),
                                            ["angle", "speed"], "range_m")
    points = sorted(zip(inputs["angle"], inputs["speed"]))
    assert len(points) == len(grid), split
    np.testing.assert_allclose(points, grid, rtol=1e-6)
  # A few values against an independent solve.
  projectile = simulators.get("projectile")
  for i in (0, 100, len(labels) - 1):
    expected = projectile.solve(angle=float(inputs["angle"][i]), speed=float(inputs["speed"][i]))
    assert labels[i] == pytest.approx(expected, rel=1e-6)
  grid_file = json.loads((examples / "grid.json").read_text())
  assert grid_file["points"] == 29 * 17 and grid_file["ms_per_point"] > 0


def test_the_usual_way_held_out_a_fifth_of_the_grid(comparison):
  workdir, _, _, _ = comparison
  examples = sorted((workdir / "run" / "usual" / "pipeline_root" / "Ingest" /
                     "examples").iterdir())[-1]
  counts = {split: sum(1 for _ in tf.data.TFRecordDataset(
      [str(p) for p in (examples / f"Split-{split}").iterdir()], compression_type="GZIP"))
      for split in ("train", "eval")}
  assert counts["train"] + counts["eval"] == 29 * 17
  assert 0.12 < counts["eval"] / (29 * 17) < 0.28, counts


def test_the_run_summary_reports_the_worst_error_and_its_map(comparison):
  _, _, _, stdout = comparison
  line = next(l for l in stdout.splitlines() if l.startswith("worst error over every one"))
  assert "of the 493 grid points" in line and "tolerance 0.44: met" in line
  png = next(l for l in stdout.splitlines() if l.startswith("error over the grid: "))
  assert Path(png.split(": ", 1)[1]).read_bytes().startswith(b"\x89PNG")


def test_blessing_is_on_the_worst_point_not_the_average(comparison):
  """A tolerance between the mean and the worst error: an average-based gate would
  pass it; the worst-error gate must not push. Reuses the run (the Trainer finds its
  own finished checkpoints, so the candidate is the same model), with an empty
  registry, so that only the bound decides, not a production model to beat."""
  workdir, _, result, _ = comparison
  row = next(iter(result["rows"].values()))
  tight = (row["mean_abs_error"] + row["max_abs_error"]) / 2
  config = write_config(workdir, SMALL_GRID.replace("upper_bound: 0.44",
                                                    f"upper_bound: {tight:.4f}")
                        + "serving_dir: serving-tight\n")
  proc = run_tpctl("run", "--config", str(config), "--run-dir", str(workdir / "run" / "memorize"),
                   cwd=workdir)
  assert proc.returncode == 0, proc.stderr[-3000:]
  decision = next(l for l in proc.stdout.splitlines() if l.startswith("[pusher] "))
  assert "NOT pushed" in decision and "max_abs_error" in decision, decision
  assert "fails the bound" in decision, decision
  assert f"tolerance {float(f'{tight:.4f}'):g}: NOT met" in proc.stdout, proc.stdout[-2000:]
  assert store.Registry(str(workdir / "serving-tight")).current() is None


MONTE_CARLO = SMALL_GRID.replace("pipeline_name: memorize-test", "pipeline_name: memorize-mc") \
    .replace("    name: projectile\n", "    name: projectile\n    sample: 300\n"
             "    check_sample: 200\n") \
    .replace("train_steps: 600", "train_steps: 200").replace("polish_steps: 800",
                                                             "polish_steps: 100") \
    .replace("upper_bound: 0.44", "upper_bound: 50")


def test_a_monte_carlo_run_reports_an_estimate_on_independent_points(tmp_path):
  config = write_config(tmp_path, MONTE_CARLO)
  proc = run_tpctl("run", "--config", str(config), cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr[-3000:]
  line = next(l for l in proc.stdout.splitlines() if l.startswith("worst error over"))
  assert "200 independent random check points (an estimate, not a bound)" in line, line
  examples = sorted((tmp_path / "run" / "pipeline_root" / "Ingest" / "examples").iterdir())[-1]
  from components.grid_errors import serving
  train, _, _ = serving.read_points(str(examples / "Split-train" / "*"), ["angle", "speed"],
                                    "range_m")
  check, _, _ = serving.read_points(str(examples / "Split-eval" / "*"), ["angle", "speed"],
                                    "range_m")
  assert len(train["angle"]) == 300 and len(check["angle"]) == 200
  # Random points of the box, not grid points, and none shared.
  assert not set(zip(train["angle"], train["speed"])) & set(zip(check["angle"], check["speed"]))
  assert np.all((train["angle"] >= 10) & (train["angle"] <= 80))
