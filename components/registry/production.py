"""The ProductionModel component: the registry's current version as an artifact.

Its output feeds the Trainer (warm start from the production model's training
state), the drift gate (production's schema and statistics) and the Evaluator
(the baseline a candidate must beat). A component rather than a TFX Resolver,
because Resolvers and their MLMD queries do not run on open-source Kubeflow; the
registry on the serving volume is the source of truth on every runner. With no
production model yet, the artifact says so (version 0) and holds no model.

(No `from __future__ import annotations`: TFX reads the real annotations.)
"""

import dataclasses
import json
import os
import shutil

from tfx import v1 as tfx
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components.registry import store

PRODUCTION_FILE = "production.json"  # beside Format-Serving in the artifact
# Inside a pushed version: what the model was trained on, for the drift gate.
SCHEMA_FILE = "assets.extra/schema.pbtxt"
STATISTICS_FILE = "assets.extra/train_statistics.pb"


def registry_root(push_destination: str) -> str:
  """The registry directory from a PushDestination as JSON (a Kubeflow run
  parameter), or a plain path."""
  text = push_destination.strip()
  if text.startswith("{"):
    return json.loads(text)["filesystem"]["base_directory"]
  return text


def read(model_uri: str) -> dict:
  """The production entry recorded in a ProductionModel artifact ({} when none)."""
  with open(os.path.join(model_uri, PRODUCTION_FILE)) as f:
    return json.load(f)


def serving_dir(model_uri: str) -> str:
  return path_utils.serving_model_dir(model_uri)


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
  registry = store.Registry(registry_root(push_destination))
  current = registry.current()
  say = lambda msg: print(f"[production-model] {msg}", flush=True)  # noqa: E731
  entry = {}
  if current is None:
    say(f"no production model in {registry.root}: the first push needs the absolute "
        f"threshold only")
  else:
    # A copy, not a reference: the registry keeps only the newest versions, and
    # the run must see the same model from start to end.
    shutil.copytree(registry.path(current.version), serving_dir(model.uri))
    entry = dataclasses.asdict(current)
    say(f"production model: version {current.version} (checkpoint "
        f"{current.checkpoint_path}, {len(current.spans)} span(s))")
  os.makedirs(model.uri, exist_ok=True)
  with open(os.path.join(model.uri, PRODUCTION_FILE), "w") as f:
    json.dump(entry, f, indent=2)
  model.set_int_custom_property("version", current.version if current else 0)
  if current is not None:
    model.set_string_custom_property("checkpoint_path", current.checkpoint_path or "")
    model.set_json_value_custom_property("spans", list(current.spans))
