"""The blessing Evaluator step: TFX's Evaluator component, run by our executor
(executor.py) on the EvalConfig of policy.py. Named BlessingEvaluator, apart from
TFX's Evaluator; its node id stays "Evaluator" (run summaries and Kubeflow task
names use the id).
"""
from __future__ import annotations

from tfx import v1 as tfx
from tfx.dsl.components.base import executor_spec

from components.blessing import executor, policy
from components.config import PipelineConfig


class BlessingEvaluator(tfx.components.Evaluator):
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)


def build(config: PipelineConfig, *, examples, model, baseline_model) -> BlessingEvaluator:
  """Judges `model` on `examples`' eval split, against `baseline_model` (production)."""
  return BlessingEvaluator(examples=examples, model=model, baseline_model=baseline_model,
                           eval_config=policy.eval_config(config)).with_id("Evaluator")
