"""The one pipeline definition: which components it holds for a given config."""
from __future__ import annotations

import json

import pytest
import tensorflow_model_analysis as tfma
from google.protobuf import json_format

from components.config import load_config
from pipelines.pipeline import create_pipeline


def _ids(config):
  p = create_pipeline(config, data_dir="/data", pipeline_root="/root", serving_dir="/serving",
                      checkpoint_root="/ckpt")
  return [c.id for c in p.components]


def test_default_pipeline_has_every_step_in_order():
  assert _ids(load_config()) == [
      "Ingest", "ProductionModel", "DriftGate", "StatisticsGen", "SchemaGen", "Transform",
      "Tuner", "Trainer", "CheckpointEvaluator", "Evaluator", "Pusher"]


def test_tuner_off_and_checked_in_schema(tmp_path):
  (tmp_path / "schema.pbtxt").write_text("")
  config = load_config(overrides={"tuner.enabled": False,
                                  "data.schema_file": str(tmp_path / "schema.pbtxt")})
  ids = _ids(config)
  assert "Tuner" not in ids and "SchemaGen" not in ids and "ImportSchemaGen" in ids


def test_components_import_code_by_module_path_not_by_staged_file():
  p = create_pipeline(load_config(), data_dir="/data", pipeline_root="/root",
                      serving_dir="/serving", checkpoint_root="/ckpt")
  by_id = {c.id: c for c in p.components}
  assert by_id["Transform"].exec_properties["preprocessing_fn"] == \
      "components.transform.executor.preprocessing_fn"
  assert by_id["Trainer"].exec_properties["run_fn"] == "components.trainer.executor.run_fn"
  assert by_id["Tuner"].exec_properties["tuner_fn"] == "components.tuning.executor.tuner_fn"
  assert not by_id["Trainer"].exec_properties.get("module_file")


def test_the_pusher_pushes_only_what_the_evaluator_blessed():
  """TFX's Pusher pushes whatever it is given when it has no blessing input: the
  wiring is the promise (the executors' behaviour is in test_blessing.py)."""
  p = create_pipeline(load_config(), data_dir="/data", pipeline_root="/root",
                      serving_dir="/serving", checkpoint_root="/ckpt")
  by_id = {c.id: c for c in p.components}
  pusher, evaluator = by_id["Pusher"], by_id["Evaluator"]
  assert pusher.inputs["model_blessing"] is evaluator.outputs["blessing"]
  assert pusher.inputs["model"] is by_id["CheckpointEvaluator"].outputs["model"]
  assert evaluator.inputs["model"] is by_id["CheckpointEvaluator"].outputs["model"]
  # A blessing needs a threshold: without one TFMA blesses nothing, or (with a
  # change threshold and no baseline) everything.
  eval_config = tfma.EvalConfig()
  json_format.Parse(evaluator.exec_properties["eval_config"], eval_config)
  [metrics] = eval_config.metrics_specs
  [blessing_metric] = [m for m in metrics.metrics if m.HasField("threshold")]
  assert blessing_metric.class_name == "AUC"
  assert blessing_metric.threshold.value_threshold.lower_bound.value == 0.6


@pytest.mark.parametrize("task, overrides, direction, margin", [
    ("binary", {}, tfma.MetricDirection.HIGHER_IS_BETTER, 0.02),
    ("regression", {"evaluator.upper_bound": 100.0, "task.label": "fare",
                    "features.numeric": ["trip_miles", "trip_seconds"]},
     tfma.MetricDirection.LOWER_IS_BETTER, -0.02),
])
def test_a_candidate_must_beat_production_and_production_feeds_the_run(
    task, overrides, direction, margin):
  """The ProductionModel step's artifact is the Evaluator's baseline, the Trainer's
  warm-start source and the drift gate's reference, and the gate runs before
  Transform (so before anything trains)."""
  config = load_config(overrides={"task.type": task, "evaluator.min_improvement": 0.02,
                                  **overrides})
  p = create_pipeline(config, data_dir="/data", pipeline_root="/root",
                      serving_dir="/serving", checkpoint_root="/ckpt")
  by_id = {c.id: c for c in p.components}
  production = by_id["ProductionModel"].outputs["model"]
  assert by_id["Evaluator"].inputs["baseline_model"] is production
  assert by_id["Trainer"].inputs["base_model"] is production
  assert by_id["DriftGate"].inputs["production"] is production
  assert by_id["Pusher"].inputs["production"] is production
  assert by_id["DriftGate"] in by_id["Transform"].upstream_nodes
  eval_config = tfma.EvalConfig()
  json_format.Parse(by_id["Evaluator"].exec_properties["eval_config"], eval_config)
  [blessing_metric] = [m for m in eval_config.metrics_specs[0].metrics if m.HasField("threshold")]
  change = blessing_metric.threshold.change_threshold
  assert (change.direction, change.absolute.value) == (direction, pytest.approx(margin))


def _properties(config) -> dict[str, str]:
  """Each step's properties as TFX's cache sees them (its key, with the inputs)."""
  p = create_pipeline(config, data_dir="/data", pipeline_root="/root", serving_dir="/serving",
                      checkpoint_root="/ckpt")
  return {c.id: json.dumps(c.exec_properties, sort_keys=True, default=str)
          for c in p.components}


@pytest.mark.parametrize("change, steps", [
    ({"trainer.train_steps": 1500}, {"Trainer", "CheckpointEvaluator"}),
    ({"trainer.early_stopping.enabled": True}, {"Trainer", "CheckpointEvaluator"}),
    ({"trainer.hyperparameters.embedding_dim": 4},
     {"Tuner", "Trainer", "CheckpointEvaluator"}),
    ({"tuner.max_trials": 2}, {"Tuner"}),
    ({"transform.vocab_size": 50},
     {"Transform", "Tuner", "Trainer", "CheckpointEvaluator"}),
    ({"checkpoint_selection.mode": "max", "checkpoint_selection.metric": "auc"},
     {"Trainer", "CheckpointEvaluator"}),
    ({"evaluator.lower_bound": 0.7}, {"Evaluator"}),
    # The upper bound is also the tolerance a memorized grid's error map shows.
    ({"evaluator.upper_bound": 0.95}, {"Evaluator", "CheckpointEvaluator"}),
    # Memorizing: whole-grid evaluation (and other checks), so the trainer reruns too.
    ({"trainer.polish_steps": 10}, {"Tuner", "Trainer", "CheckpointEvaluator"}),
    # The drift gate reads the data section for its null values (a whole section
    # is one step's view), so any data setting reruns it; it takes a second.
    ({"data.split_key": "payment_type"}, {"Ingest", "DriftGate"}),
    ({"data.spans.newest": 3}, {"Ingest", "DriftGate"}),
    ({"retrain.drift_threshold": 0.2}, {"DriftGate"}),
    ({"retrain.warm_start_steps": 100}, {"Trainer"}),
    ({"evaluator.min_improvement": 0.01}, {"Evaluator"}),
    ({"retrain.keep_versions": 3}, {"Pusher"}),
])
def test_a_config_change_reaches_exactly_the_steps_that_read_it(change, steps):
  """With caching on, a step reruns when its properties change (or its inputs do,
  which downstream steps then see as new artifacts)."""
  before, after = _properties(load_config()), _properties(load_config(overrides=change))
  assert {step for step in before if before[step] != after[step]} == steps


def test_a_step_is_given_its_own_code_digest():
  config = load_config()
  p = create_pipeline(config, data_dir="/data", pipeline_root="/root", serving_dir="/serving",
                      checkpoint_root="/ckpt")
  by_id = {c.id: c for c in p.components}
  code = {step: json.loads(by_id[step].exec_properties["custom_config"])["code"]
          for step in ("Transform", "Tuner", "Trainer")}
  assert code["Transform"] != code["Trainer"] != code["Tuner"]
  assert by_id["CheckpointEvaluator"].exec_properties["code"]
