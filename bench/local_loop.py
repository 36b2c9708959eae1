"""The local loop, side by side in one run: `tpctl run` on the embedded data
against TFX's own taxi example (in process like ours, and as shipped), against a
plain Keras script doing the same job (the floor), and a rerun with only
`trainer.train_steps` changed against the full run.

Every variant is a fresh process; rounds are interleaved so that machine noise
hits all alike. Reports medians, ratios of medians, where our time goes per
step, and how soon the first progress line appears.

  python -m bench.local_loop [--rounds 3]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from bench import report
from bench.common import CONFIG, REPO, STEP_DONE, ours_command, timed

_CORES = os.cpu_count() or 1


def one_round(work: Path) -> dict[str, float | dict]:
  out: dict = {}
  run_dir = work / "ours"
  out["ours"], out["first_line"], stdout = timed(ours_command(run_dir), "ours")
  assert "pushed: " in stdout, stdout[-2000:]
  out["steps"] = {m.group(1): float(m.group(2)) for m in STEP_DONE.finditer(stdout)}
  out["unchanged rerun"], _, stdout = timed(ours_command(run_dir), "unchanged rerun")
  assert "nothing new to push" in stdout, stdout[-2000:]
  changed = work / "train_steps_800.yaml"
  changed.write_text(CONFIG.read_text().replace("train_steps: 1000", "train_steps: 800"))
  out["train_steps rerun"], _, stdout = timed(ours_command(run_dir, changed), "train_steps rerun")
  assert "Transform cached" in stdout and "Trainer done in" in stdout, stdout[-2000:]
  for name, arg in (("taxi in process", "in_process"), ("taxi as shipped", "")):
    cmd = [sys.executable, str(REPO / "bench" / "_taxi_example.py"), str(work / name)]
    out[name], _, _ = timed(cmd + ([arg] if arg else []), name)
  out["floor"], _, stdout = timed(
      [sys.executable, "-m", "bench.keras_floor", str(work / "floor")], "floor")
  return out


def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--rounds", type=int, default=3)
  args = p.parse_args(argv)
  rounds = []
  for r in range(args.rounds):
    work = Path(tempfile.mkdtemp(prefix="bench-loop-"))
    try:
      rounds.append(one_round(work))
    finally:
      shutil.rmtree(work, ignore_errors=True)
    print(f"round {r + 1}/{args.rounds}: " + "  ".join(
        f"{k} {v:.1f}s" for k, v in rounds[-1].items() if isinstance(v, float)), flush=True)

  med = {k: statistics.median(r[k] for r in rounds)
         for k, v in rounds[0].items() if isinstance(v, float)}
  span = {k: (min(r[k] for r in rounds), max(r[k] for r in rounds)) for k in med}
  steps = {s: statistics.median(r["steps"].get(s, 0.0) for r in rounds)
           for s in rounds[0]["steps"]}
  ratios = {
      "vs_taxi_in_process": med["ours"] / med["taxi in process"],
      "vs_taxi_shipped": med["ours"] / med["taxi as shipped"],
      "vs_floor": med["ours"] / med["floor"],
      "train_steps_rerun": med["train_steps rerun"] / med["ours"],
      "unchanged_rerun": med["unchanged rerun"] / med["ours"],
  }
  rows = [
      ("`tpctl run` (tuner off, taxi-like)", "ours"),
      ("rerun, nothing changed (every step cached)", "unchanged rerun"),
      ("rerun, `trainer.train_steps` 1000 → 800", "train_steps rerun"),
      ("TFX taxi example, Beam in process", "taxi in process"),
      (f"TFX taxi example as shipped ({_CORES} Beam workers)", "taxi as shipped"),
      ("plain Keras script, same job (`bench/keras_floor.py`)", "floor"),
  ]
  table = ["| variant | median wall (s) | min-max |", "|---|---|---|"]
  table += [f"| {label} | {med[k]:.1f} | {span[k][0]:.1f}-{span[k][1]:.1f} |"
            for label, k in rows]
  accounted = sum(steps.values())
  step_table = ["| step | median s |", "|---|---|"]
  step_table += [f"| {s} | {v:.1f} |" for s, v in steps.items()]
  step_table.append(f"| outside the steps (imports, pre-flight, MLMD, summary) | "
                    f"{med['ours'] - accounted:.1f} |")
  body = (
      f"Medians of {args.rounds} interleaved rounds. Ours runs its Beam steps in process "
      f"(the automatic choice for this 1.9 MB input) with TFX's cache on; every step and "
      f"artifact is kept (statistics, schema, transform graph, 10 checkpoints scored, TFMA "
      f"blessing, MLMD lineage).\n\n"
      f"| ratio | value | goal |\n|---|---|---|\n"
      f"| ours / TFX taxi example, both in process (like for like) | "
      f"**{ratios['vs_taxi_in_process']:.2f}** | <= 0.4 |\n"
      f"| ours / TFX taxi example as shipped | {ratios['vs_taxi_shipped']:.2f} | |\n"
      f"| ours / plain Keras floor | {ratios['vs_floor']:.2f} | |\n"
      f"| rerun with only train_steps changed / full run | "
      f"**{ratios['train_steps_rerun']:.2f}** | <= 0.3 |\n"
      f"| unchanged rerun / full run | {ratios['unchanged_rerun']:.2f} | |\n\n"
      + "\n".join(table) + "\n\n"
      f"First progress line after {med['first_line']:.2f}s (median; goal < 2 s).\n\n"
      "Where a full run's time goes (median per step, from its progress lines):\n\n"
      + "\n".join(step_table))
  report.write_section(
      "local_loop", "The local loop: full run, reruns, TFX's taxi example and the floor",
      "python -m bench.local_loop", body,
      figures={k: f"{v:.2f}" for k, v in ratios.items()}
      | {"first_line_s": f"{med['first_line']:.2f}"})
  print(body)


if __name__ == "__main__":
  main()
