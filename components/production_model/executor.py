"""The ProductionModel step's work: copy the registry's current version into the
artifact, with its entry (production.json) and custom properties. With no
production model yet, the artifact says so (version 0) and holds no model."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil

from components import progress
from components.registry import production, store

_say = progress.speaker("production-model")


def run(model, push_destination: str) -> None:
  """`model`: the output Model artifact; `push_destination`: the registry (a
  PushDestination as JSON, or a directory)."""
  registry = store.Registry(production.registry_root(push_destination))
  current = registry.current()
  entry = {}
  if current is None:
    _say(f"no production model in {registry.root}: the first push needs the absolute "
         f"threshold only")
  else:
    # A copy, not a reference: the registry keeps only the newest versions, and
    # the run must see the same model from start to end.
    shutil.copytree(registry.path(current.version), production.serving_dir(model.uri))
    entry = dataclasses.asdict(current)
    _say(f"production model: version {current.version} (checkpoint "
         f"{current.checkpoint_path}, {len(current.spans)} span(s))")
  os.makedirs(model.uri, exist_ok=True)
  with open(os.path.join(model.uri, production.PRODUCTION_FILE), "w") as f:
    json.dump(entry, f, indent=2)
  model.set_int_custom_property("version", current.version if current else 0)
  if current is not None:
    model.set_string_custom_property("checkpoint_path", current.checkpoint_path or "")
    model.set_json_value_custom_property("spans", list(current.spans))
