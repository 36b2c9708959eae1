"""The ProductionModel component: the registry's current version as an artifact.

Its output feeds the Trainer (warm start from the production model's training
state), the drift gate (production's schema and statistics) and the Evaluator
(the baseline a candidate must beat). A component rather than a TFX Resolver,
because Resolvers and their MLMD queries do not run on open-source Kubeflow; the
registry on the serving volume is the source of truth on every runner. The work
is in executor.py; what the artifact holds, in registry/production.py.

(No `from __future__ import annotations`: TFX reads the real annotations.)
"""

from typing import Optional

from tfx import v1 as tfx
from tfx.types import standard_artifacts

from components.production_model import executor
from components.registry import store


@tfx.dsl.components.component
def ProductionModel(
    model: tfx.dsl.components.OutputArtifact[standard_artifacts.Model],
    push_destination: tfx.dsl.components.Parameter[str],
    registry_state: tfx.dsl.components.Parameter[str],
) -> None:
  """push_destination: where models are pushed (the registry); registry_state:
  the registry's current version when the pipeline was built, which keys TFX's
  cache only (a push makes the next run look again)."""
  del registry_state
  executor.run(model, push_destination)


def _registry_state(serving_dir: str, push_destination) -> str:
  """Keys the step's cache: the version it would find. (Kubeflow runs, whose
  destination is a run parameter, are not cached.)"""
  if push_destination is not None:
    return ""
  current = store.Registry(serving_dir).current()
  return f"version {current.version}" if current else "empty"


def build(serving_dir: str,
          push_destination: Optional[tfx.dsl.experimental.RuntimeParameter] = None):
  """The step for the registry at `push_destination` (a Kubeflow run parameter),
  or else at `serving_dir`."""
  return ProductionModel(push_destination=push_destination or serving_dir,
                         registry_state=_registry_state(serving_dir, push_destination))
