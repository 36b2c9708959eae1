"""Tuning: trials per hour with 2 parallel trial workers against 1, and the best
objective reached against wall time for random search, Bayesian optimization and
Hyperband.

  python -m bench.tuning

The embedded taxi data (15,002 rows), the default model and search space but a
log-sampled learning rate, each search in a fresh process:
- parallel: the same random search (8 trials of 200 steps), with
  tuner.parallel_trials 1 and 2; trials per hour from the search's wall time
  (goal: 2 workers >= 1.6x on 2 cores);
- algorithms: random and Bayesian (8 trials of 200 steps) and Hyperband (factor 3,
  longest trials 200 steps), one worker each; the best eval loss so far against
  the time since the search started, from each trial's end time (trials.csv).
"""
from __future__ import annotations

import csv
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import report
from bench.common import BENCH, REPO

SPACE = {"learning_rate": {"type": "float", "min": 1e-4, "max": 1e-1, "sampling": "log"},
         "units": {"type": "choice", "values": [32, 64, 128]},
         "num_layers": {"type": "int", "min": 1, "max": 3}}
FIGURE = BENCH / "figures" / "tuning.png"


def _search(config, transform_dir, examples_dir, work: Path) -> tuple[float, list[dict]]:
  shutil.rmtree(work, ignore_errors=True)
  work.mkdir(parents=True)
  proc = subprocess.run(
      [sys.executable, "-m", "bench._tuning_job", config.to_json(), str(transform_dir),
       str(examples_dir), str(work)], cwd=REPO, capture_output=True, text=True,
      env={**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"})
  if proc.returncode != 0:
    sys.exit(f"search failed:\n{proc.stderr[-3000:]}")
  out = json.loads(proc.stdout.strip().splitlines()[-1])
  with open(out["trials_csv"]) as f:
    return out["seconds"], list(csv.DictReader(f))


def _best_over_time(rows: list[dict]) -> list[tuple[float, float]]:
  done = sorted((datetime.datetime.fromisoformat(r["ended"]), float(r["objective"]))
                for r in rows if r["status"] == "COMPLETED")
  start = min(datetime.datetime.fromisoformat(r["started"]) for r in rows if r["started"])
  best, out = float("inf"), []
  for ended, value in done:
    best = min(best, value)
    out.append(((ended - start).total_seconds(), best))
  return out


def _plot(curves: dict[str, list[tuple[float, float]]]) -> None:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(6, 3.5))
  for name, points in curves.items():
    xs, ys = zip(*points)
    ax.step(xs, ys, where="post", marker="o", label=name)
  ax.set_xlabel("seconds since the search started")
  ax.set_ylabel("best eval loss so far")
  ax.legend()
  fig.tight_layout()
  FIGURE.parent.mkdir(exist_ok=True)
  fig.savefig(FIGURE, dpi=100)


def main(argv=None) -> None:
  from components.config import load_config
  from components.csv_ingest import embedded_data
  from components.trainer import standalone_inputs

  work = Path(tempfile.mkdtemp(prefix="bench-tuning-"))
  try:
    config = load_config(overrides={"tuner.search_space": SPACE, "tuner.max_trials": 8,
                                    "tuner.steps_per_trial": 200})
    data_dir = Path(embedded_data.materialize(work / "data"))
    transform_dir, examples_dir = standalone_inputs.build(config, data_dir / "data.csv", work)

    def tuned(**tuner):
      return config.model_copy(update={"tuner": config.tuner.model_copy(update=tuner)}
                               ).for_step("tuner")
    seconds, rows = {}, {}
    for name, cfg in [("1 worker", tuned(parallel_trials=1)),
                      ("2 workers", tuned(parallel_trials=2)),
                      ("bayesian", tuned(algorithm="bayesian")),
                      ("hyperband", tuned(algorithm="hyperband"))]:
      seconds[name], rows[name] = _search(cfg, transform_dir, examples_dir, work / "s")
      print(f"{name}: {len(rows[name])} trials in {seconds[name]:.0f} s", flush=True)
  finally:
    shutil.rmtree(work, ignore_errors=True)

  per_hour = {n: len(rows[n]) * 3600 / seconds[n] for n in ("1 worker", "2 workers")}
  ratio = per_hour["2 workers"] / per_hour["1 worker"]
  curves = {"random": _best_over_time(rows["1 worker"]),
            "bayesian": _best_over_time(rows["bayesian"]),
            "hyperband": _best_over_time(rows["hyperband"])}
  _plot(curves)
  table = "\n".join(
      f"| {name} | {len(rows[key])} | {seconds[key]:.0f} | {points[-1][1]:.4f} | "
      f"{next(t for t, v in points if v == points[-1][1]):.0f} |"
      for name, key, points in [("random", "1 worker", curves["random"]),
                                ("bayesian", "bayesian", curves["bayesian"]),
                                ("hyperband", "hyperband", curves["hyperband"])])
  body = f"""\
| parallel trials | trials | seconds | trials per hour |
|---|---|---|---|
| 1 worker | {len(rows['1 worker'])} | {seconds['1 worker']:.0f} | {per_hour['1 worker']:.0f} |
| 2 workers | {len(rows['2 workers'])} | {seconds['2 workers']:.0f} | {per_hour['2 workers']:.0f} |

**2 workers / 1 worker: {ratio:.2f}x trials per hour** (goal >= 1.6: {'met' if ratio >= 1.6 else '**not met**'}).
Seconds are the whole search, process start and the oracle included.

| algorithm | trials | seconds | best eval loss | reached after (s) |
|---|---|---|---|---|
{table}

![best eval loss against wall time](bench/figures/tuning.png)

One run each, on one machine: which algorithm wins depends on the seed and the
space; what the table shows is the cost of each (Hyperband runs more, shorter
trials on the same longest budget)."""
  report.write_section("tuning", "Tuning: parallel trials and algorithms",
                       "python -m bench.tuning", body,
                       figures={"parallel_ratio": f"{ratio:.2f}"})
  print(body)


if __name__ == "__main__":
  main()
