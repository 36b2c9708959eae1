"""The blessing Evaluator's executor: TFX's Evaluator, with the production model as
its baseline when there is one.

The eval config carries a change threshold (candidate - baseline >= margin) next to
the absolute bound. TFMA skips change thresholds when no baseline is given (its
"rubber stamp"), which is what a first push needs; but TFX's Evaluator treats any
baseline artifact as a model to load. ProductionModel always produces an artifact
(Kubeflow has no optional inputs), so this executor drops it when it holds no model.
"""
from __future__ import annotations

from typing import Any, Dict, List

from absl import logging
from tfx import types
from tfx.components.evaluator import executor as evaluator_executor
from tfx.types import standard_component_specs

BASELINE = standard_component_specs.BASELINE_MODEL_KEY


class Executor(evaluator_executor.Executor):

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    baseline = input_dict.get(BASELINE) or []
    if baseline and not baseline[0].get_int_custom_property("version"):
      logging.info("No production model: the candidate is judged on the absolute bound")
      input_dict = {k: v for k, v in input_dict.items() if k != BASELINE}
    super().Do(input_dict, output_dict, exec_properties)
