"""The RegistryPusher component: its inputs, outputs and parameters (the work is in
executor.py). Its node id is "Pusher", as TFX's would be.
"""
from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import component_spec, standard_artifacts

from components.blessing import policy
from components.config import PipelineConfig
from components.pusher import executor


class RegistryPusherSpec(types.ComponentSpec):
  PARAMETERS = {
      # TFX PushDestination as JSON (a Kubeflow run parameter), or a directory.
      "push_destination": component_spec.ExecutionParameter(type=str),
      "keep_versions": component_spec.ExecutionParameter(type=int),
      "blessing_metric": component_spec.ExecutionParameter(type=str),
  }
  INPUTS = {
      "model": component_spec.ChannelParameter(type=standard_artifacts.Model),
      "model_blessing": component_spec.ChannelParameter(type=standard_artifacts.ModelBlessing),
      "evaluation": component_spec.ChannelParameter(type=standard_artifacts.ModelEvaluation),
      "production": component_spec.ChannelParameter(type=standard_artifacts.Model),
      "examples": component_spec.ChannelParameter(type=standard_artifacts.Examples),
      "schema": component_spec.ChannelParameter(type=standard_artifacts.Schema),
      "statistics": component_spec.ChannelParameter(
          type=standard_artifacts.ExampleStatistics),
  }
  OUTPUTS = {
      "pushed_model": component_spec.ChannelParameter(type=standard_artifacts.PushedModel),
  }


class RegistryPusher(base_component.BaseComponent):
  SPEC_CLASS = RegistryPusherSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self, *, model, model_blessing, evaluation, production, examples, schema,
               statistics, push_destination, keep_versions: int, blessing_metric: str):
    super().__init__(spec=RegistryPusherSpec(
        model=model, model_blessing=model_blessing, evaluation=evaluation,
        production=production, examples=examples, schema=schema, statistics=statistics,
        push_destination=push_destination, keep_versions=keep_versions,
        blessing_metric=blessing_metric,
        pushed_model=types.Channel(type=standard_artifacts.PushedModel)))


def build(config: PipelineConfig, push_destination, **inputs) -> RegistryPusher:
  """Pushes into the registry at `push_destination` what the Evaluator blessed.
  `inputs`: the channels RegistryPusherSpec.INPUTS names."""
  return RegistryPusher(push_destination=push_destination,
                        keep_versions=config.retrain.keep_versions,
                        blessing_metric=policy.metric_key(config), **inputs).with_id("Pusher")
