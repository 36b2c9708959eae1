"""What blesses a model, in one place: the metric per task, its bounds, the change
against production (the TFMA EvalConfig the Evaluator step runs), and the Pusher's
final word (`decide`), which also refuses what TFMA lets through.
"""
from __future__ import annotations

import math
from typing import Any, Optional

import tensorflow_model_analysis as tfma

from components import features
from components.config import PipelineConfig, TaskType
from components.grid_errors import tfma_metrics

# TFMA metric class and the key it reports under, per task.
_BLESSING_METRIC = {
    TaskType.BINARY: ("AUC", "auc"),
    TaskType.MULTICLASS: ("SparseCategoricalAccuracy", "sparse_categorical_accuracy"),
    TaskType.REGRESSION: ("MeanSquaredError", "mean_squared_error"),
}
_EXTRA_METRICS = {
    TaskType.BINARY: ["BinaryAccuracy"],
    TaskType.MULTICLASS: [],
    TaskType.REGRESSION: ["MeanAbsoluteError"],
}


# Memorizing: judged by the worst error over the whole grid, not the average.
_WORST_ERROR_METRICS = ("MaxAbsoluteError", "MaxRelativeError")


def _blessing_metric(config: PipelineConfig) -> tuple[str, str, Optional[str]]:
  """(TFMA class, the key it reports under, the module of a custom metric)."""
  if config.task.mode == "memorize":
    return ("MaxAbsoluteError", tfma_metrics.MAX_ABS_ERROR_NAME, tfma_metrics.__name__)
  return (*_BLESSING_METRIC[config.task.type], None)


def metric_key(config: PipelineConfig) -> str:
  """The key the blessing metric is reported under (in TFMA's output and the registry)."""
  return _blessing_metric(config)[1]


def threshold(config: PipelineConfig) -> tuple[Optional[float], Optional[float]]:
  """(lower, upper) bound on the task's blessing metric."""
  e = config.evaluator
  if e.lower_bound is None and e.upper_bound is None:
    return (0.6, None)  # binary; other tasks are rejected by the config's checks
  return (e.lower_bound, e.upper_bound)


def eval_config(config: PipelineConfig) -> tfma.EvalConfig:
  lower, upper = threshold(config)
  bounds = {}
  if lower is not None:
    bounds["lower_bound"] = {"value": lower}
  if upper is not None:
    bounds["upper_bound"] = {"value": upper}
  class_name, _, module = _blessing_metric(config)
  # Against production (ignored by TFMA when there is no production model yet):
  # candidate - production >= margin, or <= -margin for an error metric.
  higher_is_better = config.task.type != TaskType.REGRESSION
  margin = config.evaluator.min_improvement
  change = tfma.GenericChangeThreshold(
      absolute={"value": margin if higher_is_better else -margin},
      direction=(tfma.MetricDirection.HIGHER_IS_BETTER if higher_is_better
                 else tfma.MetricDirection.LOWER_IS_BETTER))
  metrics = [tfma.MetricConfig(class_name="ExampleCount")]
  metrics += [tfma.MetricConfig(class_name=name) for name in _EXTRA_METRICS[config.task.type]]
  if config.task.type == TaskType.REGRESSION:
    metrics += [tfma.MetricConfig(class_name=name, module=tfma_metrics.__name__)
                for name in _WORST_ERROR_METRICS if name != class_name]
  metrics.append(tfma.MetricConfig(
      class_name=class_name, module=module or "",
      threshold=tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(**bounds),
                                     change_threshold=change)))
  return tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(
          signature_name="serving_default", prediction_key="scores",
          label_key=features.LABEL_KEY,
          preprocessing_function_names=["transform_features"])],
      slicing_specs=[tfma.SlicingSpec()],
      metrics_specs=[tfma.MetricsSpec(metrics=metrics)])


def decide(blessed: bool, candidate: Any, baseline: Any, metric: str, current: dict,
           checkpoint_path: str) -> tuple[bool, str]:
  """(push?, the reason in words). `blessed`: TFMA's verdict; `current`:
  production's entry ({} when none)."""
  shown = lambda v: "unknown" if v is None else f"{v:.4f}"  # noqa: E731
  if current and current.get("checkpoint_path") == checkpoint_path:
    return False, (f"the candidate is production version {current['version']} "
                   f"(same checkpoint)")
  if candidate is None or math.isnan(candidate):
    # TFMA's thresholds let an undefined value through (NaN fails no comparison):
    # AUC on an eval split of one class, say. A bound that says nothing blesses nothing.
    return False, (f"candidate {metric} is {shown(candidate) if candidate is None else 'NaN'}"
                   f" (undefined on this eval data, e.g. a single class): cannot be judged")
  if not current:
    verdict = "passes the bound" if blessed else "fails the bound"
    return blessed, f"no production model yet; candidate {metric} {shown(candidate)} {verdict}"
  compared = (f"candidate {metric} {shown(candidate)} vs production version "
              f"{current['version']} {shown(baseline)}")
  if blessed:
    return True, f"{compared}: better"
  return False, f"{compared}: not better by the margin, or below the bound"
