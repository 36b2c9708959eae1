"""The CheckpointEvaluator TFX component: its inputs, outputs and parameters (the
work is in executor.py). No `from __future__ import annotations`: TFX reads the
real annotation objects.

It scores every checkpoint the Trainer kept on the eval split, selects the best
and exports it as the servable model that the Evaluator and Pusher see.
"""

from typing import Callable

from tfx import v1 as tfx
from tfx.types import standard_artifacts

from components.checkpoint_evaluator import executor
from components.config import PipelineConfig

InputArtifact = tfx.dsl.components.InputArtifact
OutputArtifact = tfx.dsl.components.OutputArtifact
Parameter = tfx.dsl.components.Parameter


@tfx.dsl.components.component
def CheckpointEvaluator(
    training: InputArtifact[standard_artifacts.Model],
    examples: InputArtifact[standard_artifacts.Examples],
    transform_graph: InputArtifact[standard_artifacts.TransformGraph],
    model: OutputArtifact[standard_artifacts.Model],
    evaluation: OutputArtifact[standard_artifacts.ModelEvaluation],
    config: Parameter[str],
    code: Parameter[str],
) -> None:
  """training: the Trainer's output; examples: the raw examples (eval split);
  code: a digest of this step's code, which only keys TFX's cache."""
  del code
  executor.run(training, examples, transform_graph, model, evaluation,
               PipelineConfig.from_json(config))


def build(config: PipelineConfig, *, training, examples, transform_graph,
          code_of: Callable[[str], str]):
  """`code_of(module)`: the digest of a module's code, which keys TFX's cache."""
  return CheckpointEvaluator(
      training=training, examples=examples, transform_graph=transform_graph,
      config=config.for_step("checkpoint_evaluator").to_json(),
      code=code_of(executor.__name__))
