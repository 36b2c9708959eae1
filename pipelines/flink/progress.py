"""Progress inside a Beam step that runs on Flink.

The Beam SDK says nothing between submitting a job and its end, and a step on a
large CSV runs for minutes. Flink's REST API knows how far the job is: this
watcher polls it and prints a line when the job is first seen, whenever its state
changes (a lost TaskManager shows as RESTARTING) and, while it runs, at most
every `every_s` seconds when more of its tasks have finished.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

from pipelines.flink import rest

_TERMINAL = {"FINISHED", "FAILED", "CANCELED"}


def describe(job: dict, now_ms: int) -> str:
  """One line for an entry of /jobs/overview."""
  tasks = job.get("tasks", {})
  elapsed = max(0, now_ms - job["start-time"]) // 1000
  return (f"flink job {job['jid'][:8]} {job['state'].lower()} {elapsed // 60}m{elapsed % 60:02d}s: "
          f"{tasks.get('finished', 0)}/{tasks.get('total', 0)} tasks done, "
          f"{tasks.get('running', 0)} running")


class JobProgress:
  """A daemon thread for the duration of a `with` block. `step()` names the step
  in progress (None between steps); lines go to `say` as "  STEP: flink job …"."""

  def __init__(self, address: str, job_name: str, since_ms: int, say: Callable[[str], None],
               step: Callable[[], str | None], every_s: float = 30.0, poll_s: float = 2.0):
    self._address, self._name, self._since_ms = address, job_name, since_ms
    self._say, self._step, self._every_s, self._poll_s = say, step, every_s, poll_s
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._run, name="flink-progress", daemon=True)
    self._last: tuple[str, str, int] | None = None  # (jid, state, finished) last said
    self._last_said = 0.0

  def __enter__(self) -> "JobProgress":
    self._thread.start()
    return self

  def __exit__(self, *exc) -> None:
    self._stop.set()
    self._thread.join()

  def _run(self) -> None:
    while not self._stop.wait(self._poll_s):
      try:
        jobs = rest.get(self._address, "/jobs/overview")["jobs"]
      except Exception:  # the step fails with its own error if the cluster went away
        continue
      self.observe(jobs, int(time.time() * 1000), time.monotonic())

  def observe(self, jobs: list[dict], now_ms: int, now: float) -> None:
    step = self._step()
    mine = [j for j in jobs if j["name"] == self._name and j["start-time"] >= self._since_ms
            and j["state"] not in _TERMINAL]
    if not step or not mine:
      return
    job = max(mine, key=lambda j: j["start-time"])
    key = (job["jid"], job["state"], job.get("tasks", {}).get("finished", 0))
    changed_state = self._last is None or key[:2] != self._last[:2]
    progressed = self._last is not None and key != self._last
    if changed_state or (progressed and now - self._last_said >= self._every_s):
      self._say(f"  {step}: {describe(job, now_ms)}")
      self._last, self._last_said = key, now
