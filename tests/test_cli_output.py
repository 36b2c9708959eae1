"""What `tpctl run` prints reaches a pipe while the run goes on (`| tee`, nohup,
CI logs), not only when it ends; and a flag a command does not use is refused,
not ignored."""
from __future__ import annotations

import os
import subprocess
import time

import pytest

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


@pytest.mark.parametrize("command", ["compile", "submit", "schedule", "unschedule"])
def test_the_kubeflow_commands_refuse_run_dir_in_one_line(command, capsys):
  """They use no run directory on this host, so an old script passing --run-dir
  hears so at once instead of the flag being ignored."""
  from pipelines.cli import main
  required = ["--cron", "0 0 3 * * *"] if command == "schedule" else []
  with pytest.raises(SystemExit) as exited:
    main([command, *required, "--run-dir", "runs/x"])
  assert exited.value.code == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert err[-1] == "tpctl: error: unrecognized arguments: --run-dir runs/x", err
