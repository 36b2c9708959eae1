"""What checkpoints cost: overhead, restart time, work lost to a kill, and size.

  python -m bench.checkpoint_costs [--pairs 3] [--kills 5]

Trains the default configuration (2000 steps, 10 checkpoints, batch 128) on the
embedded taxi data (15,002 rows) in a fresh process per run:
- overhead: with checkpoints against without (same evaluation at each virtual
  epoch in both), pairs interleaved, ratio of median training-loop times;
- kills: SIGKILL at a random moment after the first checkpoint, then restart:
  the time from restart until training continues, and the work lost (time since
  the newest complete checkpoint at the moment of the kill, also in steps);
- size: one full checkpoint against the exported serving model.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import report

REPO = Path(__file__).resolve().parent.parent


def _start(config, transform_dir, examples_dir, ckpt_dir, *extra) -> subprocess.Popen:
  return subprocess.Popen(
      [sys.executable, "-m", "tests.train_job", config.to_json(), transform_dir, examples_dir,
       str(ckpt_dir), *extra], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
      text=True, env={**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"})


def _record(proc) -> dict:
  out, _ = proc.communicate()
  if proc.returncode != 0:
    sys.exit(f"training job failed:\n{out[-2000:]}")
  return json.loads(out.split("RECORD ", 1)[1])


def _time_to_line(proc, prefix: str) -> float:
  """Seconds from now until the job prints a line starting with `prefix`."""
  began = time.monotonic()
  for line in proc.stdout:
    if line.startswith(prefix):
      return time.monotonic() - began
  raise RuntimeError(f"job ended without printing {prefix!r}")


def _dir_bytes(root: Path) -> int:
  return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--pairs", type=int, default=3)
  p.add_argument("--kills", type=int, default=5)
  args = p.parse_args(argv)
  import tensorflow_transform as tft
  from components.checkpoint_evaluator import scoring
  from components.trainer import checkpoints, export, train_record
  from components.csv_ingest import embedded_data
  from components.config import load_config
  from components.trainer import standalone_inputs

  work = Path(tempfile.mkdtemp(prefix="bench-ckpt-"))
  try:
    config = load_config()
    data_dir = Path(embedded_data.materialize(work / "data"))
    transform_dir, examples_dir = standalone_inputs.build(config, data_dir / "data.csv", work)
    t = config.trainer
    interval = t.train_steps // t.num_checkpoints

    with_ckpt, without = [], []
    for i in range(args.pairs):
      with_ckpt.append(_record(_start(config, transform_dir, examples_dir, work / f"w{i}"))["seconds"])
      without.append(_record(_start(config, transform_dir, examples_dir, work / f"n{i}",
                                    "no-checkpoints"))["seconds"])
      print(f"pair {i + 1}: with {with_ckpt[-1]:.2f}s  without {without[-1]:.2f}s", flush=True)
    steps_per_s = t.train_steps / statistics.median(with_ckpt)

    rng = random.Random(0)
    restart, lost_s = [], []
    for k in range(args.kills):
      ckpt_dir = work / f"kill{k}"
      proc = _start(config, transform_dir, examples_dir, ckpt_dir)
      while not checkpoints.list_steps(str(ckpt_dir)):
        time.sleep(0.01)
      time.sleep(rng.uniform(0, 0.8 * statistics.median(with_ckpt)))
      proc.send_signal(signal.SIGKILL)
      killed_at = time.time()
      proc.wait()
      steps = checkpoints.list_steps(str(ckpt_dir))
      newest = ckpt_dir / f"ckpt-{steps[-1]}.index"
      lost_s.append(killed_at - newest.stat().st_mtime)
      rerun = _start(config, transform_dir, examples_dir, ckpt_dir)
      restart.append(_time_to_line(rerun, "training from step"))
      record = _record(rerun)
      assert record["final_step"] == t.train_steps and record["start_step"] == steps[-1]
      print(f"kill {k + 1}: lost {lost_s[-1]:.2f}s, restart {restart[-1]:.2f}s", flush=True)

    record = train_record.TrainRecord(**_record(_start(config, transform_dir, examples_dir, work / "size")))
    tft_output = tft.TFTransformOutput(transform_dir)
    model = scoring.restore_model(config, record, tft_output,
                                  scoring.list_checkpoints(record.checkpoint_dir)[-1][1])
    export.export_serving_model(config, model, tft_output, str(work / "served"))
    served = _dir_bytes(work / "served")
  finally:
    shutil.rmtree(work, ignore_errors=True)

  ratio = statistics.median(with_ckpt) / statistics.median(without)
  lost_steps = [s * steps_per_s for s in lost_s]
  body = "\n".join([
      f"Checkpoint overhead at the default frequency ({t.num_checkpoints} checkpoints, every "
      f"{interval} steps): **{ratio:.3f}** (goal <= 1.05), median training-loop time "
      f"{statistics.median(with_ckpt):.2f}s with checkpoints, "
      f"{statistics.median(without):.2f}s without, {args.pairs} interleaved pairs.",
      "",
      "| measure | median | max | runs |",
      "|---|---|---|---|",
      f"| restart → training continues (process start, imports, model build, restore) | "
      f"{statistics.median(restart):.2f}s | {max(restart):.2f}s | {args.kills} |",
      f"| work lost to a SIGKILL at a random moment | {statistics.median(lost_s):.2f}s "
      f"(~{statistics.median(lost_steps):.0f} steps) | {max(lost_s):.2f}s "
      f"(~{max(lost_steps):.0f} steps) | {args.kills} |",
      "",
      f"Bound on lost work: one interval, {interval} steps (~{interval / steps_per_s:.2f}s here).",
      "",
      f"Size: one full checkpoint (weights, Adam slots, step, epoch) "
      f"{record.checkpoint_bytes / 1e6:.2f} MB; the exported serving model (weights and "
      f"the transform graph, no optimizer state) {served / 1e6:.2f} MB "
      f"(ratio {record.checkpoint_bytes / served:.2f}).",
  ])
  report.write_section("checkpoint_costs", "Checkpoint costs",
                       "python -m bench.checkpoint_costs", body)
  print(body)


if __name__ == "__main__":
  main()
