"""Retraining: a warm start from production against a cold start on the same new
window, in steps and seconds to reach production's eval AUC.

  python -m bench.retraining [--repeats 3]

The embedded taxi data cut into monthly spans (as `tpctl demo-retrain` does):
- production: a cold run of the default model (tuner off) on 2013-01..2013-12,
  600 steps and 6 checkpoints; its checkpoint is the one the checkpoint evaluator
  selects (best eval loss), exported with its own transform graph;
- the new window 2013-07..2014-06, with its own tf.Transform output (other
  vocabularies: the warm start remaps embedding rows by category);
- the target: production's AUC on the new window's eval split, scored on raw
  examples through its `serving_default` signature (the Evaluator's baseline);
- cold: the new window from scratch; warm: from production's checkpoint with the
  budget `with_warm_start_budget` gives (retrain.warm_start_steps more steps, the
  default learning rate). Both evaluate every 20 steps, up to 1000 steps (extra
  steps, for the warm start); the first eval with AUC >= target counts.
Each run in a fresh process, cold and warm interleaved; repeat i trains with
seed 42 + i (data order, and the cold start's initial weights), medians.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import report
from bench.common import REPO

OLD_WINDOW = ("2013-01", "2013-12")
NEW_WINDOW = ("2013-07", "2014-06")


def _job(*args: str) -> dict:
  proc = subprocess.run(
      [sys.executable, "-m", "bench._retraining_job", *args], cwd=REPO, capture_output=True,
      text=True, env={**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"})
  if proc.returncode != 0:
    sys.exit(f"{args[0]} failed:\n{proc.stderr[-3000:]}")
  return json.loads(proc.stdout.strip().splitlines()[-1])


def _merge(monthly: Path, months: list[str], window: tuple[str, str], out: Path
           ) -> tuple[int, str]:
  """One CSV of the window's months, oldest first: (rows, the month where its last
  fifth, the eval split of standalone_inputs, begins)."""
  chosen = [m for m in months if window[0] <= m <= window[1]]
  month_of = []
  with open(out, "w") as f:
    for i, month in enumerate(chosen):
      lines = (monthly / month / "data.csv").read_text().splitlines(keepends=True)
      f.writelines(lines if i == 0 else lines[1:])
      month_of += [month] * (len(lines) - 1)
  return len(month_of), month_of[len(month_of) * 4 // 5]


def _with(config, **trainer):
  return config.model_copy(update={"trainer": config.trainer.model_copy(update=trainer)})


def _reached(curve: list[dict], target: float) -> dict | None:
  return next((c for c in curve if c["auc"] >= target), None)


def _median(values: list[float]) -> float:
  return statistics.median(values)  # math.inf (never reached) sorts last


def _shown(value: float, fmt: str, cap: str) -> str:
  return f">{cap}" if math.isinf(value) else format(value, fmt)


def _ratio(cold: float, warm: float, cold_bound: float, warm_bound: float) -> str:
  """cold / warm; a bound when one never reached the target within the cap."""
  if math.isinf(cold) and math.isinf(warm):
    return "n/a (neither reached it)"
  if math.isinf(cold):
    return f">{cold_bound / warm:.1f}"
  if math.isinf(warm):
    return f"<{cold / warm_bound:.2f}"
  return f"{cold / warm:.1f}"


def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--production-steps", type=int, default=600)
  p.add_argument("--cap", type=int, default=1000, help="most (extra) steps of a run")
  p.add_argument("--interval", type=int, default=20, help="steps between evals")
  args = p.parse_args(argv)
  from components.config import load_config
  from components.trainer import standalone_inputs
  from components.trainer.warm_start import with_warm_start_budget
  from pipelines.demo_retrain import monthly_spans

  began = time.monotonic()
  work = Path(tempfile.mkdtemp(prefix="bench-retrain-"))
  try:
    months = monthly_spans(work / "monthly")
    rows, eval_from = {}, {}
    for name, window in (("old", OLD_WINDOW), ("new", NEW_WINDOW)):
      rows[name], eval_from[name] = _merge(work / "monthly", months, window,
                                           work / f"{name}.csv")
    settings = {"tuner.enabled": False, "trainer.train_steps": args.production_steps,
                "trainer.num_checkpoints": 6}
    config = load_config(overrides=settings)
    old_tf, old_ex = standalone_inputs.build(config, work / "old.csv", work / "old")
    new_tf, new_ex = standalone_inputs.build(config, work / "new.csv", work / "new")
    prod = _job("production", config.to_json(), old_tf, old_ex, new_tf, new_ex,
                str(work / "production"))
    target = prod["target_auc"]
    print(f"production: step {prod['step']} of {args.production_steps}, own-window eval "
          f"AUC {prod['own_window']['auc']:.4f}; target (its AUC on the new window) "
          f"{target:.4f}; warm start before any step {prod['warm_step0']['auc']:.4f}", flush=True)

    new = load_config(overrides={
        **settings, "trainer.train_steps": args.cap,
        "trainer.num_checkpoints": args.cap // args.interval,
        "retrain.warm_start_steps": args.cap})
    warm_config = with_warm_start_budget(new, prod["step"])
    runs: dict[str, list[dict]] = {"cold": [], "warm": []}
    for i in range(args.repeats):
      seed = new.trainer.seed + i
      for kind in ("cold", "warm"):
        cfg = _with(warm_config if kind == "warm" else new, seed=seed)
        out = work / f"{kind}-{i}"
        result = _job("train", cfg.to_json(), new_tf, new_ex, str(out),
                      *([prod["checkpoint"]] if kind == "warm" else []))
        shutil.rmtree(out, ignore_errors=True)
        hit = _reached(result["curve"], target)
        result.update(seed=seed, hit=hit, best=max(result["curve"], key=lambda c: c["auc"]))
        runs[kind].append(result)
        print(f"[{i + 1}/{args.repeats}] {kind} (seed {seed}): "
              + (f"target at +{hit['extra_steps']} steps, {hit['seconds']:.1f} s"
                 if hit else f"target not reached in {args.cap} steps")
              + f"; best AUC {result['best']['auc']:.4f} at +{result['best']['extra_steps']}",
              flush=True)
  finally:
    shutil.rmtree(work, ignore_errors=True)
  took = time.monotonic() - began

  med = {}
  for kind, results in runs.items():
    med[kind] = {
        "steps": _median([r["hit"]["extra_steps"] if r["hit"] else math.inf for r in results]),
        "seconds": _median([r["hit"]["seconds"] if r["hit"] else math.inf for r in results]),
        "best": _median([r["best"]["auc"] for r in results]),
        "cap_seconds": _median([r["curve"][-1]["seconds"] for r in results]),
        "setup": _median([r["setup_seconds"] for r in results]),
        "first_eval": _median([r["curve"][0]["seconds"] for r in results]),
        "interval": _median([b["seconds"] - a["seconds"] for r in results
                             for a, b in zip(r["curve"], r["curve"][1:])]),
        "reached": sum(1 for r in results if r["hit"])}
  c, w = med["cold"], med["warm"]
  steps_ratio = _ratio(c["steps"], w["steps"], args.cap, args.cap)
  seconds_ratio = _ratio(c["seconds"], w["seconds"], c["cap_seconds"], w["cap_seconds"])
  per_run = "\n".join(
      f"| {i + 1} (seed {runs['cold'][i]['seed']}) | "
      + " | ".join((f"+{r['hit']['extra_steps']}, {r['hit']['seconds']:.1f} s" if r["hit"]
                    else f">{args.cap}") + f" | {r['best']['auc']:.4f}"
                   for r in (runs["cold"][i], runs["warm"][i])) + " |"
      for i in range(args.repeats))
  production_rows = "\n".join(
      f"| {ck['step']} | {ck['loss']:.4f} | {ck['auc']:.4f} |"
      + (" selected |" if ck["step"] == prod["step"] else " |") for ck in prod["checkpoints"])
  step0 = prod["warm_step0"]["auc"]
  at_once = (f" It is already at or above the target ({step0:.4f} >= {target:.4f}): the warm "
             f"start needs no training to match production, and its steps and seconds above "
             f"are those of its first eval, whose interval carries the one-time cost of "
             f"tracing (the first eval against later intervals, above)."
             if step0 >= target else "")
  # "vocabularies changed since PATH: N embedding table(s) ...": the path is a temporary one.
  remap = "; ".join(n.split(": ", 1)[-1] for n in prod["remap"]) or "no vocabulary changed"
  body = f"""\
Production: the default model (tuner off) trained cold on {OLD_WINDOW[0]}..{OLD_WINDOW[1]} \
({rows['old']:,} rows), {args.production_steps} steps, 6 checkpoints; the checkpoint \
evaluator's choice (best eval {prod['selected_on']}) is step {prod['step']}, eval AUC \
{prod['own_window']['auc']:.4f} on its own window (below). New window: \
{NEW_WINDOW[0]}..{NEW_WINDOW[1]} ({rows['new']:,} rows, its own transform graph). \
**Target: {target:.4f}**, production's AUC on the new window's {prod['eval_rows']:,} eval \
rows, scored through its exported `serving_default` with its own transform graph.

Cold: {args.cap} steps from scratch. Warm: production's checkpoint, then \
`with_warm_start_budget` ({args.cap} more steps, the default learning rate \
{new.trainer.hyperparameters.learning_rate:g}). Both evaluate every {args.interval} steps \
(the first step at or above the target is known to within {args.interval} steps). \
Medians of {args.repeats}, each run in a fresh process, cold and warm interleaved; repeat \
i uses seed 42 + i.

| | cold | warm | cold / warm |
|---|---|---|---|
| steps to target (warm: past production's step) | {_shown(c['steps'], '.0f', str(args.cap))} | \
{_shown(w['steps'], '.0f', str(args.cap))} | **{steps_ratio}** |
| seconds to target | {_shown(c['seconds'], '.1f', str(args.cap) + ' steps')} | \
{_shown(w['seconds'], '.1f', str(args.cap) + ' steps')} | **{seconds_ratio}** |
| runs that reached the target | {c['reached']}/{args.repeats} | {w['reached']}/{args.repeats} | |
| best eval AUC within {args.cap} steps | {c['best']:.4f} | {w['best']:.4f} | |
| seconds to the first eval (step {args.interval}: tracing, steps, eval, checkpoint) | \
{c['first_eval']:.1f} | {w['first_eval']:.1f} | |
| seconds per later interval of {args.interval} steps (with eval and checkpoint) | \
{c['interval']:.2f} | {w['interval']:.2f} | |
| setup before the first step (s, not counted above) | {c['setup']:.1f} | {w['setup']:.1f} | |

| repeat | cold: target at | cold: best AUC | warm: target at | warm: best AUC |
|---|---|---|---|---|
{per_run}

Seconds count from the loop's "training from step" line, just before the first \
step, to the progress line that follows the first eval at or above the target: \
training, and every eval and checkpoint on the way. Process start, imports, the \
model build, the warm start's restore and remap ({remap}) and loading the eval rows \
are the setup row. The warm start's eval AUC before its first step (production's \
weights read through the new window's transform graph) is \
{prod['warm_step0']['auc']:.4f}: a run that reaches the target at its first eval may \
have needed fewer than {args.interval} steps.{at_once} The eval split is the last \
fifth of each window's rows in time order (from within {eval_from['new']} on, for the \
new window), not the pipeline's hash split. \
The whole benchmark took {took / 60:.1f} minutes.

Production's checkpoints, scored on its own window's eval split by the checkpoint evaluator:

| step | eval loss | eval AUC | |
|---|---|---|---|
{production_rows}"""
  figures = {"steps_ratio": steps_ratio, "seconds_ratio": seconds_ratio,
             "target_auc": f"{target:.4f}"}
  report.write_section(
      "retraining", "Retraining: warm start from production against a cold start",
      "python -m bench.retraining", body, figures=figures)
  print(body)


if __name__ == "__main__":
  main()
