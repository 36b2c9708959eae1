"""The blessing metric of the candidate and of the baseline, from TFMA's output."""
from __future__ import annotations

from typing import Optional

import tensorflow_model_analysis as tfma

CANDIDATE, BASELINE = tfma.CANDIDATE_KEY, tfma.BASELINE_KEY


def blessing_scores(evaluation_uri: str, metric: str) -> tuple[Optional[float], Optional[float]]:
  """(candidate, baseline) values of `metric` on the whole eval split; baseline is
  None when the evaluation had none. A model evaluated alone has no model name."""
  found: dict[str, float] = {}
  for per_slice in tfma.load_metrics(evaluation_uri):
    if per_slice.slice_key.single_slice_keys:  # not the overall slice
      continue
    for kv in per_slice.metric_keys_and_values:
      key = kv.key
      if key.name == metric and not key.is_diff:
        found[key.model_name or CANDIDATE] = kv.value.double_value.value
  return found.get(CANDIDATE), found.get(BASELINE)
