"""Fits the Python SDK worker's data plane to the Beam 2.62 Flink runner.

The runner side (Beam 2.62, the newest Flink 1.19 runner on Maven Central here)
reads a bundle's output only after the SDK has answered that the bundle is done,
and until then holds at most 100 output messages per bundle
(`SdkHarnessClient.ActiveBundle.close`, `BeamFnDataInboundObserver`). The 2.77 SDK
in our lock buffers at most 200 MB of unsent output and then waits for the runner
(apache/beam#38407, which bounded a queue that had no bound before). A bundle
with more output than both, which is any Ingest bundle over about 575 MB of CSV,
hung for ever: the worker waited for the runner, the runner for the worker's
answer, with idle CPUs.

So a worker of our pool (`worker_pool.py`):
- buffers a bundle's unsent output without a bound, as SDKs before that change
  did: the worker holds up to one bundle's output until the runner reads it;
- sends 1 MB messages instead of 10 MB, so the runner's 100 waiting messages take
  100 MB of a TaskManager's heap per bundle, not 1 GB (at 10 MB the 1 GB CSV ran
  the TaskManagers out of heap).
"""
from __future__ import annotations

MESSAGE_BYTES = 1 << 20


def fit_to_beam_2_62_runner() -> None:
  """Call in a worker process before it creates its SdkHarness."""
  from apache_beam.runners.worker import data_plane
  # 0: no bound (ByteLimitedQueue's convention).
  data_plane._DEFAULT_SEND_QUEUE_MAX_ELEMENTS = 0
  data_plane._DEFAULT_SEND_QUEUE_MAX_BYTES = 0
  # The send loop reads this global to coalesce chunks into a message; an output
  # stream takes its chunk size from its __init__ default, bound at import.
  data_plane._DEFAULT_SIZE_FLUSH_THRESHOLD = MESSAGE_BYTES
  init = data_plane.SizeBasedBufferingClosableOutputStream.__init__
  close_cb, flush_cb, _, warn_bytes = init.__defaults__
  init.__defaults__ = (close_cb, flush_cb, MESSAGE_BYTES, warn_bytes)
