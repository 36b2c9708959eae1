"""Reads what a finished pipeline run produced from MLMD, for the CLI's summary."""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Optional

import ml_metadata as mlmd
from google.protobuf import json_format
from ml_metadata.proto import metadata_store_pb2


@dataclasses.dataclass
class RunSummary:
  run_id: str
  selected_step: Optional[int] = None
  checkpoints: int = 0
  eval_metrics: dict = dataclasses.field(default_factory=dict)
  curves_png: Optional[str] = None
  checkpoint_bytes: Optional[int] = None
  serving_model_bytes: Optional[int] = None
  stopped_early: Optional[dict] = None
  blessed: Optional[bool] = None
  pushed_to: Optional[str] = None
  push_cached: bool = False  # the Pusher's outputs were reused from an earlier run
  tfma_metrics: dict = dataclasses.field(default_factory=dict)
  spans: list = dataclasses.field(default_factory=list)  # [] for a flat directory
  started_from: Optional[str] = None  # cold, own checkpoints, or a production version
  decision: Optional[str] = None  # the pusher's reason, in words
  pushed_version: Optional[int] = None
  candidate_metric: Optional[float] = None
  production_metric: Optional[float] = None
  production_version: int = 0
  grid_errors: dict = dataclasses.field(default_factory=dict)  # memorizing: every point
  grid_png: Optional[str] = None
  examples_uri: Optional[str] = None  # Ingest's output
  served_model_dir: Optional[str] = None  # the selected checkpoint, exported
  runner: Optional[str] = None  # where the Beam steps ran (the start-up line's words)
  flink_jobs: list = dataclasses.field(default_factory=list)  # lines, one per Flink job

  def lines(self, blessing_metric: str, threshold: tuple) -> list[str]:
    out = [f"run {self.run_id}"]
    if self.runner:
      out.append(f"beam steps ran on: {self.runner}")
    if self.flink_jobs:
      out.append(f"flink jobs ({len(self.flink_jobs)}):")
      out.extend(f"  {line}" for line in self.flink_jobs)
    if self.spans:
      out.append(f"spans: {len(self.spans)}, {self.spans[0]} to {self.spans[-1]}")
    if self.started_from:
      out.append(f"training started from: {self.started_from}")
    if self.selected_step is not None:
      metrics = "  ".join(f"{k} {v:.4g}" for k, v in self.eval_metrics.items())
      out.append(f"selected checkpoint: step {self.selected_step} of {self.checkpoints} "
                 f"kept ({metrics})")
    if self.stopped_early:
      out.append(f"stopped early at step {self.stopped_early['step']}: "
                 f"{self.stopped_early['reason']}")
    if self.checkpoint_bytes:
      out.append(f"sizes: full checkpoint {self.checkpoint_bytes / 1e6:.2f} MB, "
                 f"served model {self.serving_model_bytes / 1e6:.2f} MB")
    if self.curves_png:
      out.append(f"training curves: {self.curves_png}")
    if self.grid_errors:
      g = self.grid_errors
      at = ", ".join(f"{k}={v:g}" for k, v in g["worst_point"].items())
      verdict = ("" if g.get("tolerance") is None else
                 f"; tolerance {g['tolerance']:g}: "
                 + ("met" if g["within_tolerance"] else "NOT met"))
      out.append(f"worst error over {g['over']}: {g['max_abs_error']:.4g} "
                 f"({100 * g['max_rel_error']:.3f}% of the output range) at {at}{verdict}")
      out.append(f"error over the grid: {self.grid_png}")
    if self.tfma_metrics:
      out.append("evaluation: " + "  ".join(f"{k} {v:.4g}" for k, v in sorted(
          self.tfma_metrics.items()) if not k.endswith("_diff")))
    if self.production_version:
      shown = lambda v: "unknown" if v is None else f"{v:.4f}"  # noqa: E731
      out.append(f"against production: {blessing_metric} candidate "
                 f"{shown(self.candidate_metric)}, production version "
                 f"{self.production_version} {shown(self.production_metric)}")
    lower, upper = threshold
    bound = " and ".join(b for b in [f">= {lower}" if lower is not None else "",
                                    f"<= {upper}" if upper is not None else ""] if b)
    if self.pushed_to and self.push_cached:
      out.append(f"nothing new to push: nothing changed since an earlier run pushed "
                 f"{self.pushed_to}")
    elif self.pushed_to:
      version = f"version {self.pushed_version}: " if self.pushed_version else ""
      out.append(f"pushed: {version}{self.pushed_to}")
    elif self.decision:
      out.append(f"NOT pushed: {self.decision}")
    elif self.blessed is False:
      value = self.tfma_metrics.get(blessing_metric)
      shown = f"{value:.4f}" if value is not None else "unknown"
      out.append(f"NOT pushed: model not blessed ({blessing_metric} {shown}, "
                 f"threshold {bound})")
    else:
      out.append("NOT pushed: the pipeline did not reach the pusher")
    return out


def _store(metadata_path: str) -> mlmd.MetadataStore:
  cfg = metadata_store_pb2.ConnectionConfig()
  cfg.sqlite.filename_uri = metadata_path
  cfg.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
  return mlmd.MetadataStore(cfg)


def _value(artifact, name):
  if name not in artifact.custom_properties:
    return None
  v = artifact.custom_properties[name]
  return v.WhichOneof("value") and getattr(v, v.WhichOneof("value"))


def _tfma_metrics(uri: str) -> dict:
  import tensorflow_model_analysis as tfma
  try:
    result = tfma.load_eval_result(uri)
  except Exception:  # an evaluation that failed leaves nothing readable
    return {}
  out = {}
  for _, per_slice in result.slicing_metrics[:1]:
    for key, value in per_slice.get("", {}).get("", {}).items():
      if "doubleValue" in value:
        out[key] = value["doubleValue"]
  return out


def latest_run(metadata_path: str) -> RunSummary:
  store = _store(metadata_path)
  runs = store.get_contexts_by_type("pipeline_run")
  if not runs:
    raise RuntimeError(f"{metadata_path}: no pipeline run recorded")
  run = max(runs, key=lambda c: c.create_time_since_epoch)
  summary = RunSummary(run_id=run.name)
  executions = store.get_executions_by_context(run.id)
  events = store.get_events_by_execution_ids([e.id for e in executions])
  cached = {e.id for e in executions
            if e.last_known_state == metadata_store_pb2.Execution.CACHED}
  cached_outputs = {e.artifact_id for e in events if e.execution_id in cached}
  out_ids = [e.artifact_id for e in events if e.type == metadata_store_pb2.Event.OUTPUT]
  types = {t.id: t.name for t in store.get_artifact_types()}
  for a in store.get_artifacts_by_id(out_ids):
    kind = types.get(a.type_id)
    if kind == "Examples":
      summary.examples_uri = a.uri
    if kind == "Examples" and "spans" in a.custom_properties:
      summary.spans = json.loads(json_format.MessageToJson(
          a.custom_properties["spans"].struct_value)).get("__value__", [])
    if kind == "Model" and _value(a, "checkpoint_step") is not None:
      summary.started_from = _value(a, "started_from")
      summary.selected_step = _value(a, "checkpoint_step")
      summary.served_model_dir = os.path.join(a.uri, "Format-Serving")
      summary.checkpoint_bytes = _value(a, "checkpoint_bytes")
      summary.serving_model_bytes = _value(a, "serving_model_bytes")
      # (The checkpoint report's full-precision values win, whichever comes first.)
      summary.eval_metrics = summary.eval_metrics or {
          k[len("eval_"):]: _value(a, k)
          for k in sorted(a.custom_properties) if k.startswith("eval_")}
    elif kind == "ModelEvaluation":
      report = os.path.join(a.uri, "checkpoints.json")
      if os.path.exists(report):
        with open(report) as f:
          content = json.load(f)
        summary.checkpoints = len(content["checkpoints"])
        # Full precision: MLMD keeps float properties to 6 decimals, and a memorized
        # table's loss is far below that.
        selected = [c for c in content["checkpoints"] if c["step"] == content["selected_step"]]
        if selected:
          summary.eval_metrics = {k: v for k, v in sorted(selected[0].items())
                                  if k not in ("step", "path")}
        summary.stopped_early = content.get("stopped_early")
        summary.curves_png = os.path.join(a.uri, "curves.png")
        grid = os.path.join(a.uri, "grid_errors.json")
        if os.path.exists(grid):
          with open(grid) as f:
            summary.grid_errors = json.load(f)
          summary.grid_png = os.path.join(a.uri, "grid_errors.png")
      else:
        summary.tfma_metrics = _tfma_metrics(a.uri)
    elif kind == "ModelBlessing":
      summary.blessed = _value(a, "blessed") == 1
    elif kind == "PushedModel":
      summary.decision = _value(a, "decision")
      summary.candidate_metric = _value(a, "candidate_metric")
      summary.production_metric = _value(a, "production_metric")
      summary.production_version = _value(a, "production_version") or 0
      if _value(a, "pushed") == 1:
        summary.pushed_to = _value(a, "pushed_destination")
        summary.pushed_version = _value(a, "pushed_version")
        summary.push_cached = a.id in cached_outputs
  return summary
