"""Worst-case error of predictions over an input grid (NumPy only)."""
from __future__ import annotations

import dataclasses

import numpy as np


def relative_to_range(max_abs_error: float, label_min: float, label_max: float) -> float:
  """max |error| as a share of the output range, not of |label|: labels near zero
  would blow a per-point ratio up. A constant output has no range; the absolute
  error is returned then, so that the ratio stays finite and still means "wrong"."""
  label_range = label_max - label_min
  if label_range > 0:
    return max_abs_error / label_range
  if np.isnan(label_range):
    return float("nan")
  return max_abs_error


@dataclasses.dataclass
class GridErrors:
  max_abs_error: float
  max_rel_error: float  # max_abs_error / (label max - label min), see relative_to_range
  mean_abs_error: float
  worst_point: dict[str, float]  # the input values of the worst point
  worst_label: float
  worst_prediction: float
  points: int

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)


def _flat(name: str, values) -> np.ndarray:
  array = np.asarray(values, dtype=np.float64)
  # A regression head gives (n, 1); anything wider is not one output per point.
  if array.ndim > 1 and array.size != array.shape[0]:
    raise ValueError(f"{name}: expected one value per point, got shape {array.shape}")
  return array.reshape(-1)


def grid_errors(inputs: dict[str, np.ndarray], labels: np.ndarray,
                predictions: np.ndarray) -> GridErrors:
  """Errors over every point. A NaN prediction makes max_abs_error NaN (and its
  point the worst one): a gate comparing NaN with a bound then fails, as it should."""
  labels = _flat("labels", labels)
  predictions = _flat("predictions", predictions)
  columns = {name: _flat(name, values) for name, values in inputs.items()}
  n = labels.size
  if n == 0:
    raise ValueError("no points")
  for name, values in {"predictions": predictions, **columns}.items():
    if values.size != n:
      raise ValueError(f"{name}: {values.size} values for {n} labels")
  abs_errors = np.abs(predictions - labels)
  worst = int(np.argmax(abs_errors))  # the first NaN, if any: NaN compares as largest
  max_abs = float(abs_errors[worst])
  return GridErrors(
      max_abs_error=max_abs,
      max_rel_error=float(relative_to_range(max_abs, labels.min(), labels.max())),
      mean_abs_error=float(abs_errors.mean()),
      worst_point={name: float(values[worst]) for name, values in columns.items()},
      worst_label=float(labels[worst]),
      worst_prediction=float(predictions[worst]),
      points=n)
