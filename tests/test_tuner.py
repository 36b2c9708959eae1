"""The Tuner step's search is reproducible: a rerun with the same config and data
tries the same hyperparameters and scores them the same, so it picks the same
best values (and the Trainer then resumes the same checkpoint directory)."""
from __future__ import annotations

from tfx.components.trainer.fn_args_utils import FnArgs

from components import tuner_module
from components.trainer import data


def _search(config, transform_dir, examples_dir, working_dir):
  result = tuner_module.tuner_fn(FnArgs(
      working_dir=str(working_dir), transform_graph_path=transform_dir,
      train_files=[data.split_pattern(examples_dir, "train")],
      eval_files=[data.split_pattern(examples_dir, "eval")],
      custom_config={"config": config.to_json()}))
  result.tuner.search(**result.fit_kwargs)
  trials = result.tuner.oracle.get_best_trials(num_trials=10)
  return [(t.hyperparameters.values, t.score) for t in trials]


def test_a_rerun_of_the_search_tries_and_scores_the_same(transformed, tmp_path):
  config, transform_dir, examples_dir = transformed
  config = config.model_copy(update={"tuner": config.tuner.model_copy(
      update={"max_trials": 2, "steps_per_trial": 20})})
  first = _search(config, transform_dir, examples_dir, tmp_path / "first")
  second = _search(config, transform_dir, examples_dir, tmp_path / "second")
  assert len(first) == 2
  assert [hp for hp, _ in first] == [hp for hp, _ in second]
  for (_, a), (_, b) in zip(first, second):
    assert abs(a - b) < 1e-6, (first, second)
