"""How fast bad input comes back: `tpctl` errors against the cost of importing
TensorFlow, which every error used to pay first.

Each variant is a fresh process, interleaved round by round so that machine noise
hits all alike. Reports median wall times and the ratio to `import tensorflow`.

  python -m bench.fast_failures [--rounds 5]
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
from components.csv_ingest import embedded_data

REPO = Path(__file__).resolve().parent.parent
GOAL_SECONDS = 2.0


def _variants(work: Path) -> dict[str, tuple[list[str], int]]:
  """name -> (command, expected exit code)."""
  data = Path(embedded_data.materialize(work / "data"))  # 15,002 rows
  bad = work / "bad-data"
  bad.mkdir()
  lines = (data / "data.csv").read_text().splitlines()
  fare = lines[0].split(",").index("fare")
  cells = lines[-1].split(",")
  cells[fare] = "twelve"  # on the last line: the whole file is parsed first
  lines[-1] = ",".join(cells)
  (bad / "data.csv").write_text("\n".join(lines) + "\n")
  (work / "typo.yaml").write_text("trainer:\n  trian_steps: 10\n")
  (work / "bad-data.yaml").write_text(f"data:\n  dir: {bad}\n")
  (work / "good.yaml").write_text(f"data:\n  dir: {data}\n")
  tpctl = [sys.executable, "-m", "pipelines.cli"]
  return {
      "config error (unknown key)": (tpctl + ["run", "--config", str(work / "typo.yaml")], 2),
      "data error on the last of 15,002 rows": (
          tpctl + ["run", "--config", str(work / "bad-data.yaml")], 2),
      "`tpctl check`, 15,002 rows": (tpctl + ["check", "--config", str(work / "good.yaml")], 0),
      "`python -c 'import tensorflow'`": ([sys.executable, "-c", "import tensorflow"], 0),
      "`python -c 'pass'` (interpreter start)": ([sys.executable, "-c", "pass"], 0),
  }


def _time(cmd: list[str], expected: int, cwd: Path) -> float:
  began = time.monotonic()
  proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                        env={**os.environ, "PYTHONPATH": str(REPO)})
  took = time.monotonic() - began
  if proc.returncode != expected:
    sys.exit(f"{cmd}: exit {proc.returncode}, expected {expected}\n{proc.stderr[-2000:]}")
  return took


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--rounds", type=int, default=5)
  args = parser.parse_args(argv)
  work = Path(tempfile.mkdtemp(prefix="bench-failures-"))
  try:
    variants = _variants(work)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(args.rounds):
      for name, (cmd, expected) in variants.items():
        times[name].append(_time(cmd, expected, work))
      print(f"round {r + 1}/{args.rounds}: " + ", ".join(
          f"{name.split(' (')[0]} {t[-1]:.2f}s" for name, t in times.items()), flush=True)
  finally:
    shutil.rmtree(work, ignore_errors=True)
  medians = {name: statistics.median(t) for name, t in times.items()}
  tf_import = medians["`python -c 'import tensorflow'`"]
  config_error = medians["config error (unknown key)"]
  rows = "\n".join(f"| {name} | {m:.2f} | {min(times[name]):.2f} | {max(times[name]):.2f} | "
                   f"{m / tf_import:.2f} |" for name, m in medians.items())
  body = (f"A config error comes back in **{config_error:.2f} s** (median of {args.rounds}; "
          f"goal < {GOAL_SECONDS:.0f} s), {config_error / tf_import:.2f}x the time of "
          "importing TensorFlow, which every error paid first before the pre-flight ran "
          "ahead of the heavy imports.\n\n"
          "| command | median (s) | min | max | ratio to `import tensorflow` |\n"
          "|---|---|---|---|---|\n" + rows + "\n\n"
          "Every `tpctl` row exits as a user would see it (2 for bad input, 0 for `check`). "
          "The data error sits on the last line, so the pre-flight parses every row of the "
          "embedded taxi CSV and computes its splits first.")
  report.write_section("fast_failures", "Bad input: time to the error",
                       "python -m bench.fast_failures", body, figures={
                           "config_error": f"{config_error:.2f} s",
                           "check_15k_rows": f"{medians['`tpctl check`, 15,002 rows']:.2f} s",
                           "import_tensorflow": f"{tf_import:.1f} s"})
  print(body)


if __name__ == "__main__":
  main()
