"""The Tuner step: TFX's Tuner component, run by our executor (executor.py, with
the tuner_fn it calls); the search itself is search.py (or katib_search.py on
Kubeflow)."""
from __future__ import annotations

from typing import Callable, Optional

from tfx import v1 as tfx
from tfx.components.tuner import component as tfx_tuner_component
from tfx.dsl.components.base import executor_spec

from components.config import PipelineConfig
from components.tuning import executor

# A module path, not a module file: the code is installed in the image.
TUNER_FN = f"{executor.__name__}.tuner_fn"


class Tuner(tfx_tuner_component.Tuner):
  """TFX's Tuner component, run by our executor."""
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)


def build(config: PipelineConfig, *, examples, transform_graph, checkpoint_root: str,
          code_of: Callable[[str], str], katib: Optional[dict] = None) -> Tuner:
  """`code_of(module)`: the digest of a module's code, which keys TFX's cache;
  `katib` (Kubeflow with kubeflow.tuner.backend katib): a Katib Experiment."""
  return Tuner(
      tuner_fn=TUNER_FN, examples=examples, transform_graph=transform_graph,
      train_args=tfx.proto.TrainArgs(num_steps=config.tuner.steps_per_trial),
      eval_args=tfx.proto.EvalArgs(num_steps=0),
      custom_config={"config": config.for_step("tuner").to_json(),
                     "code": code_of(executor.__name__),
                     # The search lives beside the checkpoints: a killed one continues.
                     "checkpoint_root": checkpoint_root,
                     **({"katib": katib} if katib else {})})
