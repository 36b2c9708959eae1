"""The full-batch L-BFGS polish inside the one training loop: it takes a memorized
grid's worst error far below where Adam leaves it, counts its iterations as steps
with checkpoints on the same schedule, and resumes from a checkpoint exactly."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import tensorflow_transform as tft

from components import simulators
from components.config import load_config
from components.trainer import checkpoints, data, loop, standalone_inputs
from components.trainer.inputs import TrainInputs

PROJECTILE = Path(__file__).resolve().parents[1] / "pipelines" / "configs" / \
    "memorize_projectile.yaml"


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
  """(config, transform dir, examples dir) of a 15 x 9 projectile grid."""
  out = tmp_path_factory.mktemp("grid")
  axes = (simulators.Axis("angle", 10, 80, 5), simulators.Axis("speed", 20, 100, 10))
  points = simulators.grid_points(axes)
  values = simulators.get("projectile").solve_points(points)
  with open(out / "grid.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["angle", "speed", "range_m"])
    w.writerows(zip(points["angle"], points["speed"], values))
  config = load_config(PROJECTILE, {
      "data.simulator.axes": {a.name: {"start": a.start, "stop": a.stop, "step": a.step}
                              for a in axes},
      "trainer.train_steps": 200, "trainer.num_checkpoints": 2, "trainer.polish_steps": 200,
      "trainer.per_replica_batch_size": 32, "trainer.base_batch_size": 32,
      "trainer.hyperparameters.hidden_units": [16, 16]})
  transform_dir, examples_dir = standalone_inputs.build(config, out / "grid.csv", out)
  return config, transform_dir, examples_dir


def _train(grid, ckpt_dir, **trainer):
  config, transform_dir, examples_dir = grid
  config = config.model_copy(update={"trainer": config.trainer.model_copy(update=trainer)})
  lines = []
  record = loop.train(TrainInputs(
      config, config.trainer.hyperparameters, tft.TFTransformOutput(transform_dir),
      data.split_pattern(examples_dir, "train"), data.split_pattern(examples_dir, "eval"),
      str(ckpt_dir), str(ckpt_dir) + "-logs", progress=lines.append))
  return record, lines


def test_the_polish_takes_the_worst_error_far_below_adam(grid, tmp_path):
  adam, _ = _train(grid, tmp_path / "adam", polish_steps=0)
  polished, lines = _train(grid, tmp_path / "polished")
  before = adam.history[-1]["eval"]["max_abs_error"]
  after = polished.history[-1]["eval"]["max_abs_error"]
  assert after < before / 5, (before, after)
  # Its iterations are steps of the budget, with checkpoints on the same schedule.
  assert [h["step"] for h in polished.history] == [100, 200, 300, 400]
  assert checkpoints.list_steps(polished.checkpoint_dir)[-1] == 400
  assert any("then 200 full-batch L-BFGS steps to 400" in line for line in lines)


def test_a_run_resumed_inside_the_polish_ends_where_the_uninterrupted_one_did(grid, tmp_path):
  whole, _ = _train(grid, tmp_path / "whole")
  # As a crash right after the checkpoint at step 300 leaves it, then the same run again.
  _train(grid, tmp_path / "resumed", polish_steps=100)
  resumed, lines = _train(grid, tmp_path / "resumed")
  assert resumed.start_step == 300
  assert any("resumed from" in line and "ckpt-300" in line for line in lines)
  np.testing.assert_allclose(resumed.history[-1]["eval"]["max_abs_error"],
                             whole.history[-1]["eval"]["max_abs_error"], rtol=1e-6)
  assert resumed.history[-1]["step"] == 400
