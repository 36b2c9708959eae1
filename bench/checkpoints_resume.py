"""The checkpoints pattern's point, shown on the real command: a `tpctl run` killed
while training, then the same command again, which resumes from the last
checkpoint instead of step 0.

  python -m bench.checkpoints_resume [--train-steps 1000] [--checkpoints 10]

Runs the default configuration (the embedded taxi data, the default search) with
a smaller step budget in a fresh run directory. Once the Trainer has printed its
third checkpoint's progress line, it waits half an interval (as long as the
Trainer took between its last two lines, halved) and SIGKILLs the whole process
group, as a lost machine would. Then it reruns the same command: the steps before
the Trainer come from the cache, and the Trainer prints where it resumed. Records
that line (the run directory shown as $RUN_DIR: a page shows it as it is, where
<run_dir> would read as an HTML tag), the step the kill landed at (estimated:
the last checkpoint's step plus the time since its line at the rate between the
last two lines) and the steps lost: trained before the kill, trained again after it.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import report

REPO = Path(__file__).resolve().parent.parent
_PROGRESS = re.compile(r"^\[trainer\] step (\d+)/(\d+) .*checkpoint saved$")
_RESUMED = re.compile(r"^\[trainer\] resumed from \S+/ckpt-(\d+) \(step (\d+), epoch (\d+)\)$")
_CHECKPOINTS_BEFORE_KILL = 3


def _command(config: Path, run_dir: Path) -> list[str]:
  return [sys.executable, "-m", "pipelines.cli", "run", "--config", str(config),
          "--run-dir", str(run_dir)]


def _env() -> dict:
  # The repository's code, without TensorFlow's C++ start-up lines.
  return {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}


def _start(cmd: list[str]) -> subprocess.Popen:
  # Its own session: the kill reaches every process it started (Beam and trainer
  # workers), as when the machine goes away.
  return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True, start_new_session=True,
                          env=_env())


def kill_while_training(cmd: list[str]) -> tuple[int, float, list[str]]:
  """Runs `cmd` until the Trainer is half an interval past its third checkpoint,
  then SIGKILLs its process group: (estimated step at the kill, seconds after the
  last checkpoint's line, the lines printed)."""
  proc = _start(cmd)
  lines, seen = [], []  # seen: (step, time) of each checkpoint's progress line
  try:
    for line in proc.stdout:
      lines.append(line.rstrip("\n"))
      print(lines[-1], flush=True)
      match = _PROGRESS.match(lines[-1])
      if match:
        seen.append((int(match.group(1)), time.monotonic()))
        if int(match.group(1)) == int(match.group(2)):
          sys.exit("the Trainer finished before the kill: raise --train-steps")
        if len(seen) == _CHECKPOINTS_BEFORE_KILL:
          break
    else:
      sys.exit(f"the run ended before its Trainer's checkpoint {_CHECKPOINTS_BEFORE_KILL}:\n"
               + "\n".join(lines[-30:]))
    (prev_step, prev_at), (step, at) = seen[-2:]
    time.sleep((at - prev_at) / 2)
    after = time.monotonic() - at
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
  finally:
    if proc.poll() is None:
      os.killpg(proc.pid, signal.SIGKILL)
      proc.wait(timeout=60)
  rate = (step - prev_step) / (at - prev_at)  # steps/s, evaluation and saving included
  interval = step - prev_step
  return step + min(int(after * rate), interval - 1), after, lines


def rerun(cmd: list[str]) -> tuple[str, int, str]:
  """The same command to the end: (its resume line, the step resumed from, stdout)."""
  proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1800, check=False,
                        env=_env())
  print(proc.stdout, flush=True)
  if proc.returncode != 0:
    sys.exit(f"the rerun failed:\n{proc.stderr[-3000:]}")
  resumed = next((line for line in proc.stdout.splitlines() if _RESUMED.match(line)), None)
  if resumed is None:
    sys.exit("the rerun printed no resume line")
  return resumed, int(_RESUMED.match(resumed).group(2)), proc.stdout


def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--train-steps", type=int, default=1000)
  p.add_argument("--checkpoints", type=int, default=10)
  args = p.parse_args(argv)
  work = Path(tempfile.mkdtemp(prefix="bench-resume-"))
  try:
    config = work / "config.yaml"
    config.write_text(f"trainer:\n  train_steps: {args.train_steps}\n"
                      f"  num_checkpoints: {args.checkpoints}\n")
    run_dir = work / "run"
    cmd = _command(config, run_dir)
    began = time.monotonic()
    killed_at, after, _ = kill_while_training(cmd)
    first_s = time.monotonic() - began
    line, resumed_at, out = rerun(cmd)
    rerun_s = time.monotonic() - began - first_s
    finished = f"[trainer] step {args.train_steps}/{args.train_steps} " in out
  finally:
    shutil.rmtree(work, ignore_errors=True)
  shown = line.replace(str(run_dir.resolve()), "$RUN_DIR").replace(str(run_dir), "$RUN_DIR")
  lost = killed_at - resumed_at
  interval = args.train_steps // args.checkpoints
  body = (
      f"`tpctl run` on the default configuration with trainer.train_steps "
      f"{args.train_steps} and num_checkpoints {args.checkpoints} (a checkpoint every "
      f"{interval} steps), in a fresh run directory, SIGKILLed (its whole process group) "
      f"{after:.1f} s after the Trainer's progress line for checkpoint "
      f"{_CHECKPOINTS_BEFORE_KILL}, at about step {killed_at} (estimated from the rate "
      f"between its last two progress lines), {first_s:.0f} s after it started. The same "
      f"command again ({rerun_s:.0f} s, the steps before the Trainer cached) printed:\n\n"
      f"```\n{shown}\n```\n\n"
      f"and trained on to step {args.train_steps}"
      f"{'' if finished else ' (NOT reached: see the run)'}. Steps lost: {lost}, trained "
      f"before the kill and again after it; at most one interval ({interval} steps) can be "
      f"lost. Fewer is better: more checkpoints lose less, at the cost measured under "
      f"Checkpoint costs.")
  report.write_section(
      "checkpoints_resume", "Checkpoints: a run killed while training, then rerun",
      "python -m bench.checkpoints_resume", body,
      figures={"resume_line": shown, "steps_lost": str(lost), "killed_at_step": str(killed_at)})
  print(f"resume line: {shown}\nkilled at about step {killed_at}; steps lost: {lost}")


if __name__ == "__main__":
  main()
