"""Worst-case grid errors: the TFMA metrics the Evaluator blesses on, their NumPy
counterpart, and the error plots."""
from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest
import tensorflow_model_analysis as tfma
from PIL import Image
from tensorflow_model_analysis.metrics import metric_specs, metric_util
from tensorflow_model_analysis.proto import config_pb2

from components.grid_errors import tfma_metrics
from components.grid_errors.worst_case import grid_errors
from components.grid_errors.plot import grid_2d, plot_errors

MODULE = "components.grid_errors.tfma_metrics"

# The worst absolute error (0.5) is at the label nearest zero: relative to |label|
# it would be 5000%, relative to the output range (9.99) it is 5%.
LABELS = [0.01, 2.0, 5.0, 10.0]
PREDICTIONS = [0.51, 2.1, 5.3, 10.2]
MAX_ABS = 0.5
MAX_REL = 0.5 / 9.99


def _combiner(metric, example_weighted=False):
  (computation,) = metric.computations(example_weighted=example_weighted)
  return computation.keys[0], computation.combiner


def _accumulate(combiner, labels, predictions, weights=None):
  accumulator = combiner.create_accumulator()
  weights = weights or [1.0] * len(labels)
  for label, prediction, weight in zip(labels, predictions, weights):
    element = metric_util.to_standard_metric_inputs({
        "labels": np.array([label]), "predictions": np.array([prediction]),
        "example_weights": np.array([weight])})
    accumulator = combiner.add_input(accumulator, element)
  return accumulator


def _result(metric, labels, predictions, weights=None, example_weighted=False):
  key, combiner = _combiner(metric, example_weighted)
  return combiner.extract_output(_accumulate(combiner, labels, predictions, weights))[key]


@pytest.mark.parametrize("metric, expected", [
    (tfma_metrics.MaxAbsoluteError(), MAX_ABS),
    (tfma_metrics.MaxRelativeError(), MAX_REL),
])
def test_shards_merge_to_the_same_worst_case_as_the_whole(metric, expected):
  key, combiner = _combiner(metric)
  whole = combiner.extract_output(_accumulate(combiner, LABELS, PREDICTIONS))[key]
  assert whole == pytest.approx(expected)
  # The worst point and the lowest label in one shard, the highest label in the
  # other: the range must come from both.
  first = _accumulate(combiner, LABELS[:2], PREDICTIONS[:2])
  second = _accumulate(combiner, LABELS[2:], PREDICTIONS[2:])
  for shards in ([first, second], [second, first]):
    merged = combiner.merge_accumulators(
        [combiner.merge_accumulators([combiner.create_accumulator()]), *shards])
    assert combiner.extract_output(merged)[key] == pytest.approx(expected)


def test_zero_weight_examples_are_skipped_only_when_weighted():
  # The worst point (error 0.5) and the lowest label are masked out: what is left
  # has its worst error 0.3 on labels 2..10.
  weights = [0.0, 1.0, 7.0, 1.0]
  assert _result(tfma_metrics.MaxAbsoluteError(), LABELS, PREDICTIONS, weights,
                 example_weighted=True) == pytest.approx(0.3)
  assert _result(tfma_metrics.MaxRelativeError(), LABELS, PREDICTIONS, weights,
                 example_weighted=True) == pytest.approx(0.3 / 8.0)
  assert _result(tfma_metrics.MaxAbsoluteError(), LABELS, PREDICTIONS, weights) == \
      pytest.approx(MAX_ABS)


def test_a_nan_prediction_or_no_examples_fail_rather_than_pass():
  key, combiner = _combiner(tfma_metrics.MaxAbsoluteError())
  broken = _accumulate(combiner, [1.0], [float("nan")])
  fine = _accumulate(combiner, LABELS, PREDICTIONS)
  for shards in ([broken, fine], [fine, broken]):
    assert math.isnan(combiner.extract_output(combiner.merge_accumulators(shards))[key])
  assert math.isnan(combiner.extract_output(combiner.create_accumulator())[key])


def test_constant_labels_give_the_absolute_error():
  assert _result(tfma_metrics.MaxRelativeError(), [3.0, 3.0], [3.0, 3.2]) == \
      pytest.approx(0.2)


def test_tfma_resolves_the_class_from_the_module_alone():
  # An empty registry: as in a fresh Evaluator process that never imported us.
  for class_name, cls, name in [
      ("MaxAbsoluteError", tfma_metrics.MaxAbsoluteError, tfma_metrics.MAX_ABS_ERROR_NAME),
      ("MaxRelativeError", tfma_metrics.MaxRelativeError, tfma_metrics.MAX_REL_ERROR_NAME)]:
    metric = metric_specs.metric_instance(
        config_pb2.MetricConfig(class_name=class_name, module=MODULE), tfma_metric_classes={})
    assert type(metric) is cls and metric.name == name
  # specs_from_metrics writes no module: that round trip needs the registry, which
  # importing tfma_metrics fills.
  (spec,) = tfma.metrics.specs_from_metrics(
      [tfma_metrics.MaxRelativeError()], include_example_count=False,
      include_weighted_example_count=False)
  (config,) = spec.metrics
  assert not config.module
  assert type(metric_specs.metric_instance(config)) is tfma_metrics.MaxRelativeError


def test_tfma_evaluates_and_validates_the_pipeline_style_config(tmp_path):
  """The whole TFMA run (model-free: predictions in a column), with the config the
  pipeline would give the Evaluator: keys, weights and a threshold."""
  data = pd.DataFrame({"y": LABELS, "scores": PREDICTIONS, "w": [0.0, 1.0, 1.0, 1.0]})
  bound = config_pb2.MetricThreshold(
      value_threshold=config_pb2.GenericValueThreshold(upper_bound={"value": 0.4}))
  eval_config = config_pb2.EvalConfig(
      model_specs=[config_pb2.ModelSpec(label_key="y", prediction_key="scores",
                                        example_weight_key="w")],
      slicing_specs=[config_pb2.SlicingSpec()],
      metrics_specs=[config_pb2.MetricsSpec(
          metrics=[config_pb2.MetricConfig(class_name="MaxAbsoluteError", module=MODULE,
                                           threshold=bound),
                   config_pb2.MetricConfig(class_name="MaxRelativeError", module=MODULE)],
          example_weights=config_pb2.ExampleWeightOptions(weighted=True, unweighted=True))])
  tfma.analyze_raw_data(data, eval_config, output_path=str(tmp_path))

  (for_slice,) = tfma.load_metrics(str(tmp_path))
  got = {(kv.key.name, kv.key.example_weighted.value): kv.value.double_value.value
         for kv in for_slice.metric_keys_and_values}
  assert got == pytest.approx({
      ("max_abs_error", False): MAX_ABS, ("max_rel_error", False): MAX_REL,
      ("max_abs_error", True): 0.3, ("max_rel_error", True): 0.3 / 8.0})
  # 0.5 > 0.4 unweighted fails; 0.3 weighted passes.
  validation = tfma.load_validation_result(str(tmp_path))
  assert not validation.validation_ok
  failures = [(f.metric_key.name, f.metric_key.example_weighted.value)
              for s in validation.metric_validations_per_slice for f in s.failures]
  assert failures == [("max_abs_error", False)]


def _grid():
  """a slowest, in C order, as the simulators tabulate them."""
  a, b = np.meshgrid([0.0, 1.0, 2.0], [10.0, 20.0, 30.0, 40.0], indexing="ij")
  inputs = {"a": a.ravel(), "b": b.ravel()}
  labels = inputs["a"] + inputs["b"] / 10  # 1..6: range 5
  predictions = labels + 0.01 * np.arange(labels.size) / labels.size
  predictions[9] += 0.5  # a=2, b=20
  return inputs, labels, predictions


def test_grid_errors_locate_the_worst_point():
  inputs, labels, predictions = _grid()
  errors = grid_errors(inputs, labels, predictions.reshape(-1, 1))  # a (n, 1) head
  assert errors.worst_point == {"a": 2.0, "b": 20.0}
  assert errors.worst_label == pytest.approx(4.0)
  assert errors.worst_prediction == pytest.approx(predictions[9])
  assert errors.max_abs_error == pytest.approx(predictions[9] - 4.0)
  assert errors.max_rel_error == pytest.approx(errors.max_abs_error / 5.0)
  assert errors.mean_abs_error == pytest.approx(np.mean(np.abs(predictions - labels)))
  assert errors.to_dict()["points"] == 12
  with pytest.raises(ValueError, match="predictions"):
    grid_errors(inputs, labels, predictions[:-1])


def test_grid_2d_rebuilds_the_grid_whatever_the_row_order():
  inputs, labels, predictions = _grid()
  abs_errors = np.abs(predictions - labels)
  shuffled = np.random.default_rng(0).permutation(labels.size)
  for order in (np.arange(labels.size), shuffled):
    grid = grid_2d({k: v[order] for k, v in inputs.items()}, abs_errors[order])
    np.testing.assert_array_equal(grid.axis0, [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(grid.axis1, [10.0, 20.0, 30.0, 40.0])
    np.testing.assert_array_equal(grid.values, abs_errors.reshape(3, 4))
    i, j = np.unravel_index(np.argmax(grid.values), grid.values.shape)
    assert (grid.axis0[i], grid.axis1[j]) == (2.0, 20.0)
  # A point missing, or one twice in its place, is not a grid.
  assert grid_2d({k: v[1:] for k, v in inputs.items()}, abs_errors[1:]) is None
  doubled = {k: np.r_[v[1:], v[1]] for k, v in inputs.items()}
  assert grid_2d(doubled, abs_errors) is None


def test_grid_2d_takes_the_max_over_further_inputs():
  a, b, c = (g.ravel() for g in np.meshgrid([0.0, 1.0], [0.0, 1.0, 2.0], [5.0, 6.0],
                                            indexing="ij"))
  values = a * 100 + b * 10 + c
  grid = grid_2d({"a": a, "b": b, "c": c}, values)
  np.testing.assert_array_equal(grid.values, [[6, 16, 26], [106, 116, 126]])


def _png_title(png: bytes) -> str:
  assert png.startswith(b"\x89PNG")
  return Image.open(io.BytesIO(png)).text["Title"]


def test_plots_one_two_and_three_inputs_and_a_sample():
  inputs, labels, predictions = _grid()
  share = f"max |error| {predictions[9] - 4.0:.3g} ({100 * (predictions[9] - 4.0) / 5:.2g}% of range)"

  one = _png_title(plot_errors({"a": inputs["a"]}, labels, predictions, title="1-D",
                               tolerance=0.1))
  assert one == f"1-D\n{share}"
  assert _png_title(plot_errors(inputs, labels, predictions, title="2-D",
                                tolerance=0.1)) == f"2-D\n{share}"
  three = dict(inputs, c=inputs["a"] * 0)  # a constant third input: still a full grid
  assert _png_title(plot_errors(three, labels, predictions, title="3-D")) == \
      f"3-D\n{share}\nmax over c"

  rng = np.random.default_rng(1)  # Monte Carlo points: no grid, a scatter
  sample = {"a": rng.uniform(0, 2, 50), "b": rng.uniform(10, 40, 50)}
  sample_labels = sample["a"] + sample["b"] / 10
  assert "max |error| 0.25" in _png_title(
      plot_errors(sample, sample_labels, sample_labels + 0.25 * (sample["a"] > 1),
                  title="sample"))
