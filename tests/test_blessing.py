"""Blessing and pushing: a model that misses the threshold is never pushed. Runs the
real Evaluator (TFMA) and our registry Pusher executors on the end-to-end run's
artifacts."""
from __future__ import annotations

import glob
import os

import pytest
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from components.blessing import executor as blessing_evaluator, policy
from components.pusher import executor as registry_pusher

pytestmark = pytest.mark.e2e


def _artifact(cls, uri, **props):
  a = cls()
  a.uri = str(uri)
  for k, v in props.items():
    setattr(a, k, v)
  return a


def test_model_below_threshold_is_not_blessed_and_not_pushed(small_run, tmp_path):
  config, _ = small_run
  root = config.run_path / "pipeline_root"
  [examples_uri] = glob.glob(str(root / "Ingest" / "examples" / "*"))
  [model_uri] = glob.glob(str(root / "CheckpointEvaluator" / "model" / "*"))
  [production_uri] = glob.glob(str(root / "ProductionModel" / "model" / "*"))
  [schema_uri] = glob.glob(str(root / "SchemaGen" / "schema" / "*"))
  [statistics_uri] = glob.glob(str(root / "StatisticsGen" / "statistics" / "*"))
  strict = config.model_copy(update={"evaluator": config.evaluator.model_copy(
      update={"lower_bound": 0.999})})

  examples = _artifact(standard_artifacts.Examples, examples_uri,
                       split_names='["train", "eval"]')
  model = _artifact(standard_artifacts.Model, model_uri)
  production = _artifact(standard_artifacts.Model, production_uri)
  production.set_int_custom_property("version", 0)  # the first run: none yet
  blessing = _artifact(standard_artifacts.ModelBlessing, tmp_path / "blessing")
  evaluation = _artifact(standard_artifacts.ModelEvaluation, tmp_path / "evaluation")
  blessing_evaluator.Executor().Do(
      {"examples": [examples], "model": [model], "baseline_model": [production]},
      {"evaluation": [evaluation], "blessing": [blessing]},
      {"eval_config": proto_utils.proto_to_json(policy.eval_config(strict)),
       "example_splits": "null", "fairness_indicator_thresholds": "null"})
  assert os.path.exists(tmp_path / "blessing" / "NOT_BLESSED")
  assert blessing.get_int_custom_property("blessed") == 0

  pushed = _artifact(standard_artifacts.PushedModel, tmp_path / "pushed")
  serving = tmp_path / "serving"
  registry_pusher.Executor().Do(
      {"model": [model], "model_blessing": [blessing], "evaluation": [evaluation],
       "production": [production], "examples": [examples],
       "schema": [_artifact(standard_artifacts.Schema, schema_uri)],
       "statistics": [_artifact(standard_artifacts.ExampleStatistics, statistics_uri)]},
      {"pushed_model": [pushed]},
      {"push_destination": str(serving), "keep_versions": 3, "blessing_metric": "auc"})
  assert pushed.get_int_custom_property("pushed") == 0
  assert pushed.get_string_custom_property("decision").startswith(
      "no production model yet; candidate auc ")
  assert pushed.get_string_custom_property("decision").endswith(" fails the bound")
  assert not serving.exists() or not os.listdir(serving)


@pytest.mark.parametrize("blessed, current, ckpt, pushed, reason", [
    (True, {}, "c/ckpt-5", True, "no production model yet; candidate auc 0.9100 passes the bound"),
    (False, {}, "c/ckpt-5", False, "no production model yet; candidate auc 0.9100 fails the bound"),
    (True, {"version": 3, "checkpoint_path": "p/ckpt-9"}, "c/ckpt-5", True,
     "candidate auc 0.9100 vs production version 3 0.9000: better"),
    (False, {"version": 3, "checkpoint_path": "p/ckpt-9"}, "c/ckpt-5", False,
     "candidate auc 0.9100 vs production version 3 0.9000: not better by the margin, "
     "or below the bound"),
    # A rerun on the data production was trained on selects production's own
    # checkpoint again: blessed (no worse than itself), but nothing new to push.
    (True, {"version": 3, "checkpoint_path": "p/ckpt-9"}, "p/ckpt-9", False,
     "the candidate is production version 3 (same checkpoint)"),
])
def test_push_decision_names_both_scores_and_the_reason(blessed, current, ckpt, pushed, reason):
  assert policy.decide(blessed, 0.91, 0.90, "auc", current, ckpt) == (pushed, reason)


@pytest.mark.parametrize("candidate, shown", [(float("nan"), "NaN"), (None, "unknown")])
@pytest.mark.parametrize("current", [{}, {"version": 3, "checkpoint_path": "p/ckpt-9"}])
def test_an_undefined_blessing_metric_never_pushes(candidate, shown, current):
  """TFMA's bounds let NaN through (no comparison with NaN fails): an AUC on an eval
  split of one class would bless any model. Blessed or not, it is not pushed."""
  push, reason = policy.decide(True, candidate, 0.9, "auc", current, "c/ckpt-5")
  assert not push
  assert reason.startswith(f"candidate auc is {shown} (undefined on this eval data")
