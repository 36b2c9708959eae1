"""Does the automatic Beam runner choice make large data slower? The pipeline on a
synthetic taxi-like CSV 10x the embedded one, with `beam.mode: auto` against
`multi_processing`, side by side in one run (interleaved rounds, medians).

The CSV is generated here (not committed): the embedded rows repeated ten times,
numbers jittered and timestamps shifted so that every row is distinct and the
split key spreads over both splits. Training is short (200 steps, tuner off):
the Beam steps are what differs.

  python -m bench.beam_by_size [--rounds 3] [--scale 10]
"""
from __future__ import annotations

import argparse
import csv
import random
import re
import shutil
import statistics
import tempfile
from pathlib import Path

from bench import report
from bench.common import CONFIG, STEP_DONE, ours_command, timed
from components.csv_ingest import embedded_data

_BEAM_STEPS = ("Ingest", "StatisticsGen", "Transform", "Evaluator")
_MODE_LINE = re.compile(r"^beam: .*$", re.M)


def synthetic_csv(out: Path, scale: int) -> int:
  """Writes `scale` jittered copies of the embedded rows; returns the bytes."""
  src = Path(embedded_data.materialize(str(out.parent / "embedded"))) / "data.csv"
  rng = random.Random(0)
  out.mkdir(parents=True, exist_ok=True)
  with open(src, newline="") as f_in, open(out / "data.csv", "w", newline="") as f_out:
    rows = list(csv.DictReader(f_in))
    writer = csv.DictWriter(f_out, fieldnames=list(rows[0]))
    writer.writeheader()
    for copy in range(scale):
      for row in rows:
        row = dict(row)
        for name in ("trip_miles", "fare", "trip_seconds"):
          if row[name]:
            row[name] = f"{float(row[name]) * rng.uniform(0.9, 1.1):.4f}"
        if row["trip_start_timestamp"]:
          row["trip_start_timestamp"] = str(int(row["trip_start_timestamp"]) + copy * 7919)
        writer.writerow(row)
  return (out / "data.csv").stat().st_size


def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--rounds", type=int, default=3)
  p.add_argument("--scale", type=int, default=10)
  args = p.parse_args(argv)
  work = Path(tempfile.mkdtemp(prefix="bench-size-"))
  try:
    size = synthetic_csv(work / "data", args.scale)
    config = work / "config.yaml"
    config.write_text(CONFIG.read_text().replace("train_steps: 1000", "train_steps: 200")
                      + f"data:\n  dir: {work / 'data'}\nbeam:\n  mode: auto\n")
    mp_config = work / "mp.yaml"
    mp_config.write_text(config.read_text().replace("mode: auto", "mode: multi_processing"))
    times: dict[str, list[float]] = {"auto": [], "multi_processing": []}
    steps: dict[str, list[dict]] = {"auto": [], "multi_processing": []}
    chosen = {}
    for r in range(args.rounds):
      for name, cfg in (("auto", config), ("multi_processing", mp_config)):
        run_dir = work / f"run-{name}-{r}"
        took, _, out = timed(ours_command(run_dir, cfg, "--no-cache"), name)
        times[name].append(took)
        steps[name].append({m.group(1): float(m.group(2)) for m in STEP_DONE.finditer(out)})
        chosen[name] = _MODE_LINE.search(out).group(0)
        shutil.rmtree(run_dir, ignore_errors=True)
        print(f"round {r + 1}/{args.rounds}  {name}: {took:.1f}s", flush=True)
  finally:
    shutil.rmtree(work, ignore_errors=True)

  med = {k: statistics.median(v) for k, v in times.items()}
  ratio = med["auto"] / med["multi_processing"]
  table = ["| beam.mode | what it chose | median wall (s) | min-max | "
           + " | ".join(f"{s} (s)" for s in _BEAM_STEPS) + " |",
           "|---|---|---|---|" + "---|" * len(_BEAM_STEPS)]
  for name in times:
    per_step = [statistics.median(s.get(step, 0.0) for s in steps[name]) for step in _BEAM_STEPS]
    table.append(f"| {name} | `{chosen[name]}` | {med[name]:.1f} | {min(times[name]):.1f}-"
                 f"{max(times[name]):.1f} | " + " | ".join(f"{v:.1f}" for v in per_step) + " |")
  body = (f"A synthetic taxi-like CSV of {size / 1e6:.1f} MB ({args.scale}x the embedded "
          f"data), tuner off, 200 training steps, `--no-cache`; medians of {args.rounds} "
          f"interleaved rounds.\n\n**auto / multi_processing: {ratio:.2f}** (goal: not "
          f"above 1, i.e. the automatic choice does not make large data slower).\n\n"
          + "\n".join(table))
  report.write_section("beam_by_size", "Beam runner choice on 10x data",
                       f"python -m bench.beam_by_size --scale {args.scale}", body,
                       figures={"auto_vs_multi_processing": f"{ratio:.2f}"})
  print(body)


if __name__ == "__main__":
  main()
