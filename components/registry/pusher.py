"""The RegistryPusher: pushes a blessed candidate into the model registry, atomically.

TFX's Pusher copies files into place, so a server polling the directory can load a
half-copied version, and it keeps every version with no record of what each one
is. This one publishes through `store.Registry` (temporary name, then rename),
keeps the newest versions, and records per version its metrics, spans, run,
checkpoint and warm-start source, with the schema and statistics it was trained on
(the next run's drift gate compares fresh spans with them).
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Dict, List

from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.types import artifact_utils, component_spec, standard_artifacts
from tfx.utils import io_utils, path_utils

from components.blessing import scores
from components.csv_ingest.executor import read_spans_file
from components.registry import production, store


def _say(msg: str) -> None:
  print(f"[pusher] {msg}", flush=True)


def _float_properties(artifact: types.Artifact, prefix: str) -> dict:
  return {k[len(prefix):]: artifact.get_float_custom_property(k)
          for k in artifact.mlmd_artifact.custom_properties if k.startswith(prefix)}


def decide(blessed: bool, candidate: Any, baseline: Any, metric: str, current: dict,
           checkpoint_path: str) -> tuple[bool, str]:
  """(push?, the reason in words). `current`: production's entry ({} when none)."""
  shown = lambda v: "unknown" if v is None else f"{v:.4f}"  # noqa: E731
  if current and current.get("checkpoint_path") == checkpoint_path:
    return False, (f"the candidate is production version {current['version']} "
                   f"(same checkpoint)")
  if candidate is None or math.isnan(candidate):
    # TFMA's thresholds let an undefined value through (NaN fails no comparison):
    # AUC on an eval split of one class, say. A bound that says nothing blesses nothing.
    return False, (f"candidate {metric} is {shown(candidate) if candidate is None else 'NaN'}"
                   f" (undefined on this eval data, e.g. a single class): cannot be judged")
  if not current:
    verdict = "passes the bound" if blessed else "fails the bound"
    return blessed, f"no production model yet; candidate {metric} {shown(candidate)} {verdict}"
  compared = (f"candidate {metric} {shown(candidate)} vs production version "
              f"{current['version']} {shown(baseline)}")
  if blessed:
    return True, f"{compared}: better"
  return False, f"{compared}: not better by the margin, or below the bound"


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
    push, reason = decide(blessed, candidate, baseline, metric, current, checkpoint_path)
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
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

  def __init__(self, *, model, model_blessing, evaluation, production, examples, schema,
               statistics, push_destination, keep_versions: int, blessing_metric: str):
    super().__init__(spec=RegistryPusherSpec(
        model=model, model_blessing=model_blessing, evaluation=evaluation,
        production=production, examples=examples, schema=schema, statistics=statistics,
        push_destination=push_destination, keep_versions=keep_versions,
        blessing_metric=blessing_metric,
        pushed_model=types.Channel(type=standard_artifacts.PushedModel)))
