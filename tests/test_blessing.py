"""Blessing and pushing: a model that misses the threshold is never pushed. Runs the
real TFMA Evaluator and Pusher executors on the end-to-end run's artifacts."""
from __future__ import annotations

import glob
import os

import pytest
from tfx.components.evaluator import executor as evaluator_executor
from tfx.components.pusher import executor as pusher_executor
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from pipelines import pipeline

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
  strict = config.model_copy(update={"evaluator": config.evaluator.model_copy(
      update={"lower_bound": 0.999})})

  examples = _artifact(standard_artifacts.Examples, examples_uri,
                       split_names='["train", "eval"]')
  model = _artifact(standard_artifacts.Model, model_uri)
  blessing = _artifact(standard_artifacts.ModelBlessing, tmp_path / "blessing")
  evaluation = _artifact(standard_artifacts.ModelEvaluation, tmp_path / "evaluation")
  evaluator_executor.Executor().Do(
      {"examples": [examples], "model": [model]},
      {"evaluation": [evaluation], "blessing": [blessing]},
      {"eval_config": proto_utils.proto_to_json(pipeline.eval_config(strict)),
       "example_splits": "null", "fairness_indicator_thresholds": "null"})
  assert os.path.exists(tmp_path / "blessing" / "NOT_BLESSED")
  assert blessing.get_int_custom_property("blessed") == 0

  pushed = _artifact(standard_artifacts.PushedModel, tmp_path / "pushed")
  serving = tmp_path / "serving"
  pusher_executor.Executor().Do(
      {"model": [model], "model_blessing": [blessing]}, {"pushed_model": [pushed]},
      {"push_destination": proto_utils.proto_to_json(pusher_pb2.PushDestination(
          filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=str(serving))))})
  assert pushed.get_int_custom_property("pushed") == 0
  assert not serving.exists() or not os.listdir(serving)
