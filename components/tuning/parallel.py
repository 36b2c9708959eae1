"""Parallel trials on one machine, through KerasTuner's chief/worker protocol.

The chief serves the oracle over gRPC (KerasTuner's own OracleServicer) and
starts `parallel_trials` worker processes, each a LoopTuner with
KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT set, which
ask for trials until the oracle says stop. Each worker's TensorFlow gets an equal
share of the cores, so trials do not fight over them.

KerasTuner's own chief waits for every started trial to end, so a worker that
dies mid-trial makes it wait forever (tfx#5607). This chief watches its workers
instead: a dead worker's trial is marked failed and the worker is replaced, and
the search ends when every worker has exited.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from concurrent import futures
from typing import Callable

import grpc
from keras_tuner.src import protos
from keras_tuner.src.distribute import oracle_chief
from keras_tuner.src.engine import trial as trial_module

from components.launchers import local_processes

# Replacement workers for ones that died, per search: enough for bad luck, not
# for a worker that dies every time.
_MAX_RESTARTS = 3
THREADS_ENV = "TP_TUNER_THREADS"


def serve(oracle, command: list[str], workers: int, log_dir: str,
          say: Callable[[str], None], relay: Callable[[str], None],
          on_start: Callable[[dict], None] = lambda _: None) -> None:
  """Runs the search on `workers` processes of `command`; returns when it is over."""
  (port,) = local_processes.free_ports(1)
  server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
  protos.get_service_grpc().add_OracleServicer_to_server(
      oracle_chief.OracleServicer(oracle), server)
  server.add_insecure_port(f"127.0.0.1:{port}")
  server.start()
  os.makedirs(log_dir, exist_ok=True)
  threads = max(1, (os.cpu_count() or 1) // workers)
  env = {**os.environ, "KERASTUNER_ORACLE_IP": "127.0.0.1",
         "KERASTUNER_ORACLE_PORT": str(port), THREADS_ENV: str(threads)}
  running: dict[str, subprocess.Popen] = {}

  def start(tuner_id: str) -> None:
    log = open(os.path.join(log_dir, f"{tuner_id}.log"), "a")
    proc = subprocess.Popen(command, env={**env, "KERASTUNER_TUNER_ID": tuner_id},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=local_processes.die_with_parent)
    threading.Thread(target=_pump, args=(proc, log, relay), daemon=True).start()
    running[tuner_id] = proc

  try:
    for i in range(workers):
      start(f"worker{i}")
    say(f"{workers} trial workers, {threads} thread(s) each; logs in {log_dir}")
    on_start(running)
    restarts = 0
    while running:
      time.sleep(0.5)
      for tuner_id, proc in list(running.items()):
        code = proc.poll()
        if code is None:
          continue
        del running[tuner_id]
        if code == 0:
          continue
        how = local_processes.how(code)
        trial = _fail_ongoing(oracle, tuner_id, f"worker {tuner_id} {how}")
        say(f"worker {tuner_id} {how}" + (f"; trial {trial} marked failed" if trial else ""))
        if restarts < _MAX_RESTARTS and not _search_over(oracle):
          restarts += 1
          start(f"{tuner_id}-r{restarts}")
  finally:
    for proc in running.values():
      proc.send_signal(signal.SIGTERM)
    for proc in running.values():
      proc.wait()
    server.stop(grace=None)


def _fail_ongoing(oracle, tuner_id: str, reason: str):
  trial = oracle.ongoing_trials.get(tuner_id)
  oracle.tuner_ids.discard(tuner_id)
  if trial is None:
    return None
  trial.status = trial_module.TrialStatus.FAILED
  trial.message = reason
  oracle.end_trial(trial)
  return trial.trial_id


def _search_over(oracle) -> bool:
  return bool(oracle.max_trials) and len(oracle.trials) >= oracle.max_trials \
      and not oracle.ongoing_trials


def _pump(proc: subprocess.Popen, log, relay: Callable[[str], None]) -> None:
  with log:
    for line in proc.stdout:
      log.write(line)
      log.flush()
      relay(line.rstrip("\n"))
