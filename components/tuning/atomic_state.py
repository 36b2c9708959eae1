"""KerasTuner's state files, written so that a kill never leaves one torn.

KerasTuner 1.4 saves oracle.json, each trial.json and the tuner's own file by
opening the file for writing and then writing it. A search killed between the
two (a preempted node, an OOM kill) leaves an empty oracle.json, and the rerun
fails in `reload` with a JSONDecodeError instead of continuing. Every one of
those saves goes through `keras_tuner.src.utils.save_json`, so that one function
is replaced: the JSON goes to a file beside the target, which is then renamed
over it (atomic on one filesystem), and a reader sees the old state or the new.
"""
from __future__ import annotations

import json
import os

import tensorflow as tf
from keras_tuner.src import utils as _kt_utils


def save_json(path: str, obj) -> str:
  text = json.dumps(obj)
  tmp = f"{path}.tmp-{os.getpid()}"
  with tf.io.gfile.GFile(tmp, "w") as f:
    f.write(text)
  tf.io.gfile.rename(tmp, path, overwrite=True)
  return text


def install() -> None:
  """Idempotent; called when the search module is imported."""
  _kt_utils.save_json = save_json
