"""Multiclass (string labels) and regression, through real tf.Transform, the
training loop, checkpoint scoring and the served model."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from components import features
from components.checkpoint_evaluator import scoring
from components.csv_ingest import executor
from components.trainer import data, export, loop
from components.trainer.inputs import TrainInputs
from components.config import load_config
from components.trainer import standalone_inputs

CASES = {
    # payment_type ("Cash", "Credit Card", ...) as a string multi-class label.
    "multiclass": {"task.type": "multiclass", "task.label": "payment_type",
                   "evaluator.lower_bound": 0.5,
                   "features.categorical": ["company", "trip_start_hour"]},
    # the fare as a regression target.
    "regression": {"task.type": "regression", "task.label": "fare",
                   "evaluator.upper_bound": 100.0,
                   "features.numeric": ["trip_miles", "trip_seconds"]},
}


@pytest.mark.parametrize("task", sorted(CASES))
def test_task_trains_scores_and_serves(task, taxi_slice, tmp_path):
  config = load_config(overrides={**CASES[task], "trainer.train_steps": 60,
                                  "trainer.num_checkpoints": 2})
  transform_dir, examples_dir = standalone_inputs.build(config, taxi_slice / "data.csv", tmp_path)
  tft_output = tft.TFTransformOutput(transform_dir)
  record = loop.train(TrainInputs(
      config, config.trainer.hyperparameters, tft_output,
      data.split_pattern(examples_dir, "train"), data.split_pattern(examples_dir, "eval"),
      str(tmp_path / "ckpt"), str(tmp_path / "logs"), progress=lambda _: None))
  scores = scoring.score(config, record, tft_output, data.split_pattern(examples_dir, "eval"),
                         progress=lambda _: None)
  assert [s.step for s in scores] == [30, 60]

  model = scoring.restore_model(config, record, tft_output, scores[-1].path)
  export.export_serving_model(config, model, tft_output, str(tmp_path / "serving"))
  served = tf.saved_model.load(str(tmp_path / "serving"))
  examples = list(executor.examples_in_file(str(taxi_slice / "data.csv"), features.column_spec(config)))[:64]
  for e in examples:
    del e.features.feature[config.task.label]
  out = served.signatures["serving_default"](
      examples=tf.constant([e.SerializeToString() for e in examples]))

  if task == "multiclass":
    classes = tft_output.vocabulary_by_name(features.label_vocabulary_name(config))
    assert b"Cash" in classes and b"Credit Card" in classes
    probs = out["scores"].numpy()
    assert probs.shape == (64, len(classes) + 1)  # + the unseen-class id
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert set(out["classes"].numpy()) <= set(classes)
    assert scores[-1].metrics["accuracy"] > 0.5  # most trips are cash or card
  else:
    assert out["scores"].shape == (64, 1)
    assert set(scores[-1].metrics) == {"loss", "mae", "max_abs_error", "max_rel_error"}
    # The worst row is at least as wrong as the average one, and is measured
    # against the label's range (one outlier fare makes that range wide).
    m = scores[-1].metrics
    assert m["max_abs_error"] >= m["mae"] and 0 < m["max_rel_error"] <= 1
    # Trip length predicts the fare: better than always guessing the mean.
    fares = np.array([r.features.feature["fare"].float_list.value[0]
                      for r in executor.examples_in_file(str(taxi_slice / "data.csv"),
                                              features.column_spec(config))])
    assert scores[-1].metrics["mae"] < np.mean(np.abs(fares - fares.mean()))
