"""What a ProductionModel artifact holds: the registry's current version (a copy, in
Format-Serving) and its entry (production.json), or no model and an empty entry.
Read by the steps that take production as an input (drift gate, Trainer, Pusher);
written by the ProductionModel step (components/production_model/).
"""
from __future__ import annotations

import json
import os

from tfx.utils import path_utils

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
