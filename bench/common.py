"""What several benchmarks share: the taxi-like config and one timed run."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
# Our pipeline configured like TFX's taxi example: tuner off, 1000 steps of batch 40.
CONFIG = BENCH / "taxi_like.yaml"
# A progress line of `tpctl run`: "[5/8] Trainer done in 17.8s".
STEP_DONE = re.compile(r"\] (\w+) done in ([\d.]+)s")


def ours_command(run_dir: Path, config: Path = CONFIG, *extra: str) -> list[str]:
  return [sys.executable, "-m", "pipelines.cli", "run", "--config", str(config),
          "--run-dir", str(run_dir), *extra]


def timed(cmd: list[str], name: str) -> tuple[float, float, str]:
  """Runs `cmd` from the repository root: (wall seconds, seconds to the first line
  it printed, stdout). Exits naming `name` if it fails."""
  began = time.monotonic()
  proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
                                          "PYTHONPATH": str(REPO)})
  first = proc.stdout.readline()
  first_at = time.monotonic() - began
  rest, err = proc.communicate()
  took = time.monotonic() - began
  if proc.returncode != 0:
    sys.exit(f"{name} failed:\n{err[-3000:]}")
  return took, first_at, first + rest


def fresh_run(name: str) -> float:
  """A full `tpctl run` of CONFIG in a fresh directory; its wall seconds."""
  work = Path(tempfile.mkdtemp(prefix="bench-"))
  try:
    took, _, out = timed(ours_command(work / "run"), name)
    if "pushed: " not in out:
      sys.exit(f"{name} pushed no model:\n{out[-2000:]}")
    return took
  finally:
    shutil.rmtree(work, ignore_errors=True)


class StepTimes:
  """A LocalKfp progress callback that times each task: the time from one task's
  "<name> ..." line to the next (the last one is closed by `stop`)."""

  def __init__(self, echo=lambda msg: None):
    self.seconds: dict[str, float] = {}
    self._echo = echo
    self._current: tuple[str, float] | None = None

  def __call__(self, msg: str) -> None:
    self.stop()
    self._current = (msg.split()[0], time.monotonic())
    self._echo(msg)

  def stop(self) -> None:
    if self._current:
      name, began = self._current
      self.seconds[name] = time.monotonic() - began
      self._current = None
