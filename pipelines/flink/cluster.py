"""A standalone Flink session cluster on 127.0.0.1, the shape of a Flink session on
Kubernetes: one JobManager, TaskManagers, a Beam job server in front of it and a
Beam Python worker pool (the EXTERNAL environment) beside the TaskManagers.

`make flink` installs Flink and the job server under .cache/flink (see
scripts/fetch_flink.sh); nothing is downloaded here. Every process runs in its own
session with a pid file under the state directory, so `down` can stop each one
and everything it started (the pool's workers), and `status` checks each pid
against its command line before it trusts it.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import yaml

from pipelines.flink import rest

FLINK_VERSION = "1.19.3"
JOB_SERVER = "beam-job-server-2.62.0"
REST_PORT, JOB_PORT, ARTIFACT_PORT, EXPANSION_PORT, POOL_PORT = 8081, 8099, 8098, 8097, 50000
HOST = "127.0.0.1"


def cache_dir() -> Path:
  """Where `make flink` put Flink and the job server (TRAINING_PATTERNS_FLINK_CACHE
  overrides the project's .cache/flink)."""
  default = Path(__file__).resolve().parents[2] / ".cache" / "flink"
  return Path(os.environ.get("TRAINING_PATTERNS_FLINK_CACHE", default))


# Beam's Flink runner translates a step into dozens of stages whose exchanges are
# all open at once: Flink's default network memory (and 512 buffers per sort-merge
# partition) ran out in Ingest and Transform. Two slots per TaskManager let a job
# restart on the survivor when one TaskManager dies; the whole job restarts
# (failover-strategy full): with region failover, every task the dead
# TaskManager held failed on its own and used up the 3 attempts at once.
# At 100x the embedded data a TaskManager's heap ran out in a gRPC thread reading
# from the Python worker, and Flink only logged it, leaving the job hung: more heap
# (less managed memory, which Beam's runner barely uses), and such an error now
# stops the TaskManager, so that the job restarts or fails instead. Then the
# gRPC channels ran out of direct memory (Flink leaves task code none): 512 MB of
# task off-heap memory, with heap kept at 1.5 GB.
_CONFIG = """\
jobmanager.rpc.address: {host}
jobmanager.bind-host: {host}
jobmanager.memory.process.size: 1024m
taskmanager.bind-host: {host}
taskmanager.host: {host}
taskmanager.memory.process.size: 3584m
taskmanager.memory.managed.fraction: 0.1
taskmanager.memory.task.off-heap.size: 512m
cluster.uncaught-exception-handling: FAIL
taskmanager.memory.network.min: 384mb
taskmanager.memory.network.max: 384mb
taskmanager.network.sort-shuffle.min-buffers: 32
taskmanager.numberOfTaskSlots: {slots}
cluster.evenly-spread-out-slots: true
parallelism.default: 2
rest.address: {host}
rest.bind-address: {host}
rest.port: {rest_port}
io.tmp.dirs: {tmp}
jobmanager.execution.failover-strategy: full
restart-strategy.type: fixed-delay
restart-strategy.fixed-delay.attempts: 3
restart-strategy.fixed-delay.delay: 5 s
heartbeat.timeout: 20000
"""


_JOBMANAGER = ("jobmanager.sh", "standalonesession", "StandaloneSessionClusterEntrypoint")
_TASKMANAGER = ("taskmanager.sh", "taskexecutor", "TaskManagerRunner")


@dataclasses.dataclass(frozen=True)
class Process:
  name: str  # also the pid file's and the log's name
  # One of these is in its command line (Flink's scripts exec through two shells
  # before Java), so that a reused pid is not mistaken for it.
  markers: tuple[str, ...]


@dataclasses.dataclass
class Cluster:
  state_dir: Path
  taskmanagers: int = 2
  slots: int = 2
  rest_port: int = REST_PORT

  @property
  def address(self) -> str:
    return f"{HOST}:{self.rest_port}"

  @property
  def flink_home(self) -> Path:
    return cache_dir() / f"flink-{FLINK_VERSION}"

  def processes(self) -> list[Process]:
    return ([Process("jobmanager", _JOBMANAGER)]
            + [Process(f"taskmanager-{i}", _TASKMANAGER)
               for i in range(1, self.taskmanagers + 1)]
            + [Process("job-server", ("FlinkJobServerDriver",)),
               Process("worker-pool", ("pipelines.flink.worker_pool",))])

  # -- pids -----------------------------------------------------------------
  def _pid_file(self, p: Process) -> Path:
    return self.state_dir / "pids" / f"{p.name}.pid"

  def pid(self, p: Process) -> int | None:
    """The live pid of `p`, or None (no pid file, dead, or a stranger's pid)."""
    try:
      pid = int(self._pid_file(p).read_text())
      cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, ValueError):
      return None
    return pid if any(m in cmdline for m in p.markers) else None

  def _exists(self, p: Process) -> bool:
    try:
      pid = int(self._pid_file(p).read_text())
      fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, ValueError):
      return False
    return fields[0] != "Z"

  # -- up -------------------------------------------------------------------
  def up(self, say: Callable[[str], None] = print, timeout: float = 120) -> dict:
    """Starts whatever is not running; a running cluster is left as it is."""
    self._check_installed()
    self._write_conf()
    started = []
    for p in self.processes():
      if self.pid(p) is None:
        self._start(p)
        started.append(p.name)
    say(f"flink: started {', '.join(started)}" if started
        else "flink: already running, nothing started")
    return self.wait_ready(timeout)

  def _check_installed(self) -> None:
    missing = [path for path in (self.flink_home / "lib", cache_dir() / JOB_SERVER)
               if not path.is_dir()]
    if missing:
      raise rest.Unreachable(f"Flink is not installed ({missing[0]} is missing); "
                             f"run `make flink` first")
    if not shutil.which("java"):
      raise rest.Unreachable("java is not on PATH (Flink needs Java 11 or 17)")

  def _write_conf(self) -> None:
    conf = self.state_dir / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    for name in ("log4j-console.properties", "logback-console.xml"):
      shutil.copy(self.flink_home / "conf" / name, conf / name)
    (self.state_dir / "tmp").mkdir(exist_ok=True)
    # Flink's own JVM options for Java 17 (--add-opens ...): without them an error
    # report in a task thread failed on module access and killed the TaskManager.
    shipped = yaml.safe_load((self.flink_home / "conf" / "config.yaml").read_text())
    java_opts = shipped["env"]["java"]["opts"]["all"]
    (conf / "config.yaml").write_text(_CONFIG.format(
        host=HOST, slots=self.slots, rest_port=self.rest_port, tmp=self.state_dir / "tmp")
        + f"env.java.opts.all: {json.dumps(java_opts)}\n")

  def _command(self, p: Process) -> list[str]:
    bin_dir = self.flink_home / "bin"
    if p.name == "jobmanager":
      return [str(bin_dir / "jobmanager.sh"), "start-foreground"]
    if p.name.startswith("taskmanager"):
      return [str(bin_dir / "taskmanager.sh"), "start-foreground"]
    if p.name == "job-server":
      return ["java", "-cp", str(cache_dir() / JOB_SERVER / "*"),
              "org.apache.beam.runners.flink.FlinkJobServerDriver",
              f"--flink-master={self.address}", f"--job-host={HOST}",
              f"--job-port={JOB_PORT}", f"--artifact-port={ARTIFACT_PORT}",
              f"--expansion-port={EXPANSION_PORT}",
              f"--artifacts-dir={self.state_dir / 'artifacts'}"]
    return [sys.executable, "-m", "pipelines.flink.worker_pool", f"--port={POOL_PORT}"]

  def _start(self, p: Process) -> None:
    logs, pids = self.state_dir / "log", self.state_dir / "pids"
    logs.mkdir(parents=True, exist_ok=True)
    pids.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, FLINK_CONF_DIR=str(self.state_dir / "conf"),
               FLINK_LOG_DIR=str(logs), FLINK_PID_DIR=str(pids / "flink-scripts"),
               FLINK_IDENT_STRING=p.name)
    with open(logs / f"{p.name}.out", "ab") as out:
      # Its own session: `down` stops it and whatever it started, together.
      proc = subprocess.Popen(self._command(p), stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    self._pid_file(p).write_text(str(proc.pid))

  def wait_ready(self, timeout: float) -> dict:
    """Until every process answers and all TaskManagers have registered."""
    deadline = time.monotonic() + timeout
    while True:
      status = self.status()
      if status["ready"]:
        return status
      # By pid file only: a process may be between two execs (no marker yet).
      dead = [p.name for p in self.processes() if not self._exists(p)]
      if dead or time.monotonic() > deadline:
        problem = (f"{', '.join(dead)} exited" if dead
                   else f"not ready after {timeout:.0f}s: {status['summary']}")
        raise rest.Unreachable(f"flink: {problem} (logs: {self.state_dir / 'log'})")
      time.sleep(1)

  # -- status ---------------------------------------------------------------
  def status(self) -> dict:
    pids = {p.name: self.pid(p) for p in self.processes()}
    try:
      info = rest.get(self.address, "/overview", timeout=2)
    except (OSError, ValueError):
      info = {}
    registered = info.get("taskmanagers", 0)
    ports = {"job server": rest.port_open(f"{HOST}:{JOB_PORT}", 1),
             "worker pool": rest.port_open(f"{HOST}:{POOL_PORT}", 1)}
    ready = (all(pids.values()) and registered == self.taskmanagers
             and all(ports.values()))
    running = sum(pid is not None for pid in pids.values())
    summary = (f"{running}/{len(pids)} processes, REST "
               + (f"answers ({registered}/{self.taskmanagers} TaskManagers, "
                  f"{info.get('slots-total', 0)} slots, {info.get('jobs-running', 0)} "
                  f"job(s) running)" if info else "does not answer")
               + "".join(f", {name} {'answers' if ok else 'does not answer'}"
                         for name, ok in ports.items()))
    return {"ready": ready, "address": self.address, "job_server": f"{HOST}:{JOB_PORT}",
            "worker_pool": f"{HOST}:{POOL_PORT}", "pids": pids, "summary": summary,
            "flink_version": info.get("flink-version")}

  # -- down -----------------------------------------------------------------
  def down(self, say: Callable[[str], None] = print, timeout: float = 30) -> list[str]:
    """Stops every process of the cluster with everything it started; returns the
    names of those that were running."""
    stopped = []
    for p in reversed(self.processes()):
      pid = self.pid(p)
      if pid is not None:
        _stop_group(pid, timeout)
        stopped.append(p.name)
      self._pid_file(p).unlink(missing_ok=True)
    shutil.rmtree(self.state_dir / "tmp", ignore_errors=True)
    say(f"flink: stopped {', '.join(stopped)}" if stopped else "flink: nothing was running")
    return stopped

  def kill_taskmanager(self, index: int = 1) -> int:
    """Kills one TaskManager at once (SIGKILL), as a crashed host would; for the
    fault tests and benchmarks. Returns its pid."""
    p = Process(f"taskmanager-{index}", _TASKMANAGER)
    pid = self.pid(p)
    if pid is None:
      raise RuntimeError(f"{p.name} is not running")
    os.killpg(pid, signal.SIGKILL)
    return pid


def _stop_group(pid: int, timeout: float) -> None:
  """SIGTERM to the process group, SIGKILL to what is left after `timeout`."""
  try:
    os.killpg(pid, signal.SIGTERM)
  except ProcessLookupError:
    return
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    if not _group_alive(pid):
      return
    time.sleep(0.2)
  try:
    os.killpg(pid, signal.SIGKILL)
  except ProcessLookupError:
    pass


def _group_alive(pgid: int) -> bool:
  # A killed child of ours stays a zombie until reaped; that is not alive.
  try:
    os.waitpid(pgid, os.WNOHANG)
  except ChildProcessError:
    pass
  return bool(group_members(pgid))


def group_members(pgid: int) -> list[int]:
  """Live (non-zombie) pids in process group `pgid`; for leftover checks."""
  members = []
  for entry in Path("/proc").iterdir():
    if entry.name.isdigit():
      try:
        fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
      except OSError:
        continue
      if int(fields[2]) == pgid and fields[0] != "Z":
        members.append(int(entry.name))
  return members


def default_cluster() -> Cluster:
  return Cluster(cache_dir() / "cluster")
