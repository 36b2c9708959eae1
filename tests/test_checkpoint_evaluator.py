"""Checkpoint scoring and selection, and the servable model exported from the
selected checkpoint."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from components.checkpoint_evaluator import scoring
from components.checkpoint_evaluator.scoring import CheckpointScore
from components.csv_ingest import executor
from components import features
from components.trainer import data, export, loop


@pytest.fixture(scope="module")
def trained(transformed, tmp_path_factory):
  config, transform_dir, examples_dir = transformed
  tmp = tmp_path_factory.mktemp("trained")
  record = loop.train(config, config.trainer.hyperparameters,
                      tft.TFTransformOutput(transform_dir),
                      data.split_pattern(examples_dir, "train"),
                      data.split_pattern(examples_dir, "eval"), str(tmp / "ckpt"),
                      str(tmp / "logs"), progress=lambda _: None)
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
