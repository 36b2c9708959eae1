"""Pre-flight: everything that can be checked about the config and the data before
TensorFlow, TFX or Beam are imported. `tpctl check` runs only this; `tpctl run`
runs it first, so bad input comes back in about a second, with nothing written."""
from __future__ import annotations

import os
import tempfile
from typing import Optional

from components import features, simulators
from components.csv_ingest import embedded_data, spans, survey
from components.config import ConfigError, PipelineConfig
from components.image_ingest import listing as image_listing
from components.simulator_ingest.plan import Plan


def embedded_data_dir(config: PipelineConfig) -> str:
  """Where a run keeps its copy of the embedded demo data."""
  return str(config.run_path / "data" / "chicago_taxi")


def resolve_data_dir(config: PipelineConfig, scratch: Optional[str] = None) -> str:
  """The user's data directory, or the embedded default: materialized in the run dir,
  or (with `scratch`) in a scratch directory unless the run dir already has it."""
  if config.data.dir:
    return config.data.dir
  kept = embedded_data_dir(config)
  if scratch and not os.path.exists(os.path.join(kept, "data.csv")):
    return embedded_data.materialize(scratch)
  return embedded_data.materialize(kept)


def check(config: PipelineConfig, data_dir: str) -> survey.DataSummary:
  """Raises ConfigError or DataError (one line each); returns what the data holds."""
  if config.data.schema_file and not os.path.isfile(config.data.schema_file):
    raise ConfigError(f"{config.data.schema_file}: schema file does not exist")
  return survey.survey(data_dir, features.column_spec(config), features.split_spec(config),
                       features.span_window(config))


def split_lines(config: PipelineConfig, summary: survey.DataSummary) -> list[str]:
  """How rows are split, and each split's size and class balance."""
  key = config.data.split_key
  how = f"a hash of column {key!r}" if key else "a hash of the whole row"
  lines = [f"spans: {spans.describe(summary.spans)} ({features.span_window(config).describe()})"
           ] if summary.spans else []
  lines.append(f"splits: by {how}")
  lines += [f"  {summary.counts.describe(s)}" for s in summary.counts.spec.names]
  return lines + [f"warning: {w}" for w in summary.warnings]


def report(config: PipelineConfig, summary: survey.DataSummary,
           config_path: Optional[str]) -> list[str]:
  """What `tpctl check` prints: what a run would see."""
  kinds = features.column_spec(config).kinds
  where = config.data.dir or "the embedded Chicago taxi data"
  lines = [f"config: {config_path or 'defaults'}",
           f"task: {config.task.type.value}, label {config.task.label!r}",
           f"data: {summary.rows:,} rows in {len(summary.files)} file(s) under {where}"]
  for f in summary.files:
    skipped = f", {f.unlabelled:,} without a label (skipped)" if f.unlabelled else ""
    lines.append(f"  {os.path.basename(f.path)}: {f.rows:,} rows, {f.encoding}{skipped}")
  used = [c for c in summary.header if c in kinds]
  unused = [c + (" (split key)" if c == config.data.split_key else "")
            for c in summary.header if c not in kinds]
  lines.append(f"columns: {len(summary.header)} in the header, {len(used)} used")
  for group, names in (("numeric", config.features.numeric),
                       ("categorical", config.features.categorical),
                       ("coordinates", config.features.coordinates)):
    if names:
      lines.append(f"  {group}: {', '.join(names)}")
  if unused:
    lines.append(f"  not used: {', '.join(unused)}")
  return lines + split_lines(config, summary)


def check_simulator(config: PipelineConfig) -> Plan:
  """A simulator source: its name resolves (a user function imports) and its grid
  is well formed. Raises ConfigError (one line)."""
  plan = Plan.from_config(config)
  try:
    plan.check()
  except (simulators.SimulatorError, ValueError) as e:
    raise ConfigError(f"data.simulator: {e}") from None
  return plan


def check_images(config: PipelineConfig) -> tuple[list[str], int]:
  """Labelled images: listed, split, and every file decoded, as Ingest will. Raises
  DataError naming the first unreadable file; returns (report lines, bytes)."""
  source = features.image_source(config)
  kept, counts = image_listing.assign_splits(
      image_listing.list_images(source), features.split_spec(config), source.per_class)
  counts.check_learnable("class", source.dir or source.csv or "the digits sample")
  warnings = counts.check()
  total = 0
  for _, image in kept:
    if image.path:
      data = image_listing.read_bytes(image)
      image_listing.check_image(image.path, data)
      total += len(data)
  classes = len({image.label for _, image in kept})
  lines = [f"data: {len(kept):,} images of {classes} classes: {source.describe()}",
           "splits: by a hash of each image's path"]
  lines += [f"  {counts.describe(s)}" for s in counts.spec.names]
  return lines + [f"warning: {w}" for w in warnings], total


def main_check(config: PipelineConfig, config_path: Optional[str]) -> list[str]:
  """`tpctl check`: the report, writing nothing (the demo data goes to a scratch dir)."""
  if config.data.images:
    return [f"config: {config_path or 'defaults'}",
            f"task: {config.task.type.value}, label {config.task.label!r}, "
            f"{config.model.transfer} on {config.model.base}", *check_images(config)[0]]
  if config.data.simulator:
    return [f"config: {config_path or 'defaults'}",
            f"task: {config.task.type.value} ({config.task.mode}), label {config.task.label!r}",
            f"data: {check_simulator(config).describe()}"]
  with tempfile.TemporaryDirectory(prefix="tpctl-check-") as scratch:
    summary = check(config, resolve_data_dir(config, scratch))
    return report(config, summary, config_path)
