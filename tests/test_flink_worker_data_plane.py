"""A Beam worker of our pool hands a bundle's output to a runner that, like Beam
2.62's Flink runner, reads none of it until the bundle is done.

Real Beam data plane over real gRPC: a worker-side channel writes a 300 MB bundle
to a server that does not read until the writer has closed the bundle. Each case
runs in its own process, since the fit changes Beam's module state.
"""
from __future__ import annotations

import json
import subprocess
import sys

from pipelines.flink import sdk_data_plane
from tests.conftest import REPO

BUNDLE_MB = 300  # more than the stock SDK's 200 MB of send buffers

SCRIPT = r"""
import json, sys, threading
from concurrent import futures
import grpc
from apache_beam.portability.api import beam_fn_api_pb2_grpc
from apache_beam.runners.worker import data_plane
from pipelines.flink import sdk_data_plane

if sys.argv[1] == "fitted":
  sdk_data_plane.fit_to_beam_2_62_runner()
bundle_bytes, wait_s = int(sys.argv[2]) << 20, float(sys.argv[3])


class RunnerReadingAtBundleEnd(beam_fn_api_pb2_grpc.BeamFnDataServicer):
  def __init__(self):
    self.bundle_done, self.all_read = threading.Event(), threading.Event()
    self.messages, self.bytes = [], 0

  def Data(self, request_iterator, context):
    self.bundle_done.wait()
    for elements in request_iterator:
      self.messages.append(elements.ByteSize())
      for data in elements.data:
        self.bytes += len(data.data)
        if data.is_last:
          self.all_read.set()
          return
    yield


runner = RunnerReadingAtBundleEnd()
server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
beam_fn_api_pb2_grpc.add_BeamFnDataServicer_to_server(runner, server)
port = server.add_insecure_port("127.0.0.1:0")
server.start()
channel = data_plane.GrpcClientDataChannel(
    beam_fn_api_pb2_grpc.BeamFnDataStub(grpc.insecure_channel(f"127.0.0.1:{port}")))

def write_bundle():
  out = channel.output_stream("bundle-1", "Ingest/Write")
  chunk = b"x" * (64 << 10)
  for _ in range(bundle_bytes // len(chunk)):
    out.write(chunk)
    out.maybe_flush()
  out.close()

writer = threading.Thread(target=write_bundle, daemon=True)
writer.start()
writer.join(timeout=wait_s)
result = {"bundle_closed": not writer.is_alive()}
if result["bundle_closed"]:
  runner.bundle_done.set()
  result["all_read"] = runner.all_read.wait(timeout=60)
  result["bytes"], result["largest_message"] = runner.bytes, max(runner.messages)
print(json.dumps(result), flush=True)
import os; os._exit(0)  # the stuck writer and the gRPC threads do not end by themselves
"""


def _write_bundle(case: str, wait_s: float) -> dict:
  """Runs the case; waits up to wait_s for the worker to close the bundle."""
  out = subprocess.run([sys.executable, "-c", SCRIPT, case, str(BUNDLE_MB), str(wait_s)], cwd=REPO,
                       capture_output=True, text=True, timeout=180)
  assert out.returncode == 0, out.stderr[-2000:]
  return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_bundle_larger_than_the_stock_send_buffers_reaches_a_runner_that_reads_at_bundle_end():
  result = _write_bundle("fitted", wait_s=120)
  assert result["bundle_closed"], "the worker waited for the runner to read (the Flink hang)"
  assert result["all_read"] and result["bytes"] == BUNDLE_MB << 20
  # The runner holds up to 100 messages per bundle in its heap: 1 MB each, not 10.
  assert result["largest_message"] <= sdk_data_plane.MESSAGE_BYTES + (64 << 10) + 1024


def test_without_the_fit_the_same_bundle_waits_for_ever():
  # The hang this fit removes. The stock worker stalls within a second or two of
  # filling its buffers; if a Beam upgrade makes this fail, the fit may be
  # unnecessary (see pipelines/flink/sdk_data_plane.py).
  assert _write_bundle("stock", wait_s=15) == {"bundle_closed": False}
