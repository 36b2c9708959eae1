"""Which Beam runner the Beam steps (Ingest, statistics, Transform, TFMA) use:
beam.runner in the config, direct (this host) or flink (a cluster).

The direct runner is always named. Beam's `DirectRunner` first tries the Prism runner,
whose binary it downloads at run time: offline that fails (and is logged) on
every step, online every step would run on a binary no test here exercised. The
FnApiRunner is what the DirectRunner falls back to, so name it.

Small inputs run in process: a multi-processing worker is a new Python process
that imports TensorFlow again, for every step, which costs more than the work
itself on a few MB of CSV (see BENCHMARKS.md).
"""
from __future__ import annotations

import dataclasses
import os

from components.config import BeamConfig

RUNNER = "FnApiRunner"
# TFX packs itself into an sdist for remote Beam workers (about 2 s per Beam step)
# unless the args name a dependency or an SDK image. Local workers, in process or
# not, import from this very environment; the FnApiRunner ignores the image.
_NO_STAGING = "--sdk_container_image=unused-by-local-runners"


@dataclasses.dataclass(frozen=True)
class BeamChoice:
  mode: str  # "in_process" or "multi_processing"
  workers: int
  why: str

  def args(self) -> list[str]:
    if self.mode == "in_process":
      return [f"--runner={RUNNER}", "--direct_running_mode=in_memory", _NO_STAGING]
    return [f"--runner={RUNNER}", "--direct_running_mode=multi_processing",
            f"--direct_num_workers={self.workers}", _NO_STAGING]

  def describe(self) -> str:
    how = ("in process" if self.mode == "in_process"
           else f"{self.workers} worker process(es)")
    return f"beam: direct runner, {how} ({self.why})"


@dataclasses.dataclass(frozen=True)
class FlinkChoice:
  """The steps run as Flink jobs, submitted through a Beam job server, named
  `job_name` (the pipeline's name) so that the run summary can find them."""
  beam: BeamConfig
  job_name: str = "training-patterns"

  def args(self) -> list[str]:
    b = self.beam
    args = ["--runner=FlinkRunner", f"--flink_master={b.address}",
            f"--job_endpoint={b.job_endpoint}", f"--parallelism={b.parallelism}",
            f"--job_name={self.job_name}", f"--environment_type={b.environment.upper()}",
            # A TaskManager otherwise stops its Python worker after every task and
            # starts another, importing TensorFlow again (seconds per task).
            "--environment_cache_millis=600000"]
    if b.environment == "external":
      args.append(f"--environment_config={b.worker_pool}")
    if b.environment == "docker":
      args.append(f"--environment_config={b.sdk_image}")
    else:  # the workers import this very environment: nothing to stage
      args.append(_NO_STAGING)
    return args + list(b.extra_args)

  def describe(self) -> str:
    b = self.beam
    where = {"external": f"workers in the pool at {b.worker_pool}",
             "loopback": "workers in this process",
             "docker": f"workers in {b.sdk_image}"}[b.environment]
    return (f"beam: flink at {b.address} through the job server at {b.job_endpoint} "
            f"(parallelism {b.parallelism}, {where})")


def default_workers(cores: int | None = None) -> int:
  """One per core, less one for the driver process, which is busy too."""
  return max(1, (cores or os.cpu_count() or 1) - 1)


def choose(beam: BeamConfig, input_bytes: int, cores: int | None = None,
           job_name: str = "training-patterns") -> BeamChoice | FlinkChoice:
  """The runner for `input_bytes` of CSV: Flink, or the direct runner in the
  configured mode or by size (auto)."""
  if beam.runner == "flink":
    return FlinkChoice(beam, job_name)
  workers = beam.workers or default_workers(cores)
  mb = input_bytes / 1e6
  if beam.mode == "in_process":
    return BeamChoice("in_process", 1, "beam.mode in_process")
  if beam.mode == "multi_processing":
    return BeamChoice("multi_processing", workers, "beam.mode multi_processing")
  if mb <= beam.in_process_max_mb:
    return BeamChoice("in_process", 1,
                      f"auto: {mb:.1f} MB of input <= beam.in_process_max_mb "
                      f"{beam.in_process_max_mb:g}")
  return BeamChoice("multi_processing", workers,
                    f"auto: {mb:.1f} MB of input > beam.in_process_max_mb "
                    f"{beam.in_process_max_mb:g}")


def for_pod(beam: BeamConfig, cores: int,
            job_name: str = "training-patterns") -> BeamChoice | FlinkChoice:
  """On Kubeflow the input size is not known when compiling: by the step's cores.
  With one worker to give, a worker process adds only its start-up."""
  if beam.runner == "flink":
    return FlinkChoice(beam, job_name)
  workers = beam.workers or default_workers(cores)
  if beam.mode == "in_process" or (beam.mode == "auto" and workers == 1):
    return BeamChoice("in_process", 1, f"{cores} core(s) per step")
  return BeamChoice("multi_processing", workers, f"{cores} core(s) per step")
