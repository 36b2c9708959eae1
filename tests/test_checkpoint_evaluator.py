"""Checkpoint scoring and selection, and the servable model exported from the
selected checkpoint."""
from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from components.checkpoint_evaluator import scoring, selection
from components.checkpoint_evaluator.scoring import CheckpointScore
from components.csv_ingest import executor
from components import features
from components.trainer import data, export, loop
from components.trainer.inputs import TrainInputs


@pytest.fixture(scope="module")
def trained(transformed, tmp_path_factory):
  config, transform_dir, examples_dir = transformed
  tmp = tmp_path_factory.mktemp("trained")
  record = loop.train(TrainInputs(
      config, config.trainer.hyperparameters, tft.TFTransformOutput(transform_dir),
      data.split_pattern(examples_dir, "train"), data.split_pattern(examples_dir, "eval"),
      str(tmp / "ckpt"), str(tmp / "logs"), progress=lambda _: None))
  return config, transform_dir, examples_dir, record


def test_every_checkpoint_is_scored_on_the_eval_split(trained):
  config, transform_dir, examples_dir, record = trained
  scores = scoring.score(config, record, tft.TFTransformOutput(transform_dir),
                         data.split_pattern(examples_dir, "eval"), progress=lambda _: None)
  assert [s.step for s in scores] == [20, 40, 60]
  for s in scores:
    assert set(s.metrics) == {"loss", "auc", "accuracy"}
    assert 0 < s.metrics["loss"] < 2 and 0.5 < s.metrics["auc"] <= 1
  # Different weights give different scores: each checkpoint was really restored.
  assert len({round(s.metrics["loss"], 6) for s in scores}) == 3


def test_selection_takes_the_best_not_the_last():
  scores = [CheckpointScore(10, "a", {"loss": 0.5, "auc": 0.7}),
            CheckpointScore(20, "b", {"loss": 0.3, "auc": 0.9}),
            CheckpointScore(30, "c", {"loss": 0.4, "auc": 0.8})]
  assert scoring.select(scores, "loss", "min").step == 20
  assert scoring.select(scores, "auc", "max").step == 20
  tie = scores + [CheckpointScore(40, "d", {"loss": 0.3, "auc": 0.9})]
  assert scoring.select(tie, "loss", "min").step == 20  # the earlier of equals
  with pytest.raises(ValueError, match="'f1' is not one of"):
    scoring.select(scores, "f1", "max")


def test_exported_model_serves_raw_examples_with_the_checkpoint_weights(trained, taxi_slice,
                                                                         tmp_path):
  config, transform_dir, _, record = trained
  tft_output = tft.TFTransformOutput(transform_dir)
  path = scoring.list_checkpoints(record.checkpoint_dir)[0][1]
  model = scoring.restore_model(config, record, tft_output, path)
  export.export_serving_model(config, model, tft_output, str(tmp_path / "serving"))
  served = tf.saved_model.load(str(tmp_path / "serving"))

  spec = features.column_spec(config)
  examples = list(executor.examples_in_file(str(taxi_slice / "data.csv"), spec))[:50]
  labelled = [e.SerializeToString() for e in examples]
  for e in examples:
    del e.features.feature[config.task.label]
  unlabelled = [e.SerializeToString() for e in examples]

  scores = served.signatures["serving_default"](examples=tf.constant(unlabelled))["scores"]
  assert scores.shape == (50, 1)
  transformed = served.signatures["transform_features"](examples=tf.constant(labelled))
  direct = tf.sigmoid(model({k: v for k, v in transformed.items()
                             if k != features.LABEL_KEY}, training=False))
  # Serving = transform graph + the selected checkpoint's weights, nothing else.
  np.testing.assert_allclose(scores.numpy(), direct.numpy(), rtol=1e-5)
  assert set(np.unique(transformed[features.LABEL_KEY].numpy())) <= {0, 1}


def _served_and_direct(config, tft_output, record, serving_dir, checkpoint, examples):
  served = tf.saved_model.load(serving_dir).signatures["serving_default"]
  model = scoring.restore_model(config, record, tft_output, checkpoint)
  transformed = tft_output.transform_features_layer()(
      tf.io.parse_example(tf.constant(examples), tft_output.raw_feature_spec()))
  direct = tf.sigmoid(model({k: v for k, v in transformed.items() if k != features.LABEL_KEY},
                            training=False))
  return served(examples=tf.constant(examples))["scores"].numpy(), direct.numpy()


def test_the_exported_model_is_the_selected_checkpoint_not_the_last(trained, taxi_slice,
                                                                   tmp_path):
  """Select the *worst* checkpoint on purpose (loss, max), so that the selected one is
  not the last: the servable model must carry the selected weights, and the report
  must name the same checkpoint."""
  config, transform_dir, examples_dir, record = trained
  worst = config.model_copy(update={"checkpoint_selection": config.checkpoint_selection
                                    .model_copy(update={"metric": "loss", "mode": "max"})})
  tft_output = tft.TFTransformOutput(transform_dir)
  result = selection.select_and_export(
      worst, record, tft_output, data.split_pattern(examples_dir, "eval"),
      str(tmp_path / "serving"), str(tmp_path / "report"), say=lambda _: None)
  last = result.scores[-1]
  assert result.best.step == 20 and last.step == 60  # 20 steps in, loss is highest
  report = json.loads((tmp_path / "report" / selection.REPORT_FILE).read_text())
  assert report["selected_step"] == 20 and report["selected_checkpoint"] == result.best.path

  spec = features.column_spec(config)
  rows = [e.SerializeToString()
          for e in executor.examples_in_file(str(taxi_slice / "data.csv"), spec)[:200]]
  served, selected = _served_and_direct(config, tft_output, record, str(tmp_path / "serving"),
                                        result.best.path, rows)
  _, from_last = _served_and_direct(config, tft_output, record, str(tmp_path / "serving"),
                                    last.path, rows)
  np.testing.assert_allclose(served, selected, rtol=1e-5)
  assert np.abs(served - from_last).max() > 1e-3  # and the last one would differ
