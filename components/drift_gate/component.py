"""The DriftGate TFX component: new spans against production's training data.

It runs after Ingest and before Transform (so before the Tuner and Trainer), and
fails the run with one line naming the span and the column. The work is in
executor.py; the statistics and the comparison, in check.py.

(No `from __future__ import annotations`: TFX reads the real annotations.)
"""

from tfx import v1 as tfx
from tfx.types import standard_artifacts

from components.config import PipelineConfig
from components.drift_gate import executor


@tfx.dsl.components.component
def DriftGate(
    examples: tfx.dsl.components.InputArtifact[standard_artifacts.Examples],
    production: tfx.dsl.components.InputArtifact[standard_artifacts.Model],
    report: tfx.dsl.components.OutputArtifact[standard_artifacts.ExampleAnomalies],
    config: tfx.dsl.components.Parameter[str],
) -> None:
  executor.run(examples.uri, production.uri, report.uri, PipelineConfig.from_json(config))


def build(config: PipelineConfig, examples, production):
  """The gate on Ingest's `examples`, against ProductionModel's `production`."""
  return DriftGate(examples=examples, production=production,
                   config=config.for_step("drift_gate").to_json())
