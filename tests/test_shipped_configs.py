"""The configs the quick starts run (pipelines/configs), each tested on what it
promises: parameter_servers.yaml trains with ParameterServerStrategy to its step
budget, and a rerun resumes from its checkpoint; bayesian_search.yaml and
hyperband_search.yaml run their algorithm's trials and hand the best trial's
values to the Trainer. Each config's own trainer or tuner section, on the 2,000-row
taxi slice the other tests use (the configs read the embedded 15,002 rows)."""
from __future__ import annotations

import pytest

from components import hyperparameters
from components.config import load_config
from tests.conftest import REPO
from tests.test_distributed import _train, transformed_tf2  # noqa: F401  (a fixture)
from tests.test_tuner import _search, _table, _tuned


def _shipped(name: str):
  return load_config(REPO / "pipelines" / "configs" / name)


@pytest.mark.e2e
def test_parameter_servers_trains_to_its_budget_and_a_rerun_resumes(transformed_tf2, tmp_path):
  """A coordinator, the config's workers and parameter servers, as processes on
  this host; then the same training again, as after a kill: it resumes from the
  last checkpoint and has nothing left to train."""
  t = _shipped("parameter_servers.yaml").trainer
  assert t.strategy.value == "parameter_server" and t.workers > 1 and t.ps >= 1
  base, *_ = transformed_tf2
  config = base.model_copy(update={"run_dir": str(tmp_path / "run"), "trainer": t})
  lines: list[str] = []
  record = _train(config, transformed_tf2, tmp_path, lines.append)
  assert record.strategy == "ParameterServerStrategyV2"
  assert record.final_step == t.train_steps
  interval = t.train_steps // t.num_checkpoints
  assert [h["step"] for h in record.history] == list(range(interval, t.train_steps + 1,
                                                           interval))
  assert record.history[-1]["train_loss"] < record.history[0]["train_loss"]

  again: list[str] = []
  rerun = _train(config, transformed_tf2, tmp_path, again.append)
  resumed = [line for line in again if line.startswith("resumed from ")]
  assert resumed and resumed[0].endswith(
      f"/ckpt-{t.train_steps} (step {t.train_steps}, epoch {t.num_checkpoints})"), again
  assert not any(line.startswith("step ") for line in again), again
  assert rerun.final_step == t.train_steps


@pytest.mark.parametrize("name, oracle", [("bayesian_search.yaml", "BayesianOptimizationOracle"),
                                          ("hyperband_search.yaml", "HyperbandOracle")])
def test_a_shipped_search_runs_its_algorithm_and_hands_on_the_best(transformed, tmp_path,
                                                                    name, oracle):
  tc = _shipped(name).tuner
  config, transform_dir, examples_dir = transformed
  config = _tuned(config, **tc.model_dump())
  tuner = _search(config, transform_dir, examples_dir, tmp_path)
  assert type(tuner.oracle).__name__ == oracle
  table = _table(tuner)
  assert table and all(row["status"] == "COMPLETED" for row in table)
  steps = sorted({int(row["steps"]) for row in table})
  if tc.algorithm == "hyperband":
    # Rounds of a quarter, half and all of steps_per_trial (factor 2), and 15
    # trials, as the config says.
    unit = tc.steps_per_trial // tc.hyperband_factor ** 2
    assert steps == [unit, unit * tc.hyperband_factor, tc.steps_per_trial]
    assert len(table) == 15
  else:
    # Its comment: 3 random trials per searched hyperparameter, the rest chosen by
    # the Gaussian process.
    assert len(table) == tc.max_trials > 3 * len(tc.search_space)
    assert steps == [tc.steps_per_trial]
  # The best trial's values are the ones handed on, and the Trainer reads them.
  (best,) = tuner.oracle.get_best_trials(1)
  scores = {row["trial"]: float(row["objective"]) for row in table}
  assert scores[best.trial_id] == min(scores.values())
  handed_on = tuner.get_best_hyperparameters()[0].values
  assert handed_on == best.hyperparameters.values
  trained = hyperparameters.from_trainer_args({"space": [], "values": handed_on},
                                              config.trainer.hyperparameters)
  assert trained.learning_rate == handed_on["learning_rate"]
