"""What a Flink JobManager's REST API says: the cluster overview, the jobs of a
run, and where each job's tasks ran. Standard library only: it is used before any
step starts, and by `tpctl flink status`."""
from __future__ import annotations

import dataclasses
import json
import socket
import urllib.error
import urllib.request

from components.config import BeamConfig
from components.errors import ConfigError


class Unreachable(ConfigError):
  """The cluster (or its job server or worker pool) does not answer. A ConfigError:
  exit code 2, before any step runs."""


def get(address: str, path: str, timeout: float = 5.0) -> dict:
  with urllib.request.urlopen(f"http://{address}{path}", timeout=timeout) as response:
    return json.load(response)


def overview(address: str, timeout: float = 5.0) -> dict:
  """/overview: task managers, slots, version. Raises Unreachable."""
  try:
    return get(address, "/overview", timeout)
  except (OSError, urllib.error.URLError, ValueError) as e:
    reason = getattr(e, "reason", None) or e
    raise Unreachable(f"Flink at {address} does not answer ({reason}); start one with "
                      f"`tpctl flink up` or fix beam.address") from None


def port_open(address: str, timeout: float = 2.0) -> bool:
  host, port = address.rsplit(":", 1)
  try:
    with socket.create_connection((host, int(port)), timeout=timeout):
      return True
  except OSError:
    return False


def check_reachable(beam: BeamConfig) -> str:
  """Before any step: the JobManager, the job server and (external) the worker pool
  answer, and at least one TaskManager is registered. Returns a one-line summary."""
  info = overview(beam.address)
  if not port_open(beam.job_endpoint):
    raise Unreachable(f"the Beam job server at {beam.job_endpoint} does not answer "
                      f"(Flink itself answers at {beam.address}); fix beam.job_server "
                      f"or run `tpctl flink up`")
  if beam.environment == "external" and not port_open(beam.worker_pool):
    raise Unreachable(f"the Beam worker pool at {beam.worker_pool} does not answer; "
                      f"fix beam.worker_pool or run `tpctl flink up`")
  if not info.get("taskmanagers"):
    raise Unreachable(f"Flink at {beam.address} has no TaskManager registered")
  return (f"flink {info.get('flink-version')} at {beam.address}: "
          f"{info['taskmanagers']} TaskManager(s), {info.get('slots-total')} slot(s)")


@dataclasses.dataclass(frozen=True)
class FlinkJob:
  jid: str
  name: str
  state: str
  start_ms: int
  duration_ms: int
  parallelism: int  # the widest stage's
  taskmanagers: tuple[str, ...]  # where its subtasks ran

  def line(self) -> str:
    return (f"{self.jid} {self.state} in {self.duration_ms / 1000:.0f}s, parallelism "
            f"{self.parallelism} on {len(self.taskmanagers)} TaskManager(s)")


def jobs_named(address: str, name: str, since_ms: int = 0) -> list[FlinkJob]:
  """The jobs called `name` started at or after `since_ms`, oldest first, with the
  TaskManagers their subtasks ran on."""
  found = []
  for job in get(address, "/jobs/overview")["jobs"]:
    if job["name"] != name or job["start-time"] < since_ms:
      continue
    detail = get(address, f"/jobs/{job['jid']}")
    hosts: set[str] = set()
    for vertex in detail["vertices"]:
      tms = get(address, f"/jobs/{job['jid']}/vertices/{vertex['id']}/taskmanagers")
      hosts.update(tm["taskmanager-id"] for tm in tms.get("taskmanagers", []))
    found.append(FlinkJob(job["jid"], job["name"], job["state"], job["start-time"],
                          job["duration"], max(v["parallelism"] for v in detail["vertices"]),
                          tuple(sorted(hosts))))
  return sorted(found, key=lambda j: j.start_ms)
