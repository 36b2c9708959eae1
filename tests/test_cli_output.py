"""What `tpctl run` prints reaches a pipe while the run goes on (`| tee`, nohup,
CI logs), not only when it ends."""
from __future__ import annotations

import os
import subprocess
import time

from tests.conftest import REPO, TPCTL, write_config


def test_the_lines_of_a_run_reach_a_pipe_as_they_are_printed(tmp_path, taxi_slice):
  config = write_config(tmp_path, f"""\
      run_dir: run
      data:
        dir: {taxi_slice}
      """)
  # As in a user's shell: Python buffers a pipe unless told otherwise.
  env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
  proc = subprocess.Popen([*TPCTL, "run", "--config", str(config), "--until", "Ingest"],
                          cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          env={**env, "PYTHONPATH": str(REPO)}, text=True)
  arrived = {}
  for line in proc.stdout:
    arrived.setdefault(line.strip(), time.monotonic())
  assert proc.wait(timeout=300) == 0
  first = next(t for line, t in arrived.items() if line.startswith("run directory:"))
  # The pipeline runs (a second or more) between the first line and the summary;
  # through a buffered pipe both arrive together, at the end.
  assert arrived["== summary =="] - first > 0.5, arrived
