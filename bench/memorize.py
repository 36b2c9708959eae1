"""Useful overfitting: worst error over the whole grid, speed-up over the solver,
and training time to the tolerance, for each built-in simulator.

  python -m bench.memorize [--only projectile|heated_rod]

For each shipped config (pipelines/configs/memorize_*.yaml, the complete grids):
one `tpctl demo-memorize` in a fresh directory, which runs the pipeline twice on
the same grid, memorizing and the usual way (80/20 split, L2 1e-4, early
stopping), and scores both exported models on every grid point. Then, in this
process: the memorized model's batched inference over the whole grid (its
serving signature, loaded once and traced once; serialized tf.Examples in: what
a caller pays per request), best of 3,
against the solver's time for the same grid as Ingest measured it in that run
(one core), and against this process's own solve of 300 random grid points.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import report
from bench.common import REPO, timed

CONFIGS = {"projectile": REPO / "pipelines" / "configs" / "memorize_projectile.yaml",
           "heated_rod": REPO / "pipelines" / "configs" / "memorize_heated_rod.yaml"}


def _latest(pattern: str) -> str:
  found = glob.glob(pattern)
  if not found:
    raise SystemExit(f"nothing matches {pattern}")
  return max(found, key=os.path.getmtime)


def measure(name: str) -> dict:
  import numpy as np
  from components import simulators
  from components.config import load_config
  from components.grid_errors import serving
  from components.trainer.data import split_pattern
  work = Path(tempfile.mkdtemp(prefix=f"bench-memorize-{name}-"))
  try:
    took, _, _ = timed([sys.executable, "-m", "pipelines.cli", "demo-memorize", "--config",
                        str(CONFIGS[name]), "--run-dir", str(work / "run")],
                       f"demo-memorize {name}")
    comparison = json.loads((work / "run" / "comparison.json").read_text())
    config = load_config(CONFIGS[name], {"run_dir": str(work / "run" / "memorize")})
    root = config.pipeline_root
    record = json.loads(Path(_latest(f"{root}/Trainer/model/*/Format-Serving/"
                                     "training_record.json")).read_text())
    within = next((h for h in record["history"]
                   if h["eval"]["max_abs_error"] <= config.evaluator.upper_bound), None)
    examples = str(Path(_latest(f"{root}/Ingest/examples/*/grid.json")).parent)
    grid = json.loads(Path(examples, "grid.json").read_text())
    served = _latest(f"{root}/CheckpointEvaluator/model/*/Format-Serving")
    inputs, _, serialized = serving.read_points(split_pattern(examples, "eval"),
                                                list(config.features.numeric), config.task.label)
    serve = serving.load(served)
    serving.predict(serve, serialized[:100])  # the first call traces
    model_seconds = min(_timed(lambda: serving.predict(serve, serialized)) for _ in range(3))
    simulator = simulators.get(grid["simulator"], grid["output"])
    sample = random.Random(0).sample(range(len(serialized)), 300)
    points = {k: np.asarray(v)[sample] for k, v in inputs.items()}
    sample_seconds = _timed(lambda: simulator.solve_points(points))
    mem, usual = comparison["rows"].values()
    return {"name": name, "points": grid["points"], "wall_seconds": took,
            "tolerance": config.evaluator.upper_bound,
            "max_abs": mem["max_abs_error"], "max_rel": mem["max_rel_error"],
            "usual_max_abs": usual["max_abs_error"], "usual_max_rel": usual["max_rel_error"],
            "usual_stopped": bool(usual.get("stopped_early")),
            "train_seconds": record["seconds"], "final_step": record["final_step"],
            "tolerance_step": within and within["step"],
            "tolerance_seconds": within and within["seconds"],
            "solver_grid_seconds": grid["solve_seconds"],
            "solver_ms_per_point": grid["ms_per_point"],
            "solver_sample_ms_per_point": 1e3 * sample_seconds / len(sample),
            "model_grid_seconds": model_seconds}
  finally:
    shutil.rmtree(work, ignore_errors=True)


def _timed(fn) -> float:
  began = time.perf_counter()
  fn()
  return time.perf_counter() - began


def _body(results: list[dict]) -> str:
  rows = ["| | " + " | ".join(r["name"] for r in results) + " |",
          "|---|" + "---|" * len(results)]

  def row(label, fn):
    rows.append(f"| {label} | " + " | ".join(fn(r) for r in results) + " |")

  row("grid points", lambda r: f"{r['points']:,}")
  row("tolerance (0.1% of the output range)", lambda r: f"{r['tolerance']:g}")
  row("**memorized: worst error over the whole grid**",
      lambda r: f"**{r['max_abs']:.4g} ({100 * r['max_rel']:.3f}% of range)**")
  row("usual way (80/20, L2, early stopping): worst error",
      lambda r: f"{r['usual_max_abs']:.4g} ({100 * r['usual_max_rel']:.3f}%)"
      + (", stopped early" if r["usual_stopped"] else ""))
  row("usual way's worst error / memorized", lambda r: f"{r['usual_max_abs'] / r['max_abs']:.1f}x")
  row("training (Adam steps + L-BFGS polish)", lambda r: f"{r['train_seconds']:.0f} s, "
      f"{r['final_step']} steps")
  row("time to the tolerance", lambda r: "not reached" if r["tolerance_step"] is None else
      f"{r['tolerance_seconds']:.0f} s (checkpoint at step {r['tolerance_step']})")
  row("solver, whole grid (Ingest, one core)", lambda r: f"{r['solver_grid_seconds']:.1f} s "
      f"({r['solver_ms_per_point']:.2f} ms/point; {r['solver_sample_ms_per_point']:.2f} "
      f"ms/point on 300 points here)")
  row("served model, whole grid (batched)", lambda r: f"{1e3 * r['model_grid_seconds']:.0f} ms")
  row("**speed-up of the model over the solver**",
      lambda r: f"**{r['solver_grid_seconds'] / r['model_grid_seconds']:.0f}x**")
  row("both runs, wall clock", lambda r: f"{r['wall_seconds'] / 60:.1f} min")
  return ("\n".join(rows) + "\n\nThe memorized model is the pushed one (blessed on "
          "max_abs_error <= tolerance). The model's time includes parsing serialized "
          "tf.Examples and the tf.Transform graph, as a caller of the served model pays.\n")


def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--only", choices=sorted(CONFIGS))
  args = p.parse_args(argv)
  results = [measure(n) for n in ([args.only] if args.only else ["projectile", "heated_rod"])]
  figures = {}
  for r in results:
    figures[f"{r['name']}_rel"] = f"{100 * r['max_rel']:.3f}%"
    figures[f"{r['name']}_speedup"] = f"{r['solver_grid_seconds'] / r['model_grid_seconds']:.0f}x"
    figures[f"{r['name']}_usual_ratio"] = f"{r['usual_max_abs'] / r['max_abs']:.1f}x"
  report.write_section(
      "memorize", "Useful overfitting: worst error over the grid, and speed-up",
      "python -m bench.memorize" + (f" --only {args.only}" if args.only else ""),
      _body(results), figures)
  print(_body(results))


if __name__ == "__main__":
  main()
