"""The compiled pipeline's run parameters: names, help and how values are written.

The step budget and the push destination are TFX protos (TrainArgs,
PushDestination), which a KFP parameter carries as JSON text. Kept free of TFX
imports, so that `tpctl submit` can check its input before loading TensorFlow.
"""
from __future__ import annotations

import json

HELP = {
    "data_dir": "Directory of CSV files to train on; blank: the embedded demo data.",
    "train_args": 'Step budget, TFX TrainArgs as JSON: {"num_steps": N}.',
    "push_destination": "Where a blessed model is pushed, TFX PushDestination as JSON.",
}


def train_args(num_steps: int) -> str:
  return json.dumps({"num_steps": num_steps})


def push_destination(base_directory: str) -> str:
  return json.dumps({"filesystem": {"base_directory": base_directory}})
