"""Side by side: our pipeline against TFX's own taxi_pipeline_native_keras.py.

Same data (the taxi CSV in the tfx wheel), same number of training steps (1000)
and batch size (40), our tuner off. Each run is a fresh process and a fresh
directory; variants are interleaved round by round so that machine noise hits
all of them alike. Reports medians and the ratio of medians.

  python -m bench.pipeline_vs_taxi [--rounds 3]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import report

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
CONFIG = BENCH / "taxi_like.yaml"


def ours_command(work: Path, workers: int = 0) -> list[str]:
  cmd = [sys.executable, "-m", "pipelines.cli", "run", "--config", str(CONFIG),
         "--run-dir", str(work)]
  return cmd + (["--beam-workers", str(workers)] if workers else [])


def _taxi(work: Path, workers: int = 0) -> list[str]:
  return [sys.executable, str(BENCH / "_taxi_example.py"), str(work)] + (
      [str(workers)] if workers else [])


_CORES = os.cpu_count() or 1
_DEFAULT = max(1, _CORES - 1)  # our default Beam worker count
# Like for like: each pipeline at the same Beam worker count.
PAIRS = {workers: (f"ours, {workers} Beam worker(s)", f"TFX taxi example, {workers} Beam worker(s)")
         for workers in sorted({_DEFAULT, _CORES})}
VARIANTS = {}
for _w, (_ours_name, _taxi_name) in PAIRS.items():
  VARIANTS[_ours_name] = lambda w, n=_w: ours_command(w, n)
  VARIANTS[_taxi_name] = lambda w, n=_w: _taxi(w, n)


def run_once(name: str, make_cmd) -> float:
  work = Path(tempfile.mkdtemp(prefix="bench-"))
  try:
    began = time.monotonic()
    proc = subprocess.run(make_cmd(work / "run"), cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    took = time.monotonic() - began
    if proc.returncode != 0:
      sys.exit(f"{name} failed:\n{proc.stderr[-3000:]}")
    pushed = list((work / "run").rglob("saved_model.pb"))
    if not any("serving" in str(p) for p in pushed):
      sys.exit(f"{name} pushed no model")
    return took
  finally:
    shutil.rmtree(work, ignore_errors=True)


def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--rounds", type=int, default=3)
  args = p.parse_args(argv)
  times: dict[str, list[float]] = {name: [] for name in VARIANTS}
  for r in range(args.rounds):
    for name, make_cmd in VARIANTS.items():
      times[name].append(run_once(name, make_cmd))
      print(f"round {r + 1}/{args.rounds}  {name}: {times[name][-1]:.1f}s", flush=True)
  med = {name: statistics.median(t) for name, t in times.items()}
  ratio = {w: med[ours] / med[taxi] for w, (ours, taxi) in PAIRS.items()}
  table = ["| Beam workers | ours, median wall (s) | min-max | TFX example, median wall (s) "
           "| min-max | ratio ours / TFX |", "|---|---|---|---|---|---|"]
  for w, (ours, taxi) in PAIRS.items():
    table.append(f"| {w} | {med[ours]:.1f} | {min(times[ours]):.1f}-{max(times[ours]):.1f} | "
                 f"{med[taxi]:.1f} | {min(times[taxi]):.1f}-{max(times[taxi]):.1f} | "
                 f"{ratio[w]:.2f} |")
  body = (f"Like for like (the same Beam worker count on both sides), medians of "
          f"{args.rounds} interleaved runs each: **{ratio[_DEFAULT]:.2f}** at our default of "
          f"{_DEFAULT} worker(s) (cores - 1).\n\n" + "\n".join(table) + "\n\n"
          "Both pipelines: the embedded taxi CSV (15,002 rows), 1000 training steps of "
          "batch 40, LocalDagRunner on Beam's DirectRunner in multi-processing mode, MLMD "
          "in SQLite. Ours runs ingest (with the pre-flight), statistics, schema, transform, "
          "trainer (10 checkpoints), checkpoint evaluator (scores all 10), TFMA evaluator "
          "and pusher, tuner off; the TFX example runs CsvExampleGen, statistics, schema, "
          "example validator, transform, trainer, resolver, TFMA evaluator and pusher. The "
          f"TFX example as shipped uses {_CORES} workers (one per core).")
  report.write_section("pipeline_vs_taxi", "Pipeline wall time against TFX's taxi example",
                       "python -m bench.pipeline_vs_taxi", body,
                       figures={"ratio": f"{ratio[_DEFAULT]:.2f}"})
  print(body)


if __name__ == "__main__":
  main()
