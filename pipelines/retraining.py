"""`tpctl retrain`: run the pipeline when fresh data has arrived, else do nothing.

What counts as "arrived" is the files the run would read (the span window, or a
flat directory): their names, sizes and modification times. After a run that
finished (pushed or not), that signature is kept in <run_dir>/retrain_state.json;
an unchanged signature means there is nothing new to learn from, so a cron job
that fires every hour costs a directory listing, not a pipeline run.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Callable, Optional

from components import features
from components.csv_ingest import spans as spans_lib, survey
from components.config import PipelineConfig
from pipelines import preflight

STATE_FILE = "retrain_state.json"


@dataclasses.dataclass
class Pending:
  spans: list  # the window, oldest first ([] for a flat directory)
  signature: list  # [relative path, size, mtime_ns] per file
  last: dict  # the last finished run's state ({} when none)

  @property
  def is_new(self) -> bool:
    return self.signature != self.last.get("signature")


def _state_path(config: PipelineConfig) -> str:
  return str(config.run_path / STATE_FILE)


def read_state(config: PipelineConfig) -> dict:
  try:
    with open(_state_path(config)) as f:
      return json.load(f)
  except FileNotFoundError:
    return {}


def pending(config: PipelineConfig) -> Pending:
  """What a run would read now, next to what the last finished run read."""
  data_dir = preflight.resolve_data_dir(config)
  chosen, files = survey.files_to_read(data_dir, features.span_window(config))
  signature = [[os.path.relpath(f, data_dir), os.stat(f).st_size, os.stat(f).st_mtime_ns]
               for f in files]
  return Pending(chosen, signature, read_state(config))


def record(config: PipelineConfig, now: Pending, summary) -> None:
  state = {"signature": now.signature, "spans": now.spans, "run_id": summary.run_id,
           "pushed_version": summary.pushed_version,
           "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
  path = _state_path(config)
  with open(path + ".tmp", "w") as f:
    json.dump(state, f, indent=2)
  os.replace(path + ".tmp", path)


def retrain(config: PipelineConfig, say: Callable[[str], None] = print,
            run: Optional[Callable] = None):
  """Runs the pipeline on the current window when its data changed since the last
  finished run; returns the run's summary, or None when there was nothing new."""
  now = pending(config)
  if not now.is_new:
    last = now.last
    what = spans_lib.describe(now.spans) if now.spans else "the same files"
    say(f"nothing to do: no new data since run {last.get('run_id')} "
        f"({last.get('finished_at')}), which read {what}")
    return None
  if now.spans:
    seen = set(now.last.get("spans", []))
    new = [s for s in now.spans if s not in seen]
    say(f"new data: {spans_lib.describe(new) if new else 'changed files'}; "
        f"training on {spans_lib.describe(now.spans)}")
  if run is None:
    from pipelines import local_runner
    run = local_runner.run
  summary = run(config, say)
  record(config, now, summary)
  return summary
