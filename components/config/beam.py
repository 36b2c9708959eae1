"""The `beam` section: where the Beam steps run (this host, or a Flink cluster)."""
from __future__ import annotations

import re
from typing import Literal, Optional

import pydantic

from components.config._strict import Strict


class BeamConfig(Strict):
  """Where the Beam steps (Ingest, statistics, Transform, TFMA) run.

  direct: Beam's local runner in this process or in worker processes (mode);
  in_process skips the worker start-up and second TensorFlow import, and
  multi_processing pays once the data is large; auto picks by input size.
  flink: a Flink session cluster (`tpctl flink up` starts one on this host)
  through a Beam job server, with the Python workers in `environment`."""
  runner: Literal["direct", "flink"] = pydantic.Field(
      "direct", description="direct: Beam's local runner on this host; flink: a Flink "
                            "session cluster at address.")
  mode: Literal["auto", "in_process", "multi_processing"] = pydantic.Field(
      "auto", description="direct: in_process skips the worker start-up and a second "
                          "TensorFlow import; multi_processing pays once the data is large; "
                          "auto picks by input size.")
  in_process_max_mb: float = pydantic.Field(
      256.0, gt=0, description="mode auto: in process up to this much CSV input (MB).")
  workers: int = pydantic.Field(
      0, ge=0, description="mode multi_processing: worker processes (0: one per core, less "
                           "one for the driver).")
  address: Optional[str] = pydantic.Field(
      None, description="flink: the JobManager's REST address (host:port, e.g. "
                        "127.0.0.1:8081 from `tpctl flink up`), checked before any step.")
  job_server: Optional[str] = pydantic.Field(
      None, description="flink: the Beam job server (host:port) that submits to it; "
                        "default: the address's host, port 8099.")
  parallelism: int = pydantic.Field(
      2, ge=1, description="flink: parallel instances of every Beam stage across the "
                           "TaskManagers' slots.")
  environment: Literal["external", "loopback", "docker"] = pydantic.Field(
      "external",
      description="flink: where the Python SDK workers run: external, a worker pool beside "
                  "each TaskManager (worker_pool); loopback, inside this process (a cluster "
                  "on this host only); docker, containers of sdk_image started by the "
                  "TaskManagers.")
  worker_pool: str = pydantic.Field(
      "127.0.0.1:50000", description="environment external: the worker pool's address, "
                                     "host:port, as the TaskManagers reach it.")
  sdk_image: Optional[str] = pydantic.Field(
      None, description="environment docker: the Beam Python SDK image the TaskManagers "
                        "start.")
  extra_args: tuple[str, ...] = pydantic.Field(
      (), description="Appended to the Beam arguments as they are (e.g. "
                      "--max_cache_memory_usage_mb=0).")

  @pydantic.model_validator(mode="after")
  def _runner_settings(self) -> "BeamConfig":
    if self.runner == "flink" and not self.address:
      raise ValueError("beam.runner flink needs beam.address, the Flink REST address "
                       "(host:port, e.g. 127.0.0.1:8081 from `tpctl flink up`)")
    if self.runner == "flink" and self.environment == "docker" and not self.sdk_image:
      raise ValueError("beam.environment docker needs beam.sdk_image")
    for name in ("address", "job_server", "worker_pool"):
      value = getattr(self, name)
      if value and not re.fullmatch(r"[A-Za-z0-9.\-]+:\d{1,5}", value):
        raise ValueError(f"beam.{name} {value!r} is not host:port")
    return self

  @property
  def job_endpoint(self) -> str:
    return self.job_server or f"{(self.address or '').rsplit(':', 1)[0]}:8099"
