"""A distributed training job as processes on this host, one per replica.

It keeps the Training Operator's contract for a TFJob, so the same training
command runs here and in a cluster:

- every replica gets TF_CONFIG naming the whole cluster (localhost ports) and its
  own task; the chief (or worker 0 when there is no chief) reports progress;
- success: with a chief (parameter-server training), when the chief succeeds;
  otherwise when every worker succeeds. Then the remaining replicas (parameter
  servers and workers that serve forever) are stopped;
- failure: a chief, parameter server or synchronous worker that fails fails the
  job, and the others are stopped. A worker of parameter-server training may
  die: the coordinator carries on with the others.

Replicas die with the launcher (PR_SET_PDEATHSIG), so a killed Trainer step
never leaves a chief writing into the checkpoint directory behind it.
"""
from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import json
import os
import signal
import socket
import subprocess
import threading
import time
from typing import Callable, Optional

_PR_SET_PDEATHSIG = 1
_GRACE_SECONDS = 10


class ClusterFailed(RuntimeError):
  """One line: which replica failed, how, and its last words. A run failure, not a
  UserError: nothing in the input would fix it."""


@dataclasses.dataclass
class Replica:
  task_type: str  # chief | worker | ps
  index: int
  process: subprocess.Popen
  log_path: str

  @property
  def name(self) -> str:
    return f"{self.task_type}-{self.index}"


def free_ports(n: int) -> list[int]:
  with contextlib.ExitStack() as stack:
    socks = [stack.enter_context(socket.socket()) for _ in range(n)]
    for s in socks:
      s.bind(("localhost", 0))
    return [s.getsockname()[1] for s in socks]


def cluster_spec(workers: int, ps: int = 0, chief: bool = False) -> dict[str, list[str]]:
  ports = iter(free_ports(workers + ps + int(chief)))
  spec = {"worker": [f"localhost:{next(ports)}" for _ in range(workers)]}
  if ps:
    spec["ps"] = [f"localhost:{next(ports)}" for _ in range(ps)]
  if chief:
    spec["chief"] = [f"localhost:{next(ports)}"]
  return spec


def die_with_parent() -> None:
  """preexec_fn: the child gets SIGKILL when its parent dies."""
  ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def how(returncode: int) -> str:
  """'was killed by SIGKILL', 'exited with status 1'."""
  if returncode < 0:
    return f"was killed by {signal.Signals(-returncode).name}"
  return f"exited with status {returncode}"


def _last_line(path: str) -> str:
  try:
    with open(path, errors="replace") as f:
      lines = [line.strip() for line in f if line.strip()]
  except OSError:
    return ""
  errors = [line for line in lines if "Error" in line or "error:" in line]
  return (errors or lines or [""])[-1][:300]


def run(command: list[str], *, workers: int, ps: int = 0, chief: bool = False,
        log_dir: str, progress: Callable[[str], None] = print,
        output: Optional[Callable[[str], None]] = None, env: Optional[dict] = None,
        on_start: Callable[[list[Replica]], None] = lambda _: None) -> None:
  """Runs `command` once per replica and waits; raises ClusterFailed on failure.

  The launcher says what happens through `progress`; the reporting replica's
  output goes to `output` (default: progress) line by line. Every replica's
  output is kept in <log_dir>/<type>-<index>.log. `on_start` sees the replicas
  once they run (tests use it to kill one).
  """
  spec = cluster_spec(workers, ps, chief)
  os.makedirs(log_dir, exist_ok=True)
  reporter = ("chief", 0) if chief else ("worker", 0)
  replicas: list[Replica] = []
  streams: list[threading.Thread] = []
  try:
    for task_type, addresses in spec.items():
      for index in range(len(addresses)):
        tf_config = json.dumps({"cluster": spec, "task": {"type": task_type, "index": index}})
        log_path = os.path.join(log_dir, f"{task_type}-{index}.log")
        reports = (task_type, index) == reporter
        log = open(log_path, "w")
        proc = subprocess.Popen(
            command, env={**os.environ, **(env or {}), "TF_CONFIG": tf_config},
            stdout=subprocess.PIPE if reports else log, stderr=subprocess.STDOUT,
            text=True, preexec_fn=die_with_parent)
        replicas.append(Replica(task_type, index, proc, log_path))
        if reports:  # the pump thread writes the log and closes it
          streams.append(_tee(proc, log, output or progress))
        else:
          log.close()
    progress(f"started {', '.join(f'{len(a)} {t}' for t, a in spec.items())} "
             f"process(es) on localhost; logs in {log_dir}")
    on_start(replicas)
    _wait(replicas, chief, progress)
  finally:
    _stop(replicas)
    for t in streams:
      t.join(timeout=_GRACE_SECONDS)


def _tee(proc: subprocess.Popen, log, progress) -> threading.Thread:
  def pump():
    with log:
      for line in proc.stdout:
        log.write(line)
        log.flush()
        progress(line.rstrip("\n"))
  thread = threading.Thread(target=pump, daemon=True)
  thread.start()
  return thread


def _wait(replicas: list[Replica], chief: bool, progress) -> None:
  reported: set[str] = set()
  while True:
    for r in replicas:
      code = r.process.poll()
      if code is None or r.name in reported:
        continue
      reported.add(r.name)
      if code == 0:
        if r.task_type == "chief":
          return  # parameter-server training ends with its coordinator
        continue
      tolerated = chief and r.task_type == "worker"
      if not tolerated:
        raise ClusterFailed(f"{r.name} {how(code)}: {_last_line(r.log_path) or 'no output'}"
                            f" (log: {r.log_path})")
      progress(f"{r.name} {how(code)}; the coordinator carries on with the other workers")
    workers = [r for r in replicas if r.task_type == "worker"]
    if not chief and all(r.process.poll() == 0 for r in workers):
      return
    if chief and all(r.process.poll() is not None for r in workers):
      raise ClusterFailed("every worker has died; the coordinator has nowhere to run steps")
    time.sleep(0.2)


def _stop(replicas: list[Replica]) -> None:
  """SIGTERM, then SIGKILL after a grace period, for whatever still runs."""
  running = [r for r in replicas if r.process.poll() is None]
  for r in running:
    r.process.terminate()
  deadline = time.monotonic() + _GRACE_SECONDS
  for r in running:
    try:
      r.process.wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
      r.process.kill()
      r.process.wait()
