"""Runs the pipeline on this machine: TFX's LocalDagRunner, the Beam steps on the
configured runner (the direct runner here, or a Flink cluster), and MLMD in SQLite
under the run directory."""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import time
from pathlib import Path
from typing import Callable, Iterator

from pipelines import beam_runner, preflight
from components.config import ConfigError, PipelineConfig
from components.errors import DataError
from pipelines.errors import PipelineFailed

_NODE_EVENT = re.compile(r"Component (\S+) is (running|finished)\.")
_CACHE_HIT = re.compile(r"A cached execution \d+ is used\.")
_DATA_ERROR = re.compile(r"DataError: ([^\n]+)")


def _check_resume_from(config: PipelineConfig) -> None:
  """The Trainer resolves it for real; this catches a typo before any work is done.
  (It lists checkpoints through TensorFlow's file system, so it runs after the
  TF-free pre-flight.)"""
  if not config.trainer.resume_from:
    return
  from components.trainer.checkpoint_dirs import resolve_resume_from
  try:
    resolve_resume_from(config.trainer.resume_from,
                        os.path.join(config.checkpoint_root, config.pipeline_name),
                        exclude="")
  except ValueError as e:
    raise ConfigError(str(e)) from None


def _cause(e: Exception) -> str:
  """One line for a component's failure. Beam wraps an error raised in a worker in
  a RuntimeError holding the whole traceback; a bad-data error inside it is the
  line worth showing (it names the file and line)."""
  data_errors = _DATA_ERROR.findall(str(e))
  if data_errors:
    return f"DataError: {data_errors[-1].strip()}"
  return f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0]}"


class _ProgressHandler(logging.Handler):
  """Turns the runner's 'Component X is running/finished' logs into progress lines."""

  def __init__(self, total: int, say: Callable[[str], None]):
    super().__init__(logging.INFO)
    self._total, self._say, self._started, self._done = total, say, {}, 0
    self.running: str | None = None  # the component in progress, if any
    self.cached: list[str] = []  # components whose earlier outputs were reused

  def emit(self, record: logging.LogRecord) -> None:
    message = record.getMessage()
    if self.running and _CACHE_HIT.fullmatch(message):
      self.cached.append(self.running)
      return
    match = _NODE_EVENT.fullmatch(message)
    if not match:
      return
    node, event = match.groups()
    if event == "running":
      self.running = node
      self._started[node] = time.monotonic()
      self._say(f"[{self._done + 1}/{self._total}] {node} ...")
    else:
      self.running = None
      self._done += 1
      if node in self.cached:
        self._say(f"[{self._done}/{self._total}] {node} cached (inputs, settings and "
                  f"code unchanged since an earlier run)")
        return
      took = time.monotonic() - self._started.get(node, time.monotonic())
      self._say(f"[{self._done}/{self._total}] {node} done in {took:.1f}s")


@contextlib.contextmanager
def _stderr_to(log_file: Path) -> Iterator[None]:
  """Points file descriptor 2 at the log, for this process and the Beam workers it
  starts: TensorFlow's C++ start-up lines cannot be silenced any other way."""
  log_file.parent.mkdir(parents=True, exist_ok=True)
  saved = os.dup(2)
  with open(log_file, "ab") as f:
    os.dup2(f.fileno(), 2)
  try:
    yield
  finally:
    os.dup2(saved, 2)
    os.close(saved)


@contextlib.contextmanager
def _progress_on_console(log_file: Path, total: int,
                         say: Callable[[str], None]) -> Iterator[_ProgressHandler]:
  """Full TFX/Beam/TF logs go to a file; the console shows progress only."""
  from absl import logging as absl_logging
  root = logging.getLogger()
  tf_logger = logging.getLogger("tensorflow")  # has its own console handler
  saved = (root.level, list(root.handlers), absl_logging.get_verbosity(),
           list(tf_logger.handlers))
  file_handler = logging.FileHandler(log_file)
  file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
  progress = _ProgressHandler(total, say)
  root.handlers = [file_handler, progress]
  tf_logger.handlers = [file_handler]
  root.setLevel(logging.INFO)
  absl_logging.set_verbosity(absl_logging.INFO)
  try:
    yield progress
  finally:
    file_handler.close()
    root.setLevel(saved[0])
    root.handlers = saved[1]
    absl_logging.set_verbosity(saved[2])
    tf_logger.handlers = saved[3]


def _flink_progress(config: PipelineConfig, job_name: str, since_ms: int,
                    say: Callable[[str], None], progress: _ProgressHandler):
  """On Flink, lines on the running step's Flink job while it runs."""
  if config.beam.runner != "flink":
    return contextlib.nullcontext()
  from pipelines.flink.progress import JobProgress
  return JobProgress(config.beam.address, job_name, since_ms, say, lambda: progress.running)


def run(config: PipelineConfig, say: Callable[[str], None] = print, *, cache: bool = True,
        until: str | None = None):
  """Runs the pipeline; returns a run_summary.RunSummary. With `cache`, steps whose
  inputs, settings and code are unchanged since an earlier run here are reused.
  With `until`, only that step and the steps it needs run (e.g. Transform)."""
  # Bad input fails here, before anything heavy is imported or anything written.
  if config.data.simulator:
    plan = preflight.check_simulator(config)
    data_dir, input_bytes, lines = "", 0, [f"data: {plan.describe()}"]
  elif config.data.images:
    lines, input_bytes = preflight.check_images(config)
    data_dir = ""
  else:
    data_dir = preflight.resolve_data_dir(config)
    summary = preflight.check(config, data_dir)
    input_bytes = sum(os.path.getsize(f.path) for f in summary.files)
    lines = [f"data: {summary.rows:,} rows in {len(summary.files)} file(s) under {data_dir}",
             *preflight.split_lines(config, summary)]
  stamp = time.strftime('%Y%m%d-%H%M%S')
  log_file = config.run_path / "logs" / f"run-{stamp}.log"
  say(f"run directory: {config.run_path}  (full log: {log_file})")
  for line in lines:
    say(line)
  # On Flink the jobs carry the pipeline's name, and the summary lists those that
  # started during this run. (Not a per-run name: Beam's arguments are part of
  # TFX's cache key, so every run would miss the cache.)
  beam = beam_runner.choose(config.beam, input_bytes, job_name=config.pipeline_name)
  say(beam.describe())
  started_ms = int(time.time() * 1000)
  if config.beam.runner == "flink":  # an unreachable cluster: exit 2 before any step
    from pipelines.flink import rest
    say(rest.check_reachable(config.beam))
  with _stderr_to(log_file):
    # TensorFlow is imported here, so that its start-up lines land in the log.
    from tfx import v1 as tfx
    from pipelines import run_summary
    from pipelines.pipeline import create_pipeline

    _check_resume_from(config)
    pipeline = create_pipeline(
        config, data_dir=data_dir, pipeline_root=config.pipeline_root,
        serving_dir=config.serving_path, checkpoint_root=config.checkpoint_root,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            config.metadata_path),
        beam_pipeline_args=beam.args(), enable_cache=cache)
    ids = [c.id for c in pipeline.components]
    run_options = None
    if until:
      if until not in ids:
        raise ConfigError(f"--until {until!r} is not a step; the steps are {', '.join(ids)}")
      from tfx.orchestration.pipeline import RunOptions  # a partial run (not in tfx.v1)
      run_options = RunOptions(to_nodes=[until])
    total = ids.index(until) + 1 if until else len(ids)
    with (_progress_on_console(log_file, total, say) as progress,
          _flink_progress(config, config.pipeline_name, started_ms, say, progress)):
      try:
        tfx.orchestration.LocalDagRunner().run(pipeline, run_options=run_options)
      except Exception as e:
        logging.exception("pipeline failed")
        message = (f"{progress.running or 'the pipeline'} failed: {_cause(e)} "
                   f"(full log: {log_file})")
        if _DATA_ERROR.search(str(e)) or isinstance(e, DataError):
          # Bad input found inside a step (Ingest, the drift gate): exit code 2,
          # like the pre-flight's, so a scheduler does not retry it.
          raise DataError(message) from e
        raise PipelineFailed(message) from e
    summary = run_summary.latest_run(config.metadata_path)
  runner = beam.describe().removeprefix("beam: ")
  if config.beam.runner != "flink":
    return dataclasses.replace(summary, runner=runner)
  from pipelines.flink import rest
  jobs = rest.jobs_named(config.beam.address, beam.job_name, since_ms=started_ms - 1000)
  return dataclasses.replace(summary, runner=runner, flink_jobs=[j.line() for j in jobs])
