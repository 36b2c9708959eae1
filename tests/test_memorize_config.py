"""The memorize mode's config: what it refuses, and why it says so; the shipped
simulator configs; and the simulator source's plan of points and splits."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from components import simulators
from components.config import ConfigError, load_config
from components.simulator_ingest.plan import Plan
from pipelines import preflight

REPO = Path(__file__).resolve().parents[1]
PROJECTILE = REPO / "pipelines" / "configs" / "memorize_projectile.yaml"
HEATED_ROD = REPO / "pipelines" / "configs" / "memorize_heated_rod.yaml"


@pytest.mark.parametrize("path", [PROJECTILE, HEATED_ROD])
def test_the_shipped_configs_load_and_plan_the_complete_grid(path):
  config = load_config(path)
  plan = preflight.check_simulator(config)
  expected = {"projectile": 161 * 181, "heated_rod": 2001}[plan.simulator]
  assert plan.check() == expected
  assert config.evaluator.upper_bound > 0


@pytest.mark.parametrize("override, fragment", [
    ({"trainer.hyperparameters.dropout": 0.2}, "dropout is 0.2"),
    ({"trainer.hyperparameters.l2": 0.001}, "l2 is 0.001"),
    ({"trainer.early_stopping.enabled": True}, "early_stopping.enabled"),
    ({"tuner.enabled": True, "tuner.search_space": {"dropout": {"type": "float", "min": 0,
                                                                "max": 0.5}}},
     "tuner.search_space.dropout"),
    ({"checkpoint_selection.metric": "loss"}, "judged by its worst error"),
    ({"evaluator.upper_bound": None}, "evaluator.upper_bound"),
])
def test_memorize_refuses_what_would_stop_it_fitting_and_says_why(override, fragment):
  with pytest.raises(ConfigError) as e:
    load_config(PROJECTILE, override)
  message = str(e.value)
  assert fragment in message and "\n" not in message
  assert str(PROJECTILE) in message


def test_regularization_is_refused_with_the_reason():
  with pytest.raises(ConfigError, match="no unseen data to generalize to"):
    load_config(PROJECTILE, {"trainer.hyperparameters.dropout": 0.1})


def test_memorize_needs_a_simulator():
  with pytest.raises(ConfigError, match="task.mode memorize needs data.simulator"):
    load_config(overrides={"task.mode": "memorize", "task.type": "regression",
                           "task.label": "fare", "features.numeric": ["trip_miles"],
                           "evaluator.upper_bound": 1.0,
                           "checkpoint_selection.metric": "max_abs_error"})


@pytest.mark.parametrize("override, fragment", [
    ({"features.numeric": ["speed", "angle"]}, "set features.numeric to ['angle', 'speed']"),
    ({"task.label": "distance"}, "output column is 'range_m'"),
    ({"data.dir": "somewhere"}, "not both"),
    ({"data.simulator.name": "mypackage.sim:fn"}, "has no built-in grid"),
])
def test_a_simulator_source_must_match_the_columns(override, fragment):
  with pytest.raises(ConfigError, match=fragment.replace("[", r"\[").replace("(", r"\(")):
    load_config(PROJECTILE, override)


def test_an_unknown_simulator_is_one_line_naming_it():
  config = load_config(PROJECTILE, {"data.simulator.name": "nosuch.module:solve",
                                    "data.simulator.output": "range_m",
                                    "data.simulator.axes": {"angle": {"start": 5, "stop": 10,
                                                                      "step": 1},
                                                            "speed": {"start": 10, "stop": 20,
                                                                      "step": 1}}})
  with pytest.raises(ConfigError, match=r"data.simulator: .*'nosuch.module'"):
    preflight.check_simulator(config)


def test_a_grid_whose_step_does_not_divide_it_is_refused():
  config = load_config(PROJECTILE, {"data.simulator.axes": {
      "angle": {"start": 5, "stop": 10, "step": 0.7}, "speed": {"start": 10, "stop": 20,
                                                                 "step": 1}}})
  with pytest.raises(ConfigError, match="angle"):
    preflight.check_simulator(config)


def test_polish_runs_in_one_process():
  with pytest.raises(ConfigError, match="polish"):
    load_config(PROJECTILE, {"trainer.workers": 2, "trainer.strategy": "multi_worker_mirrored"})


def _small(**simulator):
  return Plan.from_config(load_config(PROJECTILE, {
      "data.simulator.axes": {"angle": {"start": 10, "stop": 80, "step": 5},
                              "speed": {"start": 20, "stop": 100, "step": 10}},
      **{f"data.simulator.{k}": v for k, v in simulator.items()}}))


def test_the_plan_covers_every_grid_point_exactly_once():
  plan = _small()
  covered = [i for part, start, stop in plan.chunks() for i in range(start, stop)]
  assert covered == list(range(15 * 9))
  points = [plan.points(*chunk) for chunk in plan.chunks()]
  angles = np.concatenate([p["angle"] for p in points])
  assert sorted(set(angles)) == list(np.arange(10, 80.001, 5))


def test_memorize_puts_every_point_in_train_and_eval():
  plan = _small()
  assert {plan.splits_of("grid", i) for i in range(135)} == {("train", "eval")}


def test_the_usual_way_holds_out_about_a_fifth():
  plan = Plan.from_config(load_config(PROJECTILE, {
      "task.mode": "generalize", "checkpoint_selection.metric": "loss"}))
  splits = [plan.splits_of("grid", i) for i in range(5000)]
  assert all(len(s) == 1 for s in splits)
  held_out = sum(s == ("eval",) for s in splits) / len(splits)
  assert 0.17 < held_out < 0.23


def test_a_monte_carlo_plan_trains_on_the_sample_and_checks_on_other_points():
  plan = _small(sample=500, check_sample=300)
  chunks = list(plan.chunks())
  assert sum(stop - start for part, start, stop in chunks if part == "train") == 500
  assert sum(stop - start for part, start, stop in chunks if part == "check") == 300
  train = {p for c in chunks if c[0] == "train" for p in zip(*plan.points(*c).values())}
  check = {p for c in chunks if c[0] == "check" for p in zip(*plan.points(*c).values())}
  assert len(train) == 500 and not train & check
  assert plan.splits_of("train", 0) == ("train",) and plan.splits_of("check", 0) == ("eval",)
  assert "an estimate" not in plan.describe() and "Monte Carlo" in plan.describe()


def test_the_plan_survives_the_trip_through_the_component_config():
  plan = _small(sample=50, check_sample=20, seed=7)
  assert Plan.from_dict(plan.to_dict()) == plan
  from components.simulator_ingest import executor
  custom = executor.make_custom_config(plan)
  from google.protobuf import json_format
  again = executor.plan_from_exec_properties({"custom_config": json_format.MessageToJson(custom)})
  assert again == plan
  assert isinstance(simulators.grid_size(again.axes), int)


def test_a_user_function_is_a_simulator_with_its_own_axes_and_output():
  config = load_config(PROJECTILE, {
      "data.simulator.name": "tests.test_simulators:_square_sum",
      "data.simulator.output": "z",
      "data.simulator.axes": {"x": {"start": -1, "stop": 1, "step": 0.5},
                              "y": {"start": 0, "stop": 2, "step": 1}},
      "features.numeric": ["x", "y"], "task.label": "z"})
  plan = preflight.check_simulator(config)
  assert plan.check() == 15
  assert "simulator tests.test_simulators:_square_sum: 15 grid points" in plan.describe()
  simulator = simulators.get(plan.simulator, plan.output)
  points = plan.points("grid", 0, 15)
  np.testing.assert_allclose(simulator.solve_points(points), points["x"] ** 2 + points["y"] ** 2)
