"""How long `make test` takes here, and how many tests it runs: the figure the README
quotes, measured rather than typed. (Not a timed test: the suite itself asserts
nothing about speed.)

  python -m bench.test_suite
"""
from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

from bench import report

REPO = Path(__file__).resolve().parent.parent
_SUMMARY = re.compile(r"^=*\s*(\d+) passed\b.* in ([\d.]+)s", re.M)
_DURATION = re.compile(r"^([\d.]+)s (call|setup)\s+(\S+)$", re.M)


def main(argv=None) -> None:
  began = time.monotonic()
  proc = subprocess.run(["make", "-s", "test", "PYTEST_ARGS=--durations=8"], cwd=REPO,
                        capture_output=True, text=True)
  wall = time.monotonic() - began
  out = proc.stdout + proc.stderr
  summary = _SUMMARY.search(out)
  if proc.returncode != 0 or not summary:
    sys.exit(f"make test failed (exit {proc.returncode}):\n{out[-3000:]}")
  passed = int(summary.group(1))
  slowest = "\n".join(f"| `{name}` ({phase}) | {float(s):.0f} |"
                      for s, phase, name in _DURATION.findall(out)[:8])
  minutes = f"{wall / 60:.0f}"
  body = (f"`make test` ran **{passed} tests in {wall / 60:.1f} minutes** (wall time, set-up "
          "already done), on 2 cores; CI's limit is 90 minutes, the project's 30.\n\n"
          "Slowest (pytest `--durations`; `setup` is a shared fixture such as the "
          "end-to-end run):\n\n| test | s |\n|---|---|\n" + slowest)
  report.write_section("test_suite", "The test suite", "python -m bench.test_suite", body,
                       figures={"tests": str(passed), "minutes": minutes})
  print(body)


if __name__ == "__main__":
  main()
