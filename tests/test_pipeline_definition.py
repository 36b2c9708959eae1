"""The one pipeline definition: which components it holds for a given config."""
from __future__ import annotations

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
      "Ingest", "StatisticsGen", "SchemaGen", "Transform", "Tuner", "Trainer",
      "CheckpointEvaluator", "Evaluator", "Pusher"]


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
      "components.transform_module.preprocessing_fn"
  assert by_id["Trainer"].exec_properties["run_fn"] == "components.trainer.module.run_fn"
  assert by_id["Tuner"].exec_properties["tuner_fn"] == "components.tuner_module.tuner_fn"
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
