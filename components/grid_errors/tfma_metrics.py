"""Worst-case error metrics for TFMA, which has none: the Evaluator blesses a grid
memorizer on its largest error anywhere, not on an average.

Load them in an EvalConfig with the module named, so that TFMA imports this file
wherever it builds the metrics (the registry alone only knows classes whose
module some earlier code happened to import):

  tfma.MetricConfig(class_name="MaxAbsoluteError",
                    module="components.grid_errors.tfma_metrics")

Examples with weight 0 are skipped (TFMA's way of masking rows out); any other
weight counts in full, since a maximum is not an average. Weights are only read
for the example-weighted variant of a metric: the unweighted one gives every
example weight 1. A NaN label or prediction makes the result NaN, which fails
any TFMA threshold rather than hiding a broken point.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util
from tensorflow_model_analysis.proto import config_pb2

from components.grid_errors.worst_case import relative_to_range

MAX_ABS_ERROR_NAME = "max_abs_error"
MAX_REL_ERROR_NAME = "max_rel_error"


class _WorstCaseMetric(metric_types.Metric):
  """Confidence intervals are off: the evaluation covers the whole grid, so there
  is no sampling uncertainty, and a jackknife of a maximum means nothing."""

  @property
  def compute_confidence_interval(self) -> bool:
    return False


class MaxAbsoluteError(_WorstCaseMetric):
  """max over examples of |label - prediction|."""

  def __init__(self, name: str = MAX_ABS_ERROR_NAME, **kwargs):
    super().__init__(metric_util.merge_per_key_computations(_max_abs_error_computations),
                     name=name, **kwargs)


class MaxRelativeError(_WorstCaseMetric):
  """max |label - prediction| / (max label - min label), over the same examples.

  Relative to the output range, not to |label|: labels near zero would blow a
  per-example ratio up. If all labels are equal (no range), the result is the
  absolute error."""

  def __init__(self, name: str = MAX_REL_ERROR_NAME, **kwargs):
    super().__init__(metric_util.merge_per_key_computations(_max_rel_error_computations),
                     name=name, **kwargs)


# The registry is what lets `tfma.metrics.specs_from_metrics([MaxAbsoluteError()])`
# round-trip (its MetricConfig carries no module), in processes that import this file.
metric_types.register_metric(MaxAbsoluteError)
metric_types.register_metric(MaxRelativeError)


def _computations(relative: bool, name: str, eval_config: config_pb2.EvalConfig | None,
                  model_name: str, output_name: str, example_weighted: bool,
                  sub_key: metric_types.SubKey | None) -> metric_types.MetricComputations:
  key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                               sub_key=sub_key, example_weighted=example_weighted)
  return [metric_types.MetricComputation(
      keys=[key], preprocessors=None,
      combiner=_MaxErrorCombiner(key, eval_config, example_weighted, relative))]


# The argument names are what TFMA passes by (it inspects the signature).
def _max_abs_error_computations(
    name: str = MAX_ABS_ERROR_NAME, eval_config: config_pb2.EvalConfig | None = None,
    model_name: str = "", output_name: str = "", example_weighted: bool = False,
    sub_key: metric_types.SubKey | None = None) -> metric_types.MetricComputations:
  return _computations(False, name, eval_config, model_name, output_name,
                       example_weighted, sub_key)


def _max_rel_error_computations(
    name: str = MAX_REL_ERROR_NAME, eval_config: config_pb2.EvalConfig | None = None,
    model_name: str = "", output_name: str = "", example_weighted: bool = False,
    sub_key: metric_types.SubKey | None = None) -> metric_types.MetricComputations:
  return _computations(True, name, eval_config, model_name, output_name,
                       example_weighted, sub_key)


@dataclasses.dataclass
class _MaxErrorAccumulator:
  """Maxima and minima only, so merging is exact however Beam shards the data."""
  examples: int = 0
  max_abs_error: float = float("-inf")
  label_min: float = float("inf")
  label_max: float = float("-inf")

  def update(self, other: _MaxErrorAccumulator) -> None:
    # np.maximum/np.minimum, unlike max()/min(), keep a NaN whichever side it is on.
    self.examples += other.examples
    self.max_abs_error = float(np.maximum(self.max_abs_error, other.max_abs_error))
    self.label_min = float(np.minimum(self.label_min, other.label_min))
    self.label_max = float(np.maximum(self.label_max, other.label_max))


class _MaxErrorCombiner(beam.CombineFn):
  """One combiner for both metrics: they differ only in the final division."""

  def __init__(self, metric_key: metric_types.MetricKey,
               eval_config: config_pb2.EvalConfig | None, example_weighted: bool,
               relative: bool):
    self._metric_key = metric_key
    self._eval_config = eval_config
    self._example_weighted = example_weighted
    self._relative = relative

  def create_accumulator(self) -> _MaxErrorAccumulator:
    return _MaxErrorAccumulator()

  def add_input(self, accumulator: _MaxErrorAccumulator,
                element: metric_types.StandardMetricInputs) -> _MaxErrorAccumulator:
    # Applies the ModelSpec's label_key / prediction_key and the model and output
    # names; flattening yields one (label, prediction, weight) per output value.
    for label, prediction, weight in metric_util.to_label_prediction_example_weight(
        element, eval_config=self._eval_config, model_name=self._metric_key.model_name,
        output_name=self._metric_key.output_name, sub_key=self._metric_key.sub_key,
        example_weighted=self._example_weighted):
      if metric_util.safe_to_scalar(weight) == 0:
        continue
      label = float(metric_util.safe_to_scalar(label))
      error = abs(label - float(metric_util.safe_to_scalar(prediction)))
      accumulator.update(_MaxErrorAccumulator(1, error, label, label))
    return accumulator

  def merge_accumulators(
      self, accumulators: Iterable[_MaxErrorAccumulator]) -> _MaxErrorAccumulator:
    result = _MaxErrorAccumulator()
    for accumulator in accumulators:
      result.update(accumulator)
    return result

  def extract_output(self, accumulator: _MaxErrorAccumulator) -> metric_types.MetricsDict:
    if not accumulator.examples:
      value = float("nan")  # no examples is no evidence: fails any threshold
    elif self._relative:
      value = relative_to_range(accumulator.max_abs_error, accumulator.label_min,
                                accumulator.label_max)
    else:
      value = accumulator.max_abs_error
    return {self._metric_key: float(value)}
