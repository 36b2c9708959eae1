"""The Beam Python worker pool (the EXTERNAL environment) for TaskManagers that
share one host.

Beam's own `worker_pool_main` assumes one TaskManager per pool, as in a
Kubernetes pod with a sidecar. Here both TaskManagers of `tpctl flink up` use the
same pool, and that breaks it three ways:
- each TaskManager numbers its workers from 1, and the stock pool keys them by
  that id, so one TaskManager's StopWorker killed the other's worker mid-bundle
  ("CANCELLED: client cancelled");
- it starts workers as a bare `python` from PATH, not this environment's;
- it pipes their stdout and never reads it, so a chatty worker blocks.

This pool starts each worker with this interpreter, sends its output to the
pool's log, and does not kill on StopWorker: a worker exits by itself when its
TaskManager closes the control stream, which is what StopWorker follows anyway.

A TaskManager asks for a new worker whenever a job's classes are reloaded, which
in batch mode is every few stages: dozens per step. A fresh Python process spends
seconds importing TensorFlow, so workers are forked from a multiprocessing
forkserver that has imported it once.

Each worker fits the SDK's data plane to the 2.62 runner before it starts
(`sdk_data_plane.py`): without that, a bundle with much output hangs. That is why
the Kubernetes sidecar (k8s/flink/) runs this pool too, one TaskManager per pool.
"""
from __future__ import annotations

import argparse
import logging
import multiprocessing
import signal
import threading
import time
from concurrent import futures

import grpc
from apache_beam.portability.api import beam_fn_api_pb2, beam_fn_api_pb2_grpc

from pipelines.flink import sdk_data_plane

_LOG = logging.getLogger(__name__)
# What a worker imports to run the pipeline's steps, loaded once by the forkserver.
PRELOAD = ["apache_beam.runners.worker.sdk_worker", "tensorflow",
           "tensorflow_data_validation", "tensorflow_transform.beam",
           "tensorflow_model_analysis", "tfx_bsl.public.tfxio"]


def _run_worker(control_url: str, worker_id: str) -> None:
  from apache_beam.runners.worker.sdk_worker import SdkHarness
  sdk_data_plane.fit_to_beam_2_62_runner()
  SdkHarness(control_url, worker_id=worker_id, state_cache_size=0,
             data_buffer_time_limit_ms=-1).run()


class SharedHostWorkerPool(beam_fn_api_pb2_grpc.BeamFnExternalWorkerPoolServicer):

  def __init__(self):
    self.context = multiprocessing.get_context("forkserver")
    self.context.set_forkserver_preload(PRELOAD)
    self.workers: list[multiprocessing.process.BaseProcess] = []
    self._lock = threading.Lock()

  def reap(self) -> None:
    """Logs the workers that have ended and how. A worker killed by a signal leaves
    no traceback, and its TaskManager may wait for it for ever: this line is the
    only trace."""
    with self._lock:
      ended = [w for w in self.workers if not w.is_alive()]
      self.workers = [w for w in self.workers if w.is_alive()]
    for w in ended:
      code = w.exitcode
      if code is not None and code < 0:
        _LOG.warning("%s was killed by %s", w.name, signal.Signals(-code).name)
      elif code:
        _LOG.warning("%s exited with code %d", w.name, code)

  def StartWorker(self, request, context):
    self.reap()
    worker = self.context.Process(
        target=_run_worker, args=(request.control_endpoint.url, request.worker_id),
        name=f"beam-worker-{request.worker_id}")
    try:
      worker.start()
    except OSError as e:
      return beam_fn_api_pb2.StartWorkerResponse(error=f"cannot start a worker: {e}")
    with self._lock:
      self.workers.append(worker)
      running = len(self.workers)
    _LOG.info("started worker %s for %s (%d running)", request.worker_id,
              request.control_endpoint.url, running)
    return beam_fn_api_pb2.StartWorkerResponse()

  def StopWorker(self, request, context):
    # Ids are not unique across TaskManagers; the worker leaves when its control
    # stream closes (see the module docstring).
    return beam_fn_api_pb2.StopWorkerResponse()


def serve(port: int, host: str = "127.0.0.1") -> tuple[grpc.Server, SharedHostWorkerPool]:
  pool = SharedHostWorkerPool()
  server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
  beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(pool, server)
  if not server.add_insecure_port(f"{host}:{port}"):
    raise SystemExit(f"worker pool: cannot listen on {host}:{port}")
  server.start()
  return server, pool


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--port", type=int, required=True)
  parser.add_argument("--host", default="127.0.0.1",
                      help="0.0.0.0 in a Kubernetes sidecar, where the kubelet probes the pod's IP")
  args = parser.parse_args(argv)
  logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
  server, pool = serve(args.port, args.host)
  _LOG.info("worker pool listening on %s:%d", args.host, args.port)
  try:
    while True:
      time.sleep(5)
      pool.reap()
  finally:
    server.stop(0)


if __name__ == "__main__":
  main()
