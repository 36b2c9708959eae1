"""The RegistryPusher's work: push a blessed candidate into the model registry, atomically.

TFX's Pusher copies files into place, so a server polling the directory can load a
half-copied version, and it keeps every version with no record of what each one
is. This one publishes through `store.Registry` (temporary name, then rename),
keeps the newest versions, and records per version its metrics, spans, run,
checkpoint and warm-start source, with the schema and statistics it was trained on
(the next run's drift gate compares fresh spans with them). Whether to push is
blessing/policy.py's `decide`.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List

from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from components import progress
from components.blessing import policy, scores
from components.csv_ingest.executor import read_spans_file
from components.registry import production, store

_say = progress.speaker("pusher")


def _float_properties(artifact: types.Artifact, prefix: str) -> dict:
  return {k[len(prefix):]: artifact.get_float_custom_property(k)
          for k in artifact.mlmd_artifact.custom_properties if k.startswith(prefix)}


class Executor(base_executor.BaseExecutor):

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    get = lambda key: artifact_utils.get_single_instance(input_dict[key])  # noqa: E731
    model, blessing = get("model"), get("model_blessing")
    pushed = artifact_utils.get_single_instance(output_dict["pushed_model"])
    metric = exec_properties["blessing_metric"]
    current = production.read(get("production").uri)
    candidate, baseline = scores.blessing_scores(get("evaluation").uri, metric)
    checkpoint_path = model.get_string_custom_property("checkpoint_path")
    blessed = bool(blessing.get_int_custom_property("blessed"))
    push, reason = policy.decide(blessed, candidate, baseline, metric, current, checkpoint_path)
    pushed.set_string_custom_property("decision", reason)
    if candidate is not None:
      pushed.set_float_custom_property("candidate_metric", candidate)
    if baseline is not None:
      pushed.set_float_custom_property("production_metric", baseline)
    pushed.set_int_custom_property("production_version", int(current.get("version") or 0))
    spans = read_spans_file(get("examples").uri)["spans"]
    pushed.set_json_value_custom_property("spans", spans)
    if not push:
      _say(f"NOT pushed: {reason}")
      pushed.set_int_custom_property("pushed", 0)
      return

    registry = store.Registry(production.registry_root(exec_properties["push_destination"]))
    metrics = _float_properties(model, "eval_")
    if candidate is not None:
      metrics[metric] = candidate
    schema_file = os.path.join(get("schema").uri, "schema.pbtxt")
    statistics = os.path.join(get("statistics").uri, "Split-train", "FeatureStats.pb")
    entry = registry.push(
        path_utils.serving_model_dir(model.uri),
        run_id=self._context.pipeline_run_id if self._context and self._context.pipeline_run_id
        else f"execution {os.path.basename(pushed.uri)}",
        metrics=metrics, spans=spans,
        checkpoint_step=model.get_int_custom_property("checkpoint_step"),
        checkpoint_path=checkpoint_path, keep=int(exec_properties["keep_versions"]),
        extra={"started_from": model.get_string_custom_property("started_from")},
        extra_files={production.SCHEMA_FILE: schema_file,
                     production.STATISTICS_FILE: statistics})
    destination = registry.path(entry.version)
    _say(f"pushed version {entry.version} to {destination}: {reason}")
    pushed.set_int_custom_property("pushed", 1)
    pushed.set_int_custom_property("pushed_version", entry.version)
    pushed.set_string_custom_property("pushed_destination", destination)
    io_utils.write_string_file(os.path.join(pushed.uri, "entry.json"),
                               json.dumps({"version": entry.version, "reason": reason}))
